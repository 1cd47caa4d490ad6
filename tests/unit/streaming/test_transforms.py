"""Transforms on real-looking users: every column, every API quirk, determinism."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.unit.streaming.conftest import INGESTED, LAURA, MARTEN, user
from userstream.streaming import transforms, validate
from userstream.streaming.schema import BY_COUNTRY_COLUMNS, PROFILE_COLUMNS, REJECT_COLUMNS

PROCESSED = dt.datetime(2026, 11, 23, 10, 0, 5)


def judged(df: Any) -> list[dict[str, Any]]:
    rows = validate.with_reason(transforms.clean(transforms.parse(transforms.decode(df))))
    return [r.asDict() for r in rows.orderBy("kafka_offset").collect()]


def profiles(df: Any) -> list[dict[str, Any]]:
    valid, _ = validate.split(transforms.clean(transforms.parse(transforms.decode(df))))
    out = transforms.to_profiles(valid, PROCESSED)
    return [r.asDict() for r in out.orderBy("kafka_offset").collect()]


def test_real_user_every_column(kafka_df):
    [row] = profiles(kafka_df((LAURA["login"]["uuid"], LAURA)))
    assert row == {
        "id": "9f07341f-c7e6-45b7-bab0-af6de5a4582d",
        "gender": "female",
        "title": "Miss",
        "first_name": "Laura",
        "last_name": "Woods",
        "email": "laura.woods@example.com",
        "username": "angryostrich988",
        "dob": dt.datetime(1967, 7, 23, 9, 18, 33, 666000),
        "age": 59,
        "registered_at": dt.datetime(2018, 10, 18, 4, 5, 51, 990000),
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
        "ingested_at": INGESTED,
        "processed_at": PROCESSED,
        "source_url": None,
        "kafka_partition": 0,
        "kafka_offset": 0,
    }
    assert tuple(row) == PROFILE_COLUMNS


def test_no_credentials_anywhere(kafka_df):
    rows = judged(kafka_df((LAURA["login"]["uuid"], LAURA)))
    assert not {"password", "salt", "md5", "sha1", "sha256"} & set(rows[0])
    assert "racers" not in str({k: v for k, v in rows[0].items() if k != "raw_value"})
    assert not {"password", "salt", "md5", "sha1", "sha256"} & set(PROFILE_COLUMNS)


@pytest.mark.parametrize(
    ("postcode", "expected"),
    [(78276, "78276"), ("0301", "0301"), ("HY3X 5PN", "HY3X 5PN"), ("S4E 5V2", "S4E 5V2"),
     (1234, "1234"), (None, None)],
)  # fmt: skip
def test_postcode_is_text_with_leading_zeros(kafka_df, postcode, expected):
    u = user(location__postcode=postcode)
    [row] = profiles(kafka_df((u["login"]["uuid"], u)))
    assert row["postcode"] == expected


def test_null_and_empty_national_id(kafka_df):
    u = user(id__name="", id__value=None)
    [row] = profiles(kafka_df((u["login"]["uuid"], u)))
    assert row["id_name"] is None
    assert row["id_value"] is None


def test_missing_optional_fields_become_null(kafka_df):
    u = user(location=..., picture=..., phone=..., registered=..., id=...)
    [row] = profiles(kafka_df((u["login"]["uuid"], u)))
    for column in ("country", "city", "postcode", "latitude", "phone", "registered_at",
                   "picture_large", "id_name", "street_number"):  # fmt: skip
        assert row[column] is None, column
    assert row["first_name"] == "Laura"


def test_dirty_phone_is_kept_trimmed(kafka_df):
    u = user(phone="  (07) 55A1-0x2  ", cell="\t081-807-8083\n")
    [row] = profiles(kafka_df((u["login"]["uuid"], u)))
    assert row["phone"] == "(07) 55A1-0x2"
    assert row["cell"] == "081-807-8083"


@pytest.mark.parametrize(
    ("lat", "lon", "expected"),
    [("-90", "180", (-90.0, 180.0)), ("90.0001", "-180.5", (None, None)),
     ("-145.3", "12.5", (None, 12.5)), ("abc", "", (None, None)), ("NaN", "Infinity", (None, None)),
     (" 12.25 ", "-0.5", (12.25, -0.5))],
)  # fmt: skip
def test_coordinates_out_of_range_are_null(kafka_df, lat, lon, expected):
    u = user(location__coordinates={"latitude": lat, "longitude": lon})
    [row] = profiles(kafka_df((u["login"]["uuid"], u)))
    assert (row["latitude"], row["longitude"]) == expected


def test_non_latin_names_kept_exactly(kafka_df):
    names = [
        ("Мирослава", "Шевчук"),
        ("آرمیتا", "رضاییان"),
        ("अंकुर", "मल्होत्रा"),
        ("Zoë", "Ångström"),
    ]
    messages = []
    for i, (first, last) in enumerate(names):
        u = user(
            name__first=first,
            name__last=last,
            login__uuid=f"00000000-0000-4000-8000-00000000000{i}",
        )
        messages.append((u["login"]["uuid"], u))
    rows = profiles(kafka_df(*messages))
    assert [(r["first_name"], r["last_name"]) for r in rows] == names


def test_email_lower_cased_and_uuid_normalised(kafka_df):
    u = user(email=" Laura.WOODS@Example.COM ", login__uuid="9F07341F-C7E6-45B7-BAB0-AF6DE5A4582D")
    [row] = profiles(kafka_df(("9F07341F-C7E6-45B7-BAB0-AF6DE5A4582D", u)))
    assert row["email"] == "laura.woods@example.com"
    assert row["id"] == "9f07341f-c7e6-45b7-bab0-af6de5a4582d"


def test_lego_user(kafka_df):
    # lego=true users: nat LEGO, a lego picture, some location fields missing.
    u = user(
        nat="LEGO",
        picture={"large": "https://randomuser.me/api/portraits/lego/3.jpg"},
        location={"city": "Brickville"},
    )
    [row] = profiles(kafka_df((u["login"]["uuid"], u)))
    assert row["nationality"] == "LEGO"
    assert row["picture_large"].endswith("lego/3.jpg")
    assert row["picture_thumbnail"] is None
    assert row["city"] == "Brickville"
    assert row["country"] is None


def test_age_is_relative_to_ingestion_not_now(kafka_df):
    # Ingested 2026-11-23: born 1967-07-23 → 59; born 1960-12-01 → 65 (birthday not yet).
    a = user(dob__date="1967-07-23T09:18:33.666Z")
    b = user(MARTEN, dob__date="1960-12-01T00:00:00.000Z")
    rows = profiles(kafka_df((a["login"]["uuid"], a), (b["login"]["uuid"], b)))
    assert [r["age"] for r in rows] == [59, 65]


@pytest.mark.parametrize(
    ("header", "expected"),
    [(b"2026-11-23T10:00:00.123Z", dt.datetime(2026, 11, 23, 10, 0, 0, 123000)),
     (b"1795255200123", dt.datetime(2026, 11, 21, 10, 0, 0, 123000)),
     (b"garbage", dt.datetime(2026, 1, 1)), (None, dt.datetime(2026, 1, 1))],
)  # fmt: skip
def test_ingested_at_from_header_or_kafka_timestamp(kafka_df, header, expected):
    headers = [("ingested_at", header), ("source_url", b"https://randomuser.me/api/1.4/")]
    [row] = profiles(kafka_df((LAURA["login"]["uuid"], LAURA, headers)))
    assert row["ingested_at"] == expected
    assert row["source_url"] == "https://randomuser.me/api/1.4/"


def test_no_headers_at_all(kafka_df):
    [row] = profiles(kafka_df((LAURA["login"]["uuid"], LAURA, [])))
    assert row["ingested_at"] == dt.datetime(2026, 1, 1)
    assert row["source_url"] is None


def test_type_drift_in_one_leaf_keeps_the_rest(kafka_df):
    u = user(location__street={"number": "12a", "name": {"weird": True}}, dob__age="old")
    [row] = profiles(kafka_df((u["login"]["uuid"], u)))
    assert row["street_number"] is None
    assert row["street_name"] == '{"weird":true}'
    assert row["first_name"] == "Laura"


def test_duplicate_uuid_in_one_batch_keeps_highest_offset(kafka_df):
    first = user(email="old@example.com")
    second = user(email="new@example.com")
    rows = profiles(kafka_df((LAURA["login"]["uuid"], first), (LAURA["login"]["uuid"], second)))
    assert len(rows) == 1
    assert rows[0]["email"] == "new@example.com"
    assert rows[0]["kafka_offset"] == 1


def test_deterministic_on_replay(kafka_df):
    messages = [(u["login"]["uuid"], u) for u in (LAURA, MARTEN, user(location__postcode="0301"))]
    assert profiles(kafka_df(*messages)) == profiles(kafka_df(*messages))


def test_by_country_needs_country_and_registration(kafka_df, spark):
    no_country = user(MARTEN, location__country=...)
    valid, _ = validate.split(
        transforms.clean(transforms.parse(transforms.decode(kafka_df(
            (LAURA["login"]["uuid"], LAURA), (no_country["login"]["uuid"], no_country),
        ))))
    )  # fmt: skip
    rows = transforms.to_by_country(transforms.to_profiles(valid, PROCESSED)).collect()
    assert [tuple(r.asDict()) for r in rows] == [BY_COUNTRY_COLUMNS]
    assert [r["country"] for r in rows] == ["Ireland"]


def test_rejects_keep_raw_text(kafka_df):
    _, rejected = validate.split(
        transforms.clean(transforms.parse(transforms.decode(kafka_df(("k", "not json")))))
    )
    [row] = [r.asDict() for r in transforms.to_rejects(rejected, PROCESSED).collect()]
    assert tuple(row) == REJECT_COLUMNS
    assert row["raw_key"] == "k"
    assert row["raw_value"] == "not json"
    assert row["reason"] == "value is not valid JSON"
    assert row["rejected_at"] == PROCESSED
    assert (row["topic"], row["kafka_partition"], row["kafka_offset"]) == ("user_topic", 0, 0)
