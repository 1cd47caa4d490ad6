"""The Avro schemas userstream carries on Kafka: the one source of what a user is.

``user.avsc`` is the schema the producer writes with and the stream reads with (its reader
schema, so a message of an older or newer compatible writer lands too). ``history/`` keeps
every released version as ``user.v<N>.avsc``: an edit of ``user.avsc`` is checked against
them before it ships (``userstream schema check``; the unit tests do it for every commit).
The registry's subject for a topic's values is ``<topic>-value`` (Confluent's
TopicNameStrategy).

``kafka.value_schema`` names another ``.avsc`` to use instead (producer, stream and ``db
init`` alike): :func:`read` returns the one in use. A top-level field of that schema beyond
the project's own (those the judge reads) is an *added field* (:func:`added_fields`): of a
primitive type, it is judged by its type and stored in a ``user_profiles`` column
of its own name, which ``db init`` adds. Adding a field is then one schema change.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from userstream.contract import PROFILE_COLUMNS

FOLDER = Path(__file__).resolve().parent
USER = "user"
_VERSION = re.compile(r"\.v([0-9]+)\.avsc$")


def path(name: str = USER) -> Path:
    """The current schema's file."""
    return FOLDER / f"{name}.avsc"


@cache
def text(name: str = USER) -> str:
    """The current schema as its file holds it (what the producer registers)."""
    return path(name).read_text()


def load(name: str = USER) -> dict[str, Any]:
    """The current schema, parsed as JSON (a fresh copy each call)."""
    parsed: dict[str, Any] = json.loads(text(name))
    return parsed


def history(name: str = USER) -> list[tuple[int, Path]]:
    """The released versions of ``name``, oldest first: (version, file)."""
    found = []
    for file in (FOLDER / "history").glob(f"{name}.v*.avsc"):
        match = _VERSION.search(file.name)
        if match:
            found.append((int(match.group(1)), file))
    return sorted(found)


def read(file: Path | None = None) -> str:
    """The text of ``file`` (``kafka.value_schema``), else of the project's schema; a
    ``ValueError`` saying why when the file cannot be read."""
    if file is None:
        return text()
    try:
        return Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"the schema file {file} cannot be read ({exc.strerror or exc})") from None


@dataclass(frozen=True)
class AddedField:
    """A top-level field beyond the project's schema's, stored in a column of its name."""

    name: str
    #: The Avro type: one of ``ADDED_TYPES``.
    avro: str
    optional: bool

    @property
    def cql_type(self) -> str:
        return ADDED_TYPES[self.avro]


#: The Avro types an added field may have, and the Cassandra type of its column.
ADDED_TYPES = {
    "string": "text",
    "int": "int",
    "long": "bigint",
    "float": "float",
    "double": "double",
    "boolean": "boolean",
}
_COLUMN_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


@cache
def _judged_fields() -> frozenset[str]:
    """The top-level fields of the project's schema: those the stream's judge reads
    (``tests/unit/schemas/test_contract_agrees.py`` keeps the two the same)."""
    return frozenset(f["name"] for f in load()["fields"])


def added_fields(
    schema: dict[str, Any], taken: frozenset[str] = frozenset(PROFILE_COLUMNS)
) -> tuple[AddedField, ...]:
    """The added fields of ``schema`` in its order; a ``ValueError`` saying what to change
    for one the stream cannot store (``taken``: the table's own column names)."""
    found = []
    for entry in schema.get("fields", ()):
        name = entry["name"]
        if name in _judged_fields():
            continue
        kind = entry["type"]
        optional = isinstance(kind, list) and "null" in kind
        branches = [k for k in kind if k != "null"] if isinstance(kind, list) else [kind]
        avro = branches[0] if len(branches) == 1 else None
        if isinstance(avro, dict) and "logicalType" not in avro:
            avro = avro.get("type")
        if not isinstance(avro, str) or avro not in ADDED_TYPES:
            raise ValueError(
                f"the schema's added field {name!r} has the type {json.dumps(kind)}: the stream "
                f"stores an added field of one of {', '.join(ADDED_TYPES)} (optional or not); "
                "judge and store anything else in streaming/records.py"
            )
        if name in taken:
            raise ValueError(f"the schema's added field {name!r} names a column user_profiles has")
        if not _COLUMN_NAME.fullmatch(name):
            raise ValueError(
                f"the schema's added field {name!r} cannot name a column of user_profiles "
                "(lower-case letters, digits and _, starting with a letter)"
            )
        found.append(AddedField(name, str(avro), optional))
    return tuple(found)


@dataclass(frozen=True)
class InUse:
    """The schema in use (``kafka.value_schema``): its text and its added fields."""

    text: str = field(repr=False)
    added: tuple[AddedField, ...]

    @property
    def is_projects(self) -> bool:
        return self.text == text()


def in_use(file: Path | None = None) -> InUse:
    """The schema of ``file`` (else the project's) checked for the stream; ``ConfigError``
    naming the setting and what to change when it cannot be used."""
    from avro.errors import AvroException
    from avro.schema import parse

    from userstream.errors import ConfigError

    where = f"USERSTREAM_KAFKA__VALUE_SCHEMA={file}" if file is not None else str(path())
    try:
        schema_text = read(file)
        parse(schema_text)
        added = added_fields(json.loads(schema_text))
    except (ValueError, AvroException) as exc:
        raise ConfigError(
            f"The Avro schema of {where} cannot be used: {exc}",
            hint="Fix the file, or unset USERSTREAM_KAFKA__VALUE_SCHEMA for the project's.",
        ) from None
    return InUse(schema_text, added)


def subject(topic: str) -> str:
    """The registry subject of ``topic``'s values (TopicNameStrategy)."""
    return f"{topic}-value"
