"""Avro schemas as the registry keeps and judges them.

- ``parse``: a schema text → ``Parsed`` (Apache Avro's parser says whether it is one);
  ``Parsed.identity`` is the same for the same schema however its JSON is spaced or its keys
  ordered, so registering it again finds its id; ``Parsed.text`` is the compact form stored.
- ``check``: whether a new schema may follow a subject's versions under a compatibility
  level, decided by Apache Avro's own ``ReaderWriterCompatibilityChecker``; the refusal
  quotes its findings.

``BACKWARD``: the new schema reads what the latest version wrote (consumers upgrade first);
``FORWARD``: the latest reads what the new one writes (producers first); ``FULL``: both;
``*_TRANSITIVE``: against every earlier version, not only the latest; ``NONE``: no check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal, cast, get_args

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from avro.errors import AvroException

Level = Literal[
    "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
    "FULL", "FULL_TRANSITIVE", "NONE",
]  # fmt: skip
LEVELS: tuple[Level, ...] = get_args(Level)


class InvalidSchema(ValueError):
    """The text is not an Avro schema (the reason is Avro's parser's)."""


@dataclass(frozen=True)
class Parsed:
    text: str
    identity: str
    schema: avro.schema.Schema


def parse(text: str) -> Parsed:
    """``text`` as an Avro schema; raises ``InvalidSchema`` with the parser's reason."""
    try:
        document = json.loads(text)
    except ValueError:
        document = text  # a bare name, e.g. string: Avro's parser says what it is
    try:
        schema = avro.schema.parse(text if isinstance(document, str) else json.dumps(document))
    except (AvroException, ValueError, TypeError, KeyError) as exc:
        raise InvalidSchema(str(exc) or type(exc).__name__) from exc
    compact = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    identity = json.dumps(document, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return Parsed(compact, identity, schema)


def level(text: object) -> Level:
    """A level named in any case (``backward``); raises ``ValueError`` for an unknown one."""
    upper = str(text).upper() if isinstance(text, str) else ""
    if upper not in LEVELS:
        raise ValueError(f"unknown compatibility level {text!r}")
    return cast(Level, upper)


def _findings(reader: Parsed, writer: Parsed) -> list[str]:
    result = ReaderWriterCompatibilityChecker().get_compatibility(reader.schema, writer.schema)
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    kinds = ", ".join(sorted({kind.name.upper() for kind in result.incompatibilities}))
    said = "; ".join(sorted(result.messages))
    where = ", ".join(sorted(result.locations))
    return [f"{{errorType:'{kinds}', description:'{said}', additionalInfo:'{where}'}}"]


def check(compat: Level, new: Parsed, versions: list[tuple[int, Parsed]]) -> list[str]:
    """What makes ``new`` incompatible with the subject's ``versions`` ((version, schema),
    oldest first) under ``compat``: one line per finding of Avro's checker, naming the
    version it is against; empty when it is compatible."""
    if compat == "NONE" or not versions:
        return []
    against = versions if compat.endswith("_TRANSITIVE") else versions[-1:]
    backward = compat.startswith(("BACKWARD", "FULL"))
    forward = compat.startswith(("FORWARD", "FULL"))
    found: list[str] = []
    for version, old in reversed(against):
        lines = (_findings(new, old) if backward else []) + (_findings(old, new) if forward else [])
        found.extend(f"{line}, {{oldSchemaVersion: {version}}}" for line in lines)
    return found


def refusal(subject: str, compat: Level, findings: list[str]) -> str:
    """The 409 message, in the words Confluent's registry uses, with Avro's findings."""
    details = ", ".join([*findings, f"{{compatibility: '{compat}'}}"])
    return (
        "Schema being registered is incompatible with an earlier schema for subject "
        f'"{subject}", details: [{details}]'
    )
