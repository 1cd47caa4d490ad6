"""The producer's Avro values: the API's user → the schema's record, and a user that does
not fit → the DLQ with the reason (never a failed run)."""

from __future__ import annotations

import copy
import datetime as dt

import orjson
import pytest

from tests.unit.streaming.conftest import LAURA, user
from userstream.producing.avro_values import NotInSchema, to_record
from userstream.producing.messages import DlqReason, build


def test_the_api_user_becomes_the_schemas_record_without_credentials() -> None:
    record = to_record(LAURA)
    assert record["login"] == {"uuid": LAURA["login"]["uuid"], "username": "angryostrich988"}
    assert record["location"]["postcode"] == "78276"  # sent as a number
    assert record["location"]["coordinates"] == {"latitude": "2.0565", "longitude": "95.2422"}
    assert record["dob"] == {
        "date": dt.datetime(1967, 7, 23, 9, 18, 33, 666000, tzinfo=dt.UTC),
        "age": 59,
    }
    assert record["id"] == {"name": "PPS", "value": "1101776T"}


def test_fields_the_schema_does_not_name_are_left_behind() -> None:
    record = to_record(user(extra={"anything": 1}, location__street__extra="x"))
    assert "extra" not in record and "extra" not in record["location"]["street"]


def test_absent_optional_parts_are_null() -> None:
    sent = copy.deepcopy(LAURA)
    del sent["location"], sent["id"]["value"]
    record = to_record(sent)
    assert record["location"] is None and record["id"] == {"name": "PPS", "value": None}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"name__first": ...}, "name.first is missing"),
        ({"login": ...}, "login is missing"),
        ({"dob__date": "yesterday"}, "dob.date is not an ISO-8601 timestamp"),
        ({"dob__date": 12}, "dob.date must be an ISO-8601 timestamp, not a number"),
        ({"email": ["a@b.c"]}, "email must be text, not an array"),
        ({"location__street__number": "12"}, "location.street.number must be an integer, not text"),
        ({"location__street__number": 2**40},
         "location.street.number is out of the range of a 32-bit integer"),
        ({"location__postcode": True}, "location.postcode must be text or a number, not a boolean"),
        ({"name": "Laura"}, "name must be an object, not text"),
    ],
)  # fmt: skip
def test_a_user_that_does_not_fit_says_where_and_why(changes, reason) -> None:
    with pytest.raises(NotInSchema) as caught:
        to_record(user(**changes))
    assert str(caught.value) == reason


def _encode(sent: object) -> bytes:
    return b"\x00\x00\x00\x00\x01" + orjson.dumps(to_record(sent))


def test_a_user_that_does_not_fit_goes_to_the_dlq_as_json_with_the_reason() -> None:
    out = build(user(dob__date="soon"), _encode)
    assert out.dlq_reason is DlqReason.NOT_IN_SCHEMA
    assert out.dlq_detail == "dob.date is not an ISO-8601 timestamp"
    assert out.key == LAURA["login"]["uuid"].encode()
    value = orjson.loads(out.value)
    assert value["dob"]["date"] == "soon" and "password" not in value["login"]


def test_a_user_that_fits_gets_the_encoders_value_and_no_credentials() -> None:
    seen = []
    out = build(LAURA, lambda sent: seen.append(sent) or b"\x00avro")
    assert out == build(LAURA, lambda sent: b"\x00avro")
    assert out.value == b"\x00avro" and out.dlq_reason is None
    assert "password" not in seen[0]["login"]


def test_a_user_without_a_key_is_dead_lettered_before_it_is_encoded() -> None:
    out = build(user(login__uuid="nope"), _encode)
    assert out.dlq_reason is DlqReason.INVALID_UUID and out.dlq_detail is None


@pytest.mark.parametrize("drop", [(), ("location", "registered"), ("id", "picture")])
def test_the_wire_record_is_written_as_the_same_bytes(drop) -> None:
    import io

    import fastavro

    from userstream import schemas
    from userstream.producing.avro_values import to_wire_record

    sent = {k: v for k, v in LAURA.items() if k not in drop}
    parsed = fastavro.parse_schema(schemas.load())
    written = []
    for record in (to_record(sent), to_wire_record(sent)):
        out = io.BytesIO()
        fastavro.schemaless_writer(out, parsed, record)
        written.append(out.getvalue())
    assert written[0] == written[1]
    assert to_wire_record(sent)["dob"]["date"] == -77_121_686_334  # 1967-07-23T09:18:33.666Z


def test_a_schema_with_added_fields_carries_them_and_refuses_a_wrong_kind() -> None:
    from userstream import schemas
    from userstream.producing.avro_values import record_builder

    base = schemas.load()
    added = [
        {"name": "score", "type": ["null", "double"], "default": None, "doc": "x"},
        {"name": "vip", "type": "boolean", "doc": "x"},
    ]
    build_v2 = record_builder({**base, "fields": [*base["fields"], *added]})
    built = build_v2({**LAURA, "score": 3, "vip": False})
    assert built["score"] == 3.0 and type(built["score"]) is float and built["vip"] is False
    assert build_v2({**LAURA, "vip": True})["score"] is None
    with pytest.raises(NotInSchema, match="score must be a number, not text"):
        build_v2({**LAURA, "score": "3", "vip": True})
    with pytest.raises(NotInSchema, match="vip must be true or false, not a number"):
        build_v2({**LAURA, "vip": 1})
