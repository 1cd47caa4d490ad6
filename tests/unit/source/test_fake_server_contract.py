"""The stand-in against the real API's contract: types, quirks, determinism, parameters."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from userstream.source.standin._nations import NULL_ID_NATS, STRING_POSTCODE_NATS
from userstream.source.standin.data import ALL_NATS, FIELDS
from userstream.source.standin.server import FakeApiServer

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
OFFSET = re.compile(r"^([+-]\d{1,2}|0):\d\d$")


def get(api: FakeApiServer, **params: Any) -> httpx.Response:
    return httpx.get(api.url, params=params, timeout=30)


def users(api: FakeApiServer, **params: Any) -> list[dict[str, Any]]:
    response = get(api, **params)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def shape(value: Any, path: str = "") -> dict[str, type]:
    """Every leaf's JSON type by dotted path."""
    if isinstance(value, dict):
        out: dict[str, type] = {}
        for key, child in value.items():
            out.update(shape(child, f"{path}.{key}" if path else key))
        return out
    return {path: type(value)}


def expected_shape(sample: dict[str, Any], nat: str) -> dict[str, type]:
    want = shape(sample["results"][0])
    if nat in STRING_POSTCODE_NATS:
        want["location.postcode"] = str
    if nat in NULL_ID_NATS:
        want["id.value"] = type(None)
    return want


def test_sample_is_consistent(sample):
    for user in sample["results"]:
        login = user["login"]
        salted = (login["password"] + login["salt"]).encode()
        assert login["md5"] == hashlib.md5(salted).hexdigest()
        assert login["sha1"] == hashlib.sha1(salted).hexdigest()
        assert login["sha256"] == hashlib.sha256(salted).hexdigest()
    assert shape(sample["results"][0]) == shape(sample["results"][1])


@pytest.mark.parametrize("nat", ALL_NATS)
def test_every_field_has_the_real_type_for_every_nation(api, sample, nat):
    want = expected_shape(sample, nat)
    got_users = users(api, results=40, seed=f"contract-{nat}", nat=nat)
    assert len(got_users) == 40
    for user in got_users:
        assert list(user) == list(sample["results"][0]), "field order differs from the real API"
        assert shape(user) == want
        assert user["nat"] == nat


@pytest.mark.parametrize("nat", ALL_NATS)
def test_values_look_like_the_real_ones(api, nat):
    today = datetime.now(tz=UTC).date()
    for user in users(api, results=40, seed=f"values-{nat}", nat=nat):
        login = user["login"]
        salted = (login["password"] + login["salt"]).encode()
        assert login["md5"] == hashlib.md5(salted).hexdigest()
        assert login["sha1"] == hashlib.sha1(salted).hexdigest()
        assert login["sha256"] == hashlib.sha256(salted).hexdigest()
        assert len(login["salt"]) == 8
        assert UUID4.match(login["uuid"])
        for key in ("dob", "registered"):
            assert ISO_MS.match(user[key]["date"])
            born = datetime.fromisoformat(user[key]["date"].replace("Z", "+00:00")).date()
            age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
            assert user[key]["age"] == age
        assert user["dob"]["age"] >= 21
        assert -90 <= float(user["location"]["coordinates"]["latitude"]) <= 90
        assert -180 <= float(user["location"]["coordinates"]["longitude"]) <= 180
        assert OFFSET.match(user["location"]["timezone"]["offset"])
        assert user["email"].isascii() and user["email"].endswith("@example.com")
        folder = "men" if user["gender"] == "male" else "women"
        assert re.match(
            rf"^https://randomuser\.me/api/portraits/{folder}/\d+\.jpg$", user["picture"]["large"]
        )
        assert user["picture"]["thumbnail"].startswith("https://randomuser.me/api/portraits/thumb/")
        if nat in NULL_ID_NATS:
            assert user["id"] == {"name": "", "value": None}
        else:
            assert user["id"]["name"] and user["id"]["value"]


def test_string_postcodes_keep_their_format(api):
    no = [u["location"]["postcode"] for u in users(api, results=300, seed="pc", nat="NO")]
    assert all(re.fullmatch(r"\d{4}", p) for p in no)
    assert any(p.startswith("0") for p in no), "leading zeros are data"
    for user in users(api, results=50, seed="pc", nat="CA"):
        assert re.fullmatch(r"[A-Z]\d[A-Z] \d[A-Z]\d", user["location"]["postcode"])
    for user in users(api, results=50, seed="pc", nat="GB"):
        assert re.fullmatch(r"[A-Z]{1,2}\d{1,2}[A-Z]? \d[A-Z]{2}", user["location"]["postcode"])


