"""Avro values in the Confluent wire format, as the judge reads them.

A value whose first byte is ``0x00`` is Confluent Avro: the magic byte, the writer schema's
4-byte registry id (big-endian), the Avro binary. Any other first byte is JSON (a JSON text
never starts with a NUL), so a topic can move from JSON to Avro with no stop.

:class:`WriterSchemas` fetches each writer schema by id from the registry once and keeps it
(the driver and every Python worker hold their own). A value is read with the project's
current schema (``userstream.schemas``) as the reader schema, so an older or a newer
compatible writer lands too; fastavro does the reading. What comes out has the API's shape
(the schema's nesting), with the instants as ISO-8601 text, so the judge applies the very
rules it applies to JSON.

Failures are the judge's rejects (:class:`NotAvro`: a value shorter than its header, an id
the registry does not know, truncated or trailing bytes, a writer the reader cannot
resolve), except a registry that does not answer: that is a ``TransientError``, retried
until the batch's deadline and then a failed batch, replayed from the checkpoint — a valid
message is never rejected because the registry was away.
"""

from __future__ import annotations

import copy
import io
import json
import time
from collections.abc import Iterable
from typing import Any

from userstream import schemas
from userstream.contract import format_ms
from userstream.errors import TerminalError, TransientError

MAGIC = b"\x00"
HEADER_BYTES = 5
_RETRY_MAX_S = 1.0


class NotAvro(ValueError):
    """The value cannot be read as Avro of its schema; the message is the reject reason."""


def schema_id(value: bytes | None) -> int | None:
    """The registry id of a Confluent-framed value, or None when it is not one (or too short)."""
    if value is None or value[:1] != MAGIC or len(value) < HEADER_BYTES:
        return None
    return int.from_bytes(value[1:HEADER_BYTES], "big")


