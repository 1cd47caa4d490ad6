"""``records.judge``: one Kafka record → a clean profile or one reject with its reason."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from tests.poison_catalogue import INGESTED_AT, catalogue
from userstream.streaming.records import (
    MAX_RAW_CHARS,
    Profile,
    Record,
    Reject,
    judge,
    raw_text,
    redact,
)

from .conftest import LAURA, MARTEN, user

UTC = dt.UTC


def record(value, key=..., *, offset=7, headers=None, timestamp_ms=1_700_000_000_000):
    if key is ...:
        key = value["login"]["uuid"].encode() if isinstance(value, dict) else b"k"
    body = orjson.dumps(value) if isinstance(value, dict) else value
    if headers is None:
        headers = (("ingested_at", INGESTED_AT), ("source_url", b"http://api/1.4/"))
    return Record(key, body, "user_topic", 1, offset, timestamp_ms, headers)


def profile(value, **kwargs) -> Profile:
    verdict = judge(record(value, **kwargs))
    assert isinstance(verdict, Profile), verdict
    return verdict


def reason(value, **kwargs) -> str:
    verdict = judge(record(value, **kwargs))
    assert isinstance(verdict, Reject), verdict
    return verdict.reason


def test_a_real_user_becomes_every_column_cleaned_and_typed():
    columns = profile(LAURA).columns
    assert columns == {
        "id": "9f07341f-c7e6-45b7-bab0-af6de5a4582d",
        "gender": "female",
        "title": "Miss",
        "first_name": "Laura",
        "last_name": "Woods",
        "email": "laura.woods@example.com",
        "username": "angryostrich988",
        "dob": dt.datetime(1967, 7, 23, 9, 18, 33, 666000, tzinfo=UTC),
        "age": 59,
        "registered_at": dt.datetime(2018, 10, 18, 4, 5, 51, 990000, tzinfo=UTC),
        "phone": "031-623-5189",
        "cell": "081-807-8083",
        "street_number": 2479,
        "street_name": "Henry Street",
        "city": "Blessington",
        "state": "Wexford",
        "country": "Ireland",
        "postcode": "78276",
        "latitude": 2.0565,
        "longitude": 95.2422,
        "timezone_offset": "+1:00",
        "timezone_description": "Brussels, Copenhagen, Madrid, Paris",
        "nationality": "IE",
        "id_name": "PPS",
        "id_value": "1101776T",
        "picture_large": "https://randomuser.me/api/portraits/women/88.jpg",
        "picture_medium": "https://randomuser.me/api/portraits/med/women/88.jpg",
        "picture_thumbnail": "https://randomuser.me/api/portraits/thumb/women/88.jpg",
        "ingested_at": dt.datetime(2026, 11, 23, 10, 0, 0, 123000, tzinfo=UTC),
        "source_url": "http://api/1.4/",
        "kafka_partition": 1,
        "kafka_offset": 7,
    }


def test_credentials_never_reach_a_column():
    values = set(map(str, profile(LAURA).columns.values()))
    for secret in ("racers", "B5ywSDUM", LAURA["login"]["md5"]):
        assert secret not in values


def test_absent_optional_fields_are_left_out_not_null():
    columns = profile(user(id=..., location__coordinates=..., registered=..., cell=...)).columns
    for column in ("id_name", "id_value", "latitude", "longitude", "registered_at", "cell"):
        assert column not in columns
    assert None not in columns.values()


@pytest.mark.parametrize(
    ("changes", "column", "expected"),
    [
        ({"location__postcode": "0301"}, "postcode", "0301"),
        ({"location__postcode": 78276}, "postcode", "78276"),
        ({"phone": " 03A-55B1-2 "}, "phone", "03A-55B1-2"),
        ({"email": "Upper.Case@Example.COM"}, "email", "upper.case@example.com"),
        ({"gender": "FEMALE"}, "gender", "female"),
        ({"nat": "ie"}, "nationality", "IE"),
        ({"name__first": "Мирослава"}, "first_name", "Мирослава"),
        ({"name__first": "نگار\u200cه"}, "first_name", "نگار\u200cه"),
        ({"location__coordinates": {"latitude": "-145.3", "longitude": 200.1}}, "latitude", None),
        ({"location__coordinates": {"latitude": "-45.3", "longitude": "x"}}, "latitude", -45.3),
        ({"location__street__number": 12}, "street_number", 12),
        ({"id": {"name": "", "value": None}}, "id_name", None),
        ({"location__state": "\u00a0 Wexford\u3000"}, "state", "Wexford"),
    ],
)
def test_cleaning_rules(changes, column, expected):
    assert profile(user(**changes)).columns.get(column) == expected


def test_age_is_counted_at_ingestion_not_now():
    # Whole years by the UTC calendar: the birthday is the day after ingestion.
    assert profile(user(dob={"date": "2000-11-24T01:00:00Z", "age": 1})).columns["age"] == 25
    assert profile(user(dob={"date": "2000-11-23T23:00:00Z", "age": 1})).columns["age"] == 26


def test_ingested_at_falls_back_to_epoch_ms_and_then_the_kafka_timestamp():
    epoch = profile(LAURA, headers=(("ingested_at", b"1700000000123"),))
    assert epoch.columns["ingested_at"] == dt.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    kafka = profile(LAURA, headers=(("ingested_at", b"garbage"),), timestamp_ms=1_700_000_000_000)
    assert kafka.columns["ingested_at"] == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def test_the_fingerprint_is_the_content_not_the_lineage():
    first = profile(LAURA, offset=1)
    again = profile(LAURA, offset=99, headers=(("ingested_at", b"2026-11-24T10:00:00Z"),))
    other = profile(user(phone="000"))
    assert first.fingerprint == again.fingerprint
    assert first.fingerprint != other.fingerprint
    assert profile(MARTEN).fingerprint != first.fingerprint


def test_every_poison_of_the_catalogue_is_one_reject_with_its_reason():
    _, poison = catalogue("unit")
    assert len(poison) >= 30
    for p in poison:
        if p.needs_stored:
            assert isinstance(judge(record(p.value, p.key)), Profile), p.name
            continue
        verdict = judge(record(p.value, p.key))
        assert isinstance(verdict, Reject), p.name
        assert verdict.reason == p.reason, p.name


def test_the_rejects_table_keeps_a_readable_cut_of_any_bytes():
    assert raw_text(b"\xff\xfeok") == "\ufffd\ufffdok"
    cut = raw_text(b"x" * (MAX_RAW_CHARS + 10))
    assert cut is not None and cut.startswith("x" * MAX_RAW_CHARS) and "cut at" in cut
    assert raw_text(None) is None


def test_a_reject_keeps_when_it_was_ingested():
    verdict = judge(record(b"not json", b"k"))
    assert isinstance(verdict, Reject)
    assert verdict.ingested_at == dt.datetime(2026, 11, 23, 10, 0, 0, 123000, tzinfo=UTC)


def test_credentials_are_removed_from_what_a_reject_keeps():
    # The cases a hostile client can send: tests/unit/test_credentials.py.
    raw = orjson.dumps(user(email="no-domain"))
    gone = {f"login__{name}": ... for name in ("password", "salt", "md5", "sha1", "sha256")}
    assert redact(raw) == orjson.dumps(user(email="no-domain", **gone))
    assert redact(b"not json") == b"not json" and redact(None) is None


@pytest.mark.parametrize("text", ["1_0", "\u0663", "0x10", "nan", "inf", "1e400", ""])
def test_coordinates_are_plain_decimals_or_absent(text):
    columns = profile(user(location__coordinates={"latitude": text, "longitude": "1.5"})).columns
    assert "latitude" not in columns and columns["longitude"] == 1.5


def test_a_value_read_only_in_part_is_judged_by_its_whole_size():
    cut = Record(b"k", b'{"a": 1', "t", 0, 1, None, (), size=5_000_000)
    verdict = judge(cut)
    assert isinstance(verdict, Reject)
    assert verdict.reason.startswith("message of 5000000 bytes exceeds the limit")


def test_judge_never_raises_on_mangled_input():
    import random

    rng = random.Random(7)
    good = orjson.dumps(LAURA)
    for _ in range(3000):
        data = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data))]
        key = rng.choice([LAURA["login"]["uuid"].encode(), None, bytes(data[:40])])
        verdict = judge(Record(key, bytes(data), "t", 0, 1, rng.choice([None, -5, 10**15])))
        assert isinstance(verdict, Profile | Reject)
