"""Message building: key, value, headers and DLQ classification (no Kafka)."""

from __future__ import annotations

import copy
import json
import re

import orjson
import pytest

from userstream import __version__, contract
from userstream.config import KafkaSettings, SourceSettings
from userstream.errors import ConfigError
from userstream.producing import messages
from userstream.producing.messages import DlqReason
from userstream.producing.plan import page_sequence, page_size
from userstream.producing.sink import producer_config

UUID = "9f07341f-c7e6-45b7-bab0-af6de5a4582d"


def _user(**login: object) -> dict:
    return {
        "gender": "female",
        "name": {"title": "Miss", "first": "Laura", "last": "Woods"},
        "location": {"postcode": "HY3X 5PN", "coordinates": {"latitude": "2.0565"}},
        "login": {"uuid": UUID, "username": "angryostrich988", **login},
        "id": {"name": "", "value": None},
        "nat": "IE",
    }


def test_a_valid_user_is_keyed_by_its_uuid_and_kept_as_sent() -> None:
    user = _user()
    sent = copy.deepcopy(user)
    out = messages.build(user)
    assert out.dlq_reason is None
    assert out.key == UUID.encode()
    assert json.loads(out.value) == sent
    # Key order is part of "as sent".
    assert list(orjson.loads(out.value)) == list(sent)
    assert user == sent  # building never mutates the input


@pytest.mark.parametrize(
    ("user", "reason", "key"),
    [
        ([1, 2], DlqReason.NOT_AN_OBJECT, None),
        ("a string", DlqReason.NOT_AN_OBJECT, None),
        (None, DlqReason.NOT_AN_OBJECT, None),
        ({"name": {}}, DlqReason.MISSING_LOGIN, None),
        ({"login": None}, DlqReason.MISSING_LOGIN, None),
        ({"login": "x"}, DlqReason.LOGIN_NOT_AN_OBJECT, None),
        ({"login": {"username": "u"}}, DlqReason.MISSING_UUID, None),
        ({"login": {"uuid": None}}, DlqReason.MISSING_UUID, None),
        ({"login": {"uuid": 42}}, DlqReason.UUID_NOT_A_STRING, None),
        ({"login": {"uuid": "not-a-uuid"}}, DlqReason.INVALID_UUID, b"not-a-uuid"),
        ({"login": {"uuid": ""}}, DlqReason.INVALID_UUID, b""),
        # uuid.UUID() accepts these spellings; the key contract does not.
        (
            {"login": {"uuid": UUID.replace("-", "")}},
            DlqReason.INVALID_UUID,
            UUID.replace("-", "").encode(),
        ),
        (
            {"login": {"uuid": "{" + UUID + "}"}},
            DlqReason.INVALID_UUID,
            b"{" + UUID.encode() + b"}",
        ),
        ({"login": {"uuid": UUID + "\n"}}, DlqReason.INVALID_UUID, UUID.encode() + b"\n"),
    ],
)
def test_invalid_users_go_to_the_dlq_with_a_reason(
    user: object, reason: DlqReason, key: bytes | None
) -> None:
    out = messages.build(user)
    assert out.dlq_reason is reason
    # A string uuid, even a malformed one, stays the key so the record can be traced.
    assert out.key == key
    assert json.loads(out.value) == user


def test_uppercase_uuid_is_valid_and_kept_as_sent() -> None:
    out = messages.build(_user(uuid=UUID.upper()))
    assert out.dlq_reason is None
    assert out.key == UUID.upper().encode()


def test_values_beyond_64_bit_integers_survive() -> None:
    user = _user()
    user["location"]["street"] = {"number": 2**70}
    assert json.loads(messages.build(user).value) == user


CREDENTIALS = {"password": "racers", "salt": "B5ywSDUM", "md5": "2eef", "sha1": "3fa1",
               "sha256": "83e0"}  # fmt: skip


def test_credentials_never_leave_the_producer_and_the_rest_is_sent_as_is() -> None:
    user = _user(**CREDENTIALS)
    user["email"] = "laura.woods@example.com"  # after login: the order is kept around it
    sent = copy.deepcopy(user)
    out = messages.build(user)
    expected = _user()
    expected["email"] = "laura.woods@example.com"
    # Byte for byte what orjson makes of the user without its credentials.
    assert out.value == orjson.dumps(expected)
    assert out.key == UUID.encode() and out.dlq_reason is None
    assert user == sent  # the API's user itself is left alone


