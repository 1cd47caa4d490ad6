"""``records.judge`` on Confluent-framed Avro: the same rules as JSON, read with the
project's schema as reader; every way a value can fail to be Avro is a reason."""

from __future__ import annotations

import copy
import io
import json

import orjson
import pytest
from fastavro import parse_schema, schemaless_writer

from tests.poison_catalogue import INGESTED_AT
from userstream import schemas
from userstream.producing.avro_values import to_record
from userstream.streaming.avro_reader import WriterSchemas
from userstream.streaming.records import (
    Profile,
    Record,
    Reject,
    SchemaNotFetched,
    judge,
    raw_value,
)

from .conftest import LAURA, MARTEN, user

SCHEMA_ID = 7


def framed(payload: dict, schema: dict | None = None, schema_id: int = SCHEMA_ID) -> bytes:
    out = io.BytesIO()
    schemaless_writer(out, parse_schema(schema or schemas.load()), payload)
    return b"\x00" + schema_id.to_bytes(4, "big") + out.getvalue()


def record(value: bytes, key: bytes = LAURA["login"]["uuid"].encode()) -> Record:
    headers = (("ingested_at", INGESTED_AT), ("source_url", b"http://api/1.4/"))
    return Record(key, value, "user_topic", 1, 7, 1_700_000_000_000, headers)


@pytest.fixture
def writers() -> WriterSchemas:
    known = WriterSchemas({"url": "http://127.0.0.1:9"})  # never asked: every id is added
    known.add(SCHEMA_ID, schemas.text())
    return known


@pytest.mark.parametrize("person", [LAURA, MARTEN], ids=["laura", "marten"])
def test_an_avro_user_is_stored_exactly_as_the_same_user_in_json(person, writers) -> None:
    key = person["login"]["uuid"].encode()
    from_json = judge(record(orjson.dumps(person), key))
    from_avro = judge(record(framed(to_record(person)), key), writers)
    assert isinstance(from_json, Profile) and isinstance(from_avro, Profile), from_avro
    assert from_avro.columns == from_json.columns
    assert from_avro.fingerprint == from_json.fingerprint


def test_an_avro_user_breaking_a_rule_is_rejected_with_the_json_reason(writers) -> None:
    bad = to_record(user(email="not an address"))
    verdict = judge(record(framed(bad)), writers)
    assert verdict == Reject("email is not a valid address", verdict.ingested_at)


def test_an_older_writer_without_optional_fields_is_read_with_their_defaults(writers) -> None:
    older = copy.deepcopy(schemas.load())
    older["fields"] = [f for f in older["fields"] if f["name"] not in ("phone", "picture")]
    writers.add(8, json.dumps(older))
    sent = {k: v for k, v in to_record(LAURA).items() if k not in ("phone", "picture")}
    verdict = judge(record(framed(sent, older, 8)), writers)
    assert isinstance(verdict, Profile), verdict
    assert "phone" not in verdict.columns and "picture_large" not in verdict.columns
    assert verdict.columns["email"] == "laura.woods@example.com"


def test_a_newer_writer_with_a_field_the_reader_lacks_still_lands(writers) -> None:
    newer = copy.deepcopy(schemas.load())
    newer["fields"].append(
        {"name": "nickname", "type": ["null", "string"], "default": None, "doc": "New."}
    )
    writers.add(9, json.dumps(newer))
    verdict = judge(record(framed({**to_record(LAURA), "nickname": "Lau"}, newer, 9)), writers)
    assert isinstance(verdict, Profile), verdict
    assert verdict.columns["first_name"] == "Laura"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\x00\x00\x00", "Avro value of 3 bytes is shorter than its 5-byte header"),
        (b"\x00\x00\x00\x00\x07", "value is truncated Avro of schema id 7"),
        (None, "value has 3 bytes after its Avro record of schema id 7"),
        (None, "value is truncated Avro of schema id 7"),
    ],
    ids=["short-header", "header-only", "trailing-bytes", "truncated"],
)
def test_a_broken_avro_value_is_a_reject_with_its_reason(value, reason, writers) -> None:
    whole = framed(to_record(LAURA))
    if value is None:
        value = whole + b"abc" if "after" in reason else whole[:-10]
    verdict = judge(record(value), writers)
    assert isinstance(verdict, Reject)
    assert verdict.reason == reason


def test_an_id_the_registry_does_not_know_is_a_reject(writers) -> None:
    writers._known[404] = "schema id 404 is not in the registry (Schema 404 not found)"
    verdict = judge(record(framed(to_record(LAURA), schema_id=404)), writers)
    assert verdict == Reject(
        "schema id 404 is not in the registry (Schema 404 not found)", verdict.ingested_at
    )


def test_a_writer_schema_the_reader_cannot_resolve_is_a_reject(writers) -> None:
    other = {"type": "record", "name": "Other", "fields": [{"name": "x", "type": "int"}]}
    writers.add(11, json.dumps(other))
    verdict = judge(record(b"\x00\x00\x00\x00\x0b\x02"), writers)
    assert isinstance(verdict, Reject)
    assert verdict.reason.startswith("value is not Avro of schema id 11 (SchemaResolutionError")


def test_an_avro_value_judged_before_its_schema_was_fetched_is_a_callers_error() -> None:
    with pytest.raises(SchemaNotFetched):
        judge(record(framed(to_record(LAURA))), WriterSchemas({"url": "http://127.0.0.1:9"}))


def test_a_first_byte_other_than_zero_is_judged_as_json(writers) -> None:
    verdict = judge(record(b"\x01\x00\x00\x00\x07abc"), writers)
    assert isinstance(verdict, Reject)
    assert verdict.reason == "value is not valid JSON"


def test_a_rejected_avro_value_is_kept_as_the_json_of_what_its_writer_wrote(writers) -> None:
    bad = record(framed(to_record(user(email="nope"))))
    kept = raw_value(bad, writers)
    assert kept is not None
    assert json.loads(kept)["email"] == "nope"
    assert "password" not in kept
    unreadable = record(b"\x00\x00\x00\x00\x07\xff")
    assert raw_value(unreadable, writers) == "(Avro of schema id 7, 6 bytes, not readable)"
