"""Fault injection of the stand-in: 429 budget, 5xx, empty, malformed, dirty users."""

from __future__ import annotations

import httpx
import pytest

from userstream.source.standin.data import DIRTY_KINDS
from userstream.source.standin.faults import Faults
from userstream.source.standin.server import FakeApiServer


def test_user_budget_answers_429_like_the_real_service():
    faults = Faults(user_budget=100, retry_after_s=7)
    with FakeApiServer(faults=faults) as api:
        assert httpx.get(api.url, params={"results": 60}).status_code == 200
        over = httpx.get(api.url, params={"results": 60})
        assert over.status_code == 429
        assert over.headers["Retry-After"] == "7"
        assert over.json()["error"].startswith("Whoa, ease up there cowboy.")
        assert httpx.get(api.url, params={"results": 40}).status_code == 200


def test_error_schedule_is_deterministic():
    with FakeApiServer(faults=Faults(error_first=1, error_every=3)) as api:
        statuses = [httpx.get(api.url).status_code for _ in range(7)]
    assert statuses == [503, 200, 503, 200, 200, 503, 200]


def test_empty_and_malformed_answers():
    with FakeApiServer(faults=Faults(empty_every=2, malformed_first=1)) as api:
        malformed = httpx.get(api.url)
        assert malformed.status_code == 200
        with pytest.raises(ValueError):
            malformed.json()
        assert httpx.get(api.url).json()["results"] == []
        assert len(httpx.get(api.url).json()["results"]) == 1


def test_dirty_users_are_reproducible_and_varied():
    with FakeApiServer(faults=Faults(dirty_share=1.0)) as api:
        params = {"results": 300, "seed": "dirty"}
        body = httpx.get(api.url, params=params).json()
        assert httpx.get(api.url, params=params).json() == body
    seen = set()
    for user in body["results"]:
        if user.get("login", {}).get("uuid", "") is None:
            seen.add("null_uuid")
        elif any(c.isalpha() for c in user.get("phone", "0")) and user["nat"] not in ("CA", "UA"):
            seen.add("phone_letters")
        elif abs(float(user["location"]["coordinates"]["latitude"])) > 90:
            seen.add("coordinates_out_of_range")
        elif isinstance(user.get("dob", {}).get("age"), str):
            seen.add("age_as_string")
        elif "email" not in user or "dob" not in user or "phone" not in user:
            seen.add("missing_field")
    assert seen >= set(DIRTY_KINDS) - {"missing_field"}
    assert len(seen) >= 4


def test_faults_reject_nonsense():
    with pytest.raises(ValueError):
        Faults(dirty_share=1.5)
    with pytest.raises(ValueError):
        Faults(error_status=42)
