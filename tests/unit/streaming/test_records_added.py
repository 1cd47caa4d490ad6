"""``records.judge`` with added fields (``schemas.added_fields``): a top-level field of the
schema in use beyond the API's is checked by its type, in JSON and in Avro alike, and stored
in its own column, part of the fingerprint; the API's own fields are judged as ever."""

from __future__ import annotations

import json

import orjson
import pytest

from userstream import schemas
from userstream.producing.avro_values import record_builder, to_record
from userstream.streaming.avro_reader import WriterSchemas
from userstream.streaming.records import Profile, Reject, judge

from .conftest import LAURA, user
from .test_records_avro import framed, record

V2 = schemas.load()
V2 = {
    **V2,
    "fields": [
        *V2["fields"],
        {"name": "nickname", "type": ["null", "string"], "default": None, "doc": "x"},
        {"name": "visits", "type": ["null", "int"], "default": None, "doc": "x"},
        {"name": "score", "type": ["null", "double"], "default": None, "doc": "x"},
        {"name": "vip", "type": ["null", "boolean"], "default": None, "doc": "x"},
    ],
}
ADDED = schemas.added_fields(V2)
V2_ID = 12
to_v2 = record_builder(V2)


@pytest.fixture
def writers() -> WriterSchemas:
    """The stream reading with V2: it knows a v1 writer (7) and a v2 writer (12)."""
    known = WriterSchemas({"url": "http://127.0.0.1:9"}, json.dumps(V2))
    known.add(7, schemas.text())
    known.add(V2_ID, json.dumps(V2))
    return known


SENT = {"nickname": "  Lau ", "visits": 3, "score": 2, "vip": True}
STORED = {"nickname": "Lau", "visits": 3, "score": 2.0, "vip": True}


def test_added_fields_sent_as_json_are_stored_in_their_columns() -> None:
    verdict = judge(record(orjson.dumps({**LAURA, **SENT})), None, ADDED)
    assert isinstance(verdict, Profile), verdict
    assert {k: verdict.columns.get(k) for k in STORED} == STORED
    assert verdict.columns["first_name"] == "Laura"


def test_added_fields_sent_as_avro_are_stored_as_the_same_json_user(writers) -> None:
    from_json = judge(record(orjson.dumps({**LAURA, **SENT})), None, ADDED)
    from_avro = judge(record(framed(to_v2({**LAURA, **SENT}), V2, V2_ID)), writers, ADDED)
    assert isinstance(from_avro, Profile), from_avro
    assert isinstance(from_json, Profile), from_json
    assert from_avro.columns == from_json.columns
    assert from_avro.fingerprint == from_json.fingerprint


def test_a_v1_writer_read_with_v2_lands_without_the_added_columns(writers) -> None:
    verdict = judge(record(framed(to_record(LAURA))), writers, ADDED)
    assert isinstance(verdict, Profile), verdict
    assert not set(STORED) & set(verdict.columns)
    assert verdict.fingerprint == judge(record(orjson.dumps(LAURA))).fingerprint


def test_an_added_field_is_part_of_the_fingerprint() -> None:
    plain = judge(record(orjson.dumps(LAURA)), None, ADDED)
    nicknamed = judge(record(orjson.dumps({**LAURA, "nickname": "Lau"})), None, ADDED)
    assert isinstance(plain, Profile) and isinstance(nicknamed, Profile)
    assert plain.fingerprint != nicknamed.fingerprint


@pytest.mark.parametrize(
    ("sent", "reason"),
    [
        ({"nickname": 7}, "nickname must be text, not a JSON number"),
        ({"visits": "3"}, "visits must be an integer, not a JSON string"),
        ({"visits": 2**31}, "visits is out of range"),
        ({"visits": True}, "visits must be an integer, not a JSON boolean"),
        ({"score": "high"}, "score must be a number, not a JSON string"),
        ({"vip": 1}, "vip must be true or false, not a JSON number"),
        ({"nickname": "La\u200bu"}, "nickname contains control or invisible characters"),
        ({"nickname": "x" * 256}, "nickname is 256 characters long (the limit is 255)"),
    ],
    ids=["text", "int-text", "int-range", "int-bool", "double", "boolean", "hidden", "long"],
)
def test_an_added_field_of_the_wrong_kind_is_a_reject_with_its_reason(sent, reason) -> None:
    verdict = judge(record(orjson.dumps({**LAURA, **sent})), None, ADDED)
    assert verdict == Reject(reason, verdict.ingested_at)


def test_a_required_added_field_that_is_missing_is_a_reject() -> None:
    required = schemas.added_fields(
        {**V2, "fields": [*schemas.load()["fields"], {"name": "tier", "type": "string"}]}
    )
    verdict = judge(record(orjson.dumps(user())), None, required)
    assert verdict == Reject("tier is missing", verdict.ingested_at)


def test_the_apis_rules_still_come_first(writers) -> None:
    bad = to_v2({**user(email="nope"), **SENT})
    verdict = judge(record(framed(bad, V2, V2_ID)), writers, ADDED)
    assert verdict == Reject("email is not a valid address", verdict.ingested_at)
