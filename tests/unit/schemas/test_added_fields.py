"""Adding a field is one schema change: a top-level field of the schema in use beyond the
API's is an *added field*, stored in a ``user_profiles`` column of its name; one the stream
cannot store is refused with what to change (``schemas.added_fields``, ``schemas.in_use``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from userstream import schemas
from userstream.errors import ConfigError
from userstream.schemas import AddedField
from userstream.store.schema import added_columns


def v2(*fields: dict[str, Any]) -> dict[str, Any]:
    """The project's schema with ``fields`` appended."""
    schema = schemas.load()
    return {**schema, "fields": [*schema["fields"], *fields]}


NICKNAME = {"name": "nickname", "type": ["null", "string"], "default": None, "doc": "x"}


def test_the_projects_schema_adds_nothing() -> None:
    assert schemas.in_use().added == ()
    assert schemas.in_use().is_projects


def test_a_field_beyond_the_apis_is_added_with_its_column_type() -> None:
    schema = v2(
        NICKNAME,
        {"name": "score", "type": "double", "doc": "x"},
        {"name": "visits", "type": ["null", "long"], "default": None, "doc": "x"},
        {"name": "vip", "type": "boolean", "doc": "x"},
    )
    assert schemas.added_fields(schema) == (
        AddedField("nickname", "string", optional=True),
        AddedField("score", "double", optional=False),
        AddedField("visits", "long", optional=True),
        AddedField("vip", "boolean", optional=False),
    )
    assert [f.cql_type for f in schemas.added_fields(schema)] == [
        "text", "double", "bigint", "boolean"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("field", "says"),
    [
        ({"name": "tags", "type": {"type": "array", "items": "string"}}, "records.py"),
        ({"name": "pet", "type": ["null", "string", "int"], "default": None}, "records.py"),
        ({"name": "city", "type": ["null", "string"], "default": None}, "names a column"),
        ({"name": "NickName", "type": "string"}, "lower-case"),
    ],
    ids=["array", "two-branch union", "taken name", "upper-case"],
)
def test_a_field_the_stream_cannot_store_is_refused_with_what_to_change(field, says) -> None:
    with pytest.raises(ValueError, match=says):
        schemas.added_fields(v2({**field, "doc": "x"}), frozenset({"city"}))


def test_the_schema_in_use_is_read_from_the_setting(tmp_path: Path) -> None:
    file = tmp_path / "user.v2.avsc"
    file.write_text(json.dumps(v2(NICKNAME)))
    used = schemas.in_use(file)
    assert used.added == (AddedField("nickname", "string", optional=True),)
    assert not used.is_projects
    assert json.loads(used.text) == v2(NICKNAME)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "cannot be read"),
        ('{"type": "record", "name": "u", "fields": [{"name": "a"}]}', "cannot be used"),
        (json.dumps(v2({"name": "email_address", "type": "bytes", "doc": "x"})), "bytes"),
        (json.dumps(v2({"name": "email", "type": "string", "doc": "x"})), "cannot be used"),
    ],
    ids=["missing file", "not Avro", "unsupported type", "a field twice"],
)
def test_a_schema_that_cannot_be_used_is_a_config_error_naming_the_setting(
    tmp_path: Path, content: str | None, says: str
) -> None:
    file = tmp_path / "user.avsc"
    if content is not None:
        file.write_text(content)
    with pytest.raises(ConfigError, match=says) as raised:
        schemas.in_use(file)
    assert f"USERSTREAM_KAFKA__VALUE_SCHEMA={file}" in str(raised.value)


def test_db_init_adds_a_column_for_each_added_field() -> None:
    added = schemas.added_fields(v2(NICKNAME, {"name": "visits", "type": "int", "doc": "x"}))
    assert added_columns("ks", added) == [
        "ALTER TABLE ks.user_profiles ADD IF NOT EXISTS nickname text",
        "ALTER TABLE ks.user_profiles ADD IF NOT EXISTS visits int",
    ]
