"""Validation: hostile and incomplete inputs become rejects with a reason; nothing raises."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.unit.streaming.conftest import LAURA, MARTEN, user
from userstream.streaming import transforms, validate

UUID = LAURA["login"]["uuid"]


def reasons(df: Any) -> list[str | None]:
    rows = validate.with_reason(transforms.clean(transforms.parse(transforms.decode(df))))
    return [r["reason"] for r in rows.orderBy("kafka_offset").collect()]


def test_real_users_are_valid(kafka_df):
    assert reasons(kafka_df((UUID, LAURA), (MARTEN["login"]["uuid"], MARTEN))) == [None, None]


def test_a_message_without_key_is_valid(kafka_df):
    assert reasons(kafka_df((None, LAURA))) == [None]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"not json", "value is not valid JSON"),
        (b'{"gender": "female", "name": {', "value is not valid JSON"),
        (b"[1, 2, 3]", "value is a JSON array, not an object"),
        (orjson.dumps([LAURA]), "value is a JSON array, not an object"),
        (b"42", "value is a JSON number, not an object"),
        (b'"a string"', "value is a JSON string, not an object"),
        (b"null", "value is a JSON null, not an object"),
        (b"true", "value is a JSON boolean, not an object"),
        (b"", "empty value"),
        (None, "empty value"),
        (b"   ", "empty value"),
        (b"{}", "login.uuid is missing"),
        (b"\xff\xfe\x00garbage", "value is not valid JSON"),
    ],
)
def test_hostile_values(kafka_df, value, reason):
    assert reasons(kafka_df((UUID, value))) == [reason]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"login__uuid": None}, "login.uuid is missing"),
        ({"login": ...}, "login.uuid is missing"),
        ({"login__uuid": "not-a-uuid"}, "login.uuid is not a valid UUID"),
        ({"login__uuid": "9f07341fc7e645b7bab0af6de5a4582d"}, "login.uuid is not a valid UUID"),
        ({"name__first": "  "}, "name.first is missing"),
        ({"name": ...}, "name.first is missing"),
        ({"name__last": None}, "name.last is missing"),
        ({"email": ...}, "email is missing"),
        ({"email": "laura.woods"}, "email is not a valid address"),
        ({"dob__date": "yesterday"}, "dob.date is missing or not an ISO-8601 timestamp"),
        ({"dob": ...}, "dob.date is missing or not an ISO-8601 timestamp"),
        ({"nat": ...}, "nat is missing"),
    ],
)
def test_missing_or_invalid_required_fields(kafka_df, changes, reason):
    u = user(**changes)
    assert reasons(kafka_df((UUID, u))) == [reason]


def test_key_must_match_uuid(kafka_df):
    other = "1cd1e622-12bb-4b35-a2c9-63ff7bda6c73"
    assert reasons(kafka_df((other, LAURA))) == ["message key does not match login.uuid"]


def test_uuid_case_and_spaces_do_not_matter(kafka_df):
    assert reasons(kafka_df((f" {UUID.upper()} ", LAURA))) == [None]


def test_huge_strings(kafka_df):
    huge_name = "Ж" * 200_000
    big = user(name__first=huge_name)
    df = kafka_df((UUID, big), (UUID, "x" * 500_000))
    cleaned = transforms.clean(transforms.parse(transforms.decode(df)))
    rows = validate.with_reason(cleaned).orderBy("kafka_offset").collect()
    assert rows[0]["reason"] is None
    assert rows[0]["first_name"] == huge_name
    assert rows[1]["reason"] == "value is not valid JSON"
    assert len(rows[1]["raw_value"]) == 500_000


def test_a_bad_record_does_not_spoil_its_batch(kafka_df):
    messages = [(UUID, LAURA), ("k", "]["), (MARTEN["login"]["uuid"], MARTEN), (None, b"[]")]
    valid, rejected = validate.split(
        transforms.clean(transforms.parse(transforms.decode(kafka_df(*messages))))
    )
    assert sorted(r["id"] for r in valid.collect()) == sorted(
        [LAURA["login"]["uuid"], MARTEN["login"]["uuid"]]
    )
    assert sorted(r["kafka_offset"] for r in rejected.collect()) == [1, 3]