def test_non_latin_names_are_transliterated_in_emails(api):
    for nat in ("IR", "UA"):
        for user in users(api, results=20, seed="script", nat=nat):
            assert not user["name"]["first"].isascii()
            assert user["email"].isascii()


def test_same_seed_and_page_give_identical_users(api):
    first = get(api, results=500, seed="replay", page=3).json()
    again = get(api, results=500, seed="replay", page=3).json()
    assert first == again
    assert first["info"] == {"seed": "replay", "results": 500, "page": 3, "version": "1.4"}


def test_fewer_results_are_a_prefix_and_pages_differ(api):
    big = users(api, results=100, seed="prefix", page=1)
    assert users(api, results=10, seed="prefix", page=1) == big[:10]
    assert users(api, results=100, seed="prefix", page=2) != big
    assert users(api, results=100, seed="other", page=1) != big


def test_uuids_unique_across_twenty_pages(api):
    seen: set[str] = set()
    for page in range(1, 21):
        for user in users(api, results=2000, seed="unique", page=page):
            seen.add(user["login"]["uuid"])
    assert len(seen) == 20 * 2000


@pytest.mark.parametrize("results", ["0", "-1", "5001", "abc", "2.5", ""])
def test_results_out_of_range_give_one_user(api, results):
    assert len(users(api, results=results, seed="range")) == 1


def test_results_bounds(api):
    assert len(users(api, results=5000, seed="max")) == 5000
    assert len(users(api, seed="default")) == 1


@pytest.mark.parametrize("page", ["0", "10001", "x", "-3"])
def test_page_out_of_range_is_page_one(api, page):
    body = get(api, results=5, seed="pages", page=page).json()
    assert body["info"]["page"] == 1
    assert body["results"] == users(api, results=5, seed="pages", page=1)


def test_nat_filter_alias_and_invalid_codes(api):
    assert {u["nat"] for u in users(api, results=200, seed="n", nat="gb,no")} == {"GB", "NO"}
    assert {u["nat"] for u in users(api, results=50, seed="n", nationality="ua")} == {"UA"}
    assert {u["nat"] for u in users(api, results=50, seed="n", nat="zz,fr")} == {"FR"}
    assert len({u["nat"] for u in users(api, results=400, seed="n", nat="zz")}) == len(ALL_NATS)


def test_gender_is_honoured_without_a_seed_only(api):
    assert {u["gender"] for u in users(api, results=50, gender="female")} == {"female"}
    assert {u["gender"] for u in users(api, results=50, gender="female", seed="g")} == {
        "male",
        "female",
    }


def test_inc_and_exc(api):
    full = users(api, results=5, seed="fields")
    only = users(api, results=5, seed="fields", inc="name, NAT")
    assert only == [{"name": u["name"], "nat": u["nat"]} for u in full]
    without = users(api, results=5, seed="fields", exc="login,id")
    assert [list(u) for u in without] == [[f for f in FIELDS if f not in ("login", "id")]] * 5
    assert without[0]["name"] == full[0]["name"]
    both = users(api, results=1, seed="fields", inc="name,login,email", exc="login")
    assert list(both[0]) == ["name", "email"]


def test_noinfo_and_seedless_requests(api):
    assert "info" not in get(api, results=2, seed="x", noinfo="").json()
    seed = get(api, results=1).json()["info"]["seed"]
    assert re.fullmatch(r"[0-9a-f]{16}", seed)


def test_formats_and_versions(api):
    pretty = get(api, results=2, seed="fmt", format="pretty")
    assert pretty.status_code == 200 and "\n  " in pretty.text
    assert pretty.json() == get(api, results=2, seed="fmt").json()
    assert get(api, results=2, seed="fmt", format="csv").status_code == 400
    assert get(api, results=2, seed="fmt", format="weird").json()["results"]
    assert httpx.get(api.url.replace("/1.4/", "/"), params={"seed": "v"}).status_code == 200
    assert httpx.get(api.url.replace("/1.4/", "/1.3/")).status_code == 404
    assert httpx.get(api.url.replace("/api/1.4/", "/other")).status_code == 404