def test_credentials_are_dropped_on_the_stdlib_path_too() -> None:
    user = _user(**CREDENTIALS)
    user["location"]["street"] = {"number": 2**70}
    value = messages.build(user).value
    assert json.loads(value) == {**user, "login": {"uuid": UUID, "username": "angryostrich988"}}
    assert b"racers" not in value


@pytest.mark.parametrize(
    "user",
    [
        [_user(**CREDENTIALS)],
        {"login": [{"uuid": UUID, **CREDENTIALS}]},
        {"login": {"uuid": "not-a-uuid", **CREDENTIALS}},
        {"login": {"username": "u", "password": {"nested": "racers"}}},
        {"login": "x", "extra": {"login": CREDENTIALS}},
    ],
)
def test_a_dead_letter_carries_no_credential_whatever_its_shape(user: object) -> None:
    out = messages.build(user)
    assert out.dlq_reason is not None
    for text in (*CREDENTIALS, *CREDENTIALS.values()):
        assert text.encode() not in out.value
    assert isinstance(json.loads(out.value), list | dict)  # removed, not cut: still JSON


def test_page_headers_and_ingest_time() -> None:
    headers = dict(
        messages.page_headers(
            source_url="http://127.0.0.1:1/api/1.4/", api_version="1.4", seed="abc", page=3
        )
    )
    assert headers == {
        "source_url": b"http://127.0.0.1:1/api/1.4/",
        "api_version": b"1.4",
        "seed": b"abc",
        "page": b"3",
        "producer": f"userstream/{__version__}".encode(),
    }
    stamp = messages.IngestClock().now().decode()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
    assert contract.format_ms(1_795_428_000_123) == "2026-11-23T10:00:00.123Z"


def test_page_size_is_fixed_by_batch_size_rate_and_count() -> None:
    source = SourceSettings(results_per_page=5000)
    assert page_size(source, count=None, batch_size=None, rate=None) == 5000
    assert page_size(source, count=120, batch_size=None, rate=None) == 120
    assert page_size(source, count=12000, batch_size=1000, rate=None) == 1000
    assert page_size(source, count=None, batch_size=None, rate=50) == 50
    assert page_size(source, count=None, batch_size=300, rate=50) == 300
    with pytest.raises(ConfigError):
        page_size(source, count=None, batch_size=5001, rate=None)


def test_pages_roll_over_to_a_derived_seed_after_the_last_api_page() -> None:
    pages = page_sequence("s", 9999)
    assert [next(pages) for _ in range(4)] == [(9999, "s"), (10000, "s"), (1, "s-2"), (2, "s-2")]


def test_the_producer_keeps_its_guarantees_whatever_client_config_says() -> None:
    config = producer_config(
        KafkaSettings(client_config={"security.protocol": "SASL_SSL", "acks": "all"})
    )
    assert config["enable.idempotence"] == "true"
    assert config["acks"] == "all"
    assert config["security.protocol"] == "SASL_SSL"
    with pytest.raises(ConfigError, match=r"enable\.idempotence"):
        producer_config(KafkaSettings(client_config={"enable.idempotence": "false"}))
    with pytest.raises(ConfigError, match="acks"):
        producer_config(KafkaSettings(client_config={"acks": "1"}))


def test_replay_args_name_everything_that_picks_the_users() -> None:
    from userstream.producing.run import ProduceSummary

    summary = ProduceSummary(
        fetched=1000, produced=1000, dead_lettered=0, failed=0, pages=20, seconds=1.0,
        users_per_s=1000.0, seed="s1", topic="t", results=50, start_page=3, count=1000,
    )  # fmt: skip
    # Page P is the same users only for the same page size, so the size under --rate counts.
    assert summary.replay_args() == "--seed s1 --batch-size 50 --start-page 3 --count 1000"
    summary.count = None
    assert summary.replay_args() == "--seed s1 --batch-size 50 --start-page 3"