def _plain(schema: Any) -> Any:
    """``schema`` without its logical types: an instant is read as its long, a uuid as its
    text (the encoding is the same), so the judge checks what was sent, not a conversion."""
    if isinstance(schema, dict):
        return {k: _plain(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_plain(item) for item in schema]
    return schema


def _instants(schema: Any, prefix: str = "") -> set[str]:
    """Dotted paths of the ``timestamp-millis`` fields of a record schema."""
    found: set[str] = set()
    for field in schema.get("fields", ()) if isinstance(schema, dict) else ():
        path = prefix + field["name"]
        for kind in field["type"] if isinstance(field["type"], list) else [field["type"]]:
            if isinstance(kind, dict) and kind.get("logicalType") == "timestamp-millis":
                found.add(path)
            elif isinstance(kind, dict) and kind.get("type") == "record":
                found |= _instants(kind, path + ".")
    return found


class Reader:
    """One writer schema, resolved against the project's schema."""

    def __init__(self, schema_id: int, writer_text: str, reader: dict[str, Any]) -> None:
        from fastavro import parse_schema
        from fastavro.schema import to_parsing_canonical_form

        self.schema_id = schema_id
        try:
            self._writer = parse_schema(_plain(json.loads(writer_text)))
        except Exception as exc:  # noqa: BLE001 - the registry's schema is input too
            raise NotAvro(
                f"schema id {schema_id} is not an Avro schema we can read: {exc}"
            ) from None
        plain_reader = parse_schema(_plain(copy.deepcopy(reader)))
        # A writer of the very schema the stream reads needs no resolution: half the time.
        same = to_parsing_canonical_form(self._writer) == to_parsing_canonical_form(plain_reader)
        self._reader = None if same else plain_reader
        self._instants = _instants(reader)

    def read(self, value: bytes) -> dict[str, Any]:
        """The user in the API's shape; ``NotAvro`` with the reason when it cannot be."""
        from fastavro import schemaless_reader

        body = io.BytesIO(value[HEADER_BYTES:])
        try:
            user = schemaless_reader(body, self._writer, self._reader)
        except EOFError:
            raise NotAvro(f"value is truncated Avro of schema id {self.schema_id}") from None
        except Exception as exc:  # noqa: BLE001 - any failure to read is this value's
            reason = (
                f"value is not Avro of schema id {self.schema_id} ({type(exc).__name__}: {exc})"
            )
            raise NotAvro(reason[:300]) from None
        extra = len(value) - HEADER_BYTES - body.tell()
        if extra:
            raise NotAvro(
                f"value has {extra} bytes after its Avro record of schema id {self.schema_id}"
            )
        if not isinstance(user, dict):
            raise NotAvro(f"schema id {self.schema_id} does not describe a record")
        for path in self._instants:
            _to_iso(user, path.split("."))
        return user

    def as_json(self, value: bytes) -> bytes | None:
        """The value as its writer wrote it, as JSON (for a reject's raw value), or None
        when it cannot be read."""
        from fastavro import schemaless_reader

        try:
            user = schemaless_reader(io.BytesIO(value[HEADER_BYTES:]), self._writer, None)
            return json.dumps(user, ensure_ascii=False, default=str).encode()
        except Exception:  # noqa: BLE001 - then the raw value is described, not shown
            return None


def _to_iso(node: dict[str, Any], path: list[str]) -> None:
    """The epoch milliseconds at ``path`` as ISO-8601 text (the judge's dates)."""
    for name in path[:-1]:
        child = node.get(name)
        if not isinstance(child, dict):
            return
        node = child
    ms = node.get(path[-1])
    if isinstance(ms, int):
        try:
            node[path[-1]] = format_ms(ms)
        except (OverflowError, OSError, ValueError):
            raise NotAvro(f"{'.'.join(path)} is out of range") from None


class WriterSchemas:
    """Readers by schema id, fetched from the registry once per process and kept.

    ``conf`` is what confluent-kafka's ``SchemaRegistryClient`` takes
    (``registry.client_config.config``); ``reader_text`` the reader schema when it is not the
    project's (``kafka.value_schema``). An id the registry says it does not have is kept as
    its reject reason (ids are never reused).
    """

    def __init__(self, conf: dict[str, str], reader_text: str | None = None) -> None:
        self._conf = conf
        self._client: Any = None
        self._reader_schema = schemas.load() if reader_text is None else json.loads(reader_text)
        self._known: dict[int, Reader | str] = {}

    def add(self, schema_id: int, writer_text: str) -> None:
        """Know ``schema_id`` as ``writer_text`` without asking the registry (a schema the
        caller already holds: the tests, a registry-less replay of a dead-letter topic)."""
        try:
            self._known[schema_id] = Reader(schema_id, writer_text, self._reader_schema)
        except NotAvro as bad:
            self._known[schema_id] = str(bad)

    def get(self, schema_id: int) -> Reader | str | None:
        """The reader of ``schema_id``, its reject reason, or None when not fetched yet."""
        return self._known.get(schema_id)

    def fetch(self, ids: Iterable[int], deadline: float) -> None:
        """Fetch the writer schemas of ``ids`` not known yet. A registry that does not answer
        is retried until ``deadline`` (``time.monotonic``), then ``TransientError``; one that
        refuses the login is a ``TerminalError``."""
        missing = sorted({i for i in ids if i not in self._known})
        if not missing:
            return
        from confluent_kafka.schema_registry import SchemaRegistryClient
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        if self._client is None:
            self._client = SchemaRegistryClient(self._conf)
        url = self._conf.get("url", "?")
        for schema_id in missing:
            pause = 0.1
            while True:
                try:
                    schema = self._client.get_schema(schema_id)
                except SchemaRegistryError as exc:
                    if exc.http_status_code == 404:
                        self._known[schema_id] = (
                            f"schema id {schema_id} is not in the registry ({exc.error_message})"
                        )
                        break
                    if exc.http_status_code in (401, 403):
                        raise TerminalError(
                            f"The schema registry at {url} refused the stream's login "
                            f"({exc.http_status_code}: {exc.error_message}).",
                            hint="Check USERSTREAM_REGISTRY__USERNAME and __PASSWORD.",
                        ) from None
                    problem: Exception = exc
                except Exception as exc:  # noqa: BLE001 - a registry away, by any name
                    problem = exc
                else:
                    self.add(schema_id, schema.schema_str)
                    break
                if time.monotonic() + pause > deadline:
                    raise TransientError(
                        f"The schema registry at {url} does not answer for schema id "
                        f"{schema_id} ({type(problem).__name__}: {problem})"
                    )
                time.sleep(pause)
                pause = min(pause * 2, _RETRY_MAX_S)
