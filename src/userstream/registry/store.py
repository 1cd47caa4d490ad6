"""The registry's state: subjects, their versions, schema ids and compatibility levels,
rebuilt from its ``SchemaLog`` on start and changed only through it.

Records are Confluent's ``_schemas`` records (JSON keys and values), so the topic reads
the same in any Kafka tool:

- ``{"keytype":"SCHEMA","subject":S,"version":V,"magic":1}`` →
  ``{"subject":S,"version":V,"id":N,"schema":TEXT,"deleted":false}``;
- ``{"keytype":"CONFIG","subject":S|null,"magic":0}`` → ``{"compatibilityLevel":LEVEL}``.

Rules a caller can rely on: registering a schema a subject already has returns its id and
writes nothing; the same schema (``compatibility.parse``'s identity) has the same id in every
subject; a new id is the highest ever seen + 1, and an id handed to a write that failed is
never handed out again, so ids are never reused, also across restarts. A change is applied
only after ``SchemaLog.append`` returned (it is durable); when an append fails the state is
read from the log again before the next change. Safe to call from several threads.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass

from userstream.registry import api_errors
from userstream.registry.compatibility import (
    InvalidSchema,
    Level,
    Parsed,
    check,
    parse,
    refusal,
)
from userstream.registry.compatibility import level as level_of
from userstream.registry.log import SchemaLog, StoreError

log = logging.getLogger(__name__)

#: The largest version number (Confluent's: a Java int).
MAX_VERSION = 2**31 - 1


@dataclass(frozen=True)
class Version:
    """One version of a subject: what ``GET /subjects/{s}/versions/{v}`` answers."""

    subject: str
    version: int
    id: int
    schema: str

    def as_dict(self) -> dict[str, object]:
        return {"subject": self.subject, "version": self.version, "id": self.id,
                "schema": self.schema}  # fmt: skip


def _key(**fields: object) -> bytes:
    return json.dumps(fields, separators=(",", ":")).encode()


def version_number(text: str | int) -> int | None:
    """A version as the API names it: a number in [1, 2^31-1], or ``latest`` / ``-1``
    (None). Raises ``ApiError`` 42202 for anything else."""
    spelled = str(text)
    if spelled in ("latest", "-1"):
        return None
    if spelled.isdigit() and 1 <= int(spelled) <= MAX_VERSION:
        return int(spelled)
    raise api_errors.invalid_version(spelled)


class Registry:
    """The state of one registry over ``schema_log``; call ``load()`` before anything else.
    ``default_compatibility`` holds until ``PUT /config`` stores another."""

    def __init__(self, schema_log: SchemaLog, *, default_compatibility: Level = "BACKWARD"):
        self.log = schema_log
        self.default_compatibility: Level = default_compatibility
        self._lock = threading.RLock()
        self._stale = False
        #: The lowest id never handed out by this process (kept across a reload).
        self._reserved = 1
        self._clear()

    def _clear(self) -> None:
        self._subjects: dict[str, dict[int, Version]] = {}
        self._by_id: dict[int, str] = {}
        self._ids: dict[str, int] = {}  # identity → id
        self._parsed: dict[int, Parsed] = {}
        self._config: dict[str | None, Level] = {}
        self._next_id = 1

    # -- the log ----------------------------------------------------------------------------

    def load(self) -> None:
        """Rebuild the state from every record of the log."""
        with self._lock:
            self._clear()
            records = 0
            for key, value in self.log.replay():
                self._apply(key, value)
                records += 1
            self._stale = False
            self._next_id = max(self._next_id, self._reserved)
            log.info("registry_loaded records=%d subjects=%d schemas=%d next_id=%d", records,
                     len(self._subjects), len(self._by_id), self._next_id)  # fmt: skip

    def _apply(self, raw_key: bytes, raw_value: bytes | None) -> None:
        try:
            key = json.loads(raw_key)
            value = json.loads(raw_value) if raw_value is not None else None
            kind = key.get("keytype")
            subject = key.get("subject")
            if kind == "SCHEMA":
                number = int(key["version"])
                versions = self._subjects.setdefault(str(subject), {})
                if value is None or value.get("deleted"):
                    versions.pop(number, None)
                    if not versions:
                        self._subjects.pop(str(subject), None)
                    return
                found = Version(str(subject), number, int(value["id"]), str(value["schema"]))
                versions[number] = found
                self._by_id.setdefault(found.id, found.schema)
                self._ids.setdefault(parse(found.schema).identity, found.id)
                self._next_id = max(self._next_id, found.id + 1)
            elif kind == "CONFIG":
                if value is None:
                    self._config.pop(subject, None)
                else:
                    self._config[subject] = level_of(value["compatibilityLevel"])
        except (ValueError, KeyError, TypeError, AttributeError, InvalidSchema) as exc:
            log.warning("registry_record_skipped key=%r error=%s", raw_key[:200], exc)

    def _store(self, key: bytes, value: bytes) -> None:
        """Append, then apply: nothing changes unless the log stored it."""
        if self._stale:
            self.load()
        try:
            self.log.append(key, value)
        except StoreError as exc:
            self._stale = True
            log.error("registry_store_failed key=%s error=%s", key.decode(), exc)
            raise api_errors.store_error(str(exc)) from exc
        self._apply(key, value)

    # -- reads ------------------------------------------------------------------------------

    def subjects(self) -> list[str]:
        with self._lock:
            return sorted(self._subjects)

    def _versions(self, subject: str) -> dict[int, Version]:
        versions = self._subjects.get(subject)
        if not versions:
            raise api_errors.subject_not_found(subject)
        return versions

    def versions(self, subject: str) -> list[int]:
        """The subject's version numbers, ascending; ``ApiError`` 40401 when it has none."""
        with self._lock:
            return sorted(self._versions(subject))

    def version(self, subject: str, version: str | int) -> Version:
        """One version (a number, ``latest`` or ``-1``); ``ApiError`` 40401, 40402 or 42202."""
        number = version_number(version)
        with self._lock:
            versions = self._versions(subject)
            if number is None:
                return versions[max(versions)]
            if number not in versions:
                raise api_errors.version_not_found(number)
            return versions[number]

    def schema(self, schema_id: int) -> str:
        """The schema text of ``schema_id``; ``ApiError`` 40403 when there is none."""
        with self._lock:
            if schema_id not in self._by_id:
                raise api_errors.schema_not_found(f"Schema {schema_id} not found")
            return self._by_id[schema_id]

    def uses(self, schema_id: int) -> list[tuple[str, int]]:
        """(subject, version) of every version that has ``schema_id``; 40403 when none."""
        with self._lock:
            self.schema(schema_id)
            return sorted(
                (v.subject, v.version)
                for versions in self._subjects.values()
                for v in versions.values()
                if v.id == schema_id
            )

    def lookup(self, subject: str, text: str) -> Version:
        """The subject's version holding ``text`` (the earliest); 40401, 40403, 42201."""
        parsed = self._parse(text)
        with self._lock:
            for number, found in sorted(self._versions(subject).items()):
                if self._ids.get(parsed.identity) == found.id:
                    return self._subjects[subject][number]
            raise api_errors.schema_not_found()

    def compatibility(self, subject: str | None = None) -> Level | None:
        """The level set for ``subject`` (None: not set), or the global one."""
        with self._lock:
            if subject is None:
                return self._config.get(None, self.default_compatibility)
            return self._config.get(subject)

    def effective_compatibility(self, subject: str) -> Level:
        with self._lock:
            return self._config.get(subject) or self._config.get(None, self.default_compatibility)

    # -- checks and writes ------------------------------------------------------------------

    @staticmethod
    def _parse(text: object) -> Parsed:
        if not isinstance(text, str):
            raise api_errors.invalid_schema("the body has no schema text")
        try:
            return parse(text)
        except InvalidSchema as exc:
            raise api_errors.invalid_schema(str(exc)) from None

    def test(self, subject: str, version: str | int, text: str) -> list[str]:
        """Avro's findings against one version of the subject, under its level (empty:
        compatible). ``ApiError`` 40401, 40402, 42201, 42202."""
        parsed = self._parse(text)
        with self._lock:
            against = self.version(subject, version)
            old = self._parsed_schema(against.id)
            compat = self.effective_compatibility(subject)
            return check(compat.removesuffix("_TRANSITIVE"), parsed,  # type: ignore[arg-type]
                         [(against.version, old)])  # fmt: skip

    def _parsed_schema(self, schema_id: int) -> Parsed:
        if schema_id not in self._parsed:
            self._parsed[schema_id] = parse(self._by_id[schema_id])
        return self._parsed[schema_id]

    def register(self, subject: str, text: str) -> int:
        """The id of ``text`` under ``subject``, registered as its next version when new and
        compatible. ``ApiError`` 409 (Avro's findings in the message), 42201, 50001."""
        parsed = self._parse(text)
        with self._lock:
            if self._stale:
                self.load()
            versions = self._subjects.get(subject, {})
            known = self._ids.get(parsed.identity)
            for found in versions.values():
                if found.id == known:
                    return found.id
            compat = self.effective_compatibility(subject)
            history = [(n, self._parsed_schema(v.id)) for n, v in sorted(versions.items())]
            findings = check(compat, parsed, history)
            if findings:
                log.info("schema_refused subject=%s compatibility=%s findings=%d",
                         subject, compat, len(findings))  # fmt: skip
                raise api_errors.incompatible(refusal(subject, compat, findings))
            schema_id = known if known is not None else self._next_id
            # Never again, even when the write fails (it may still land later).
            self._next_id = self._reserved = max(self._next_id, schema_id + 1)
            number = max(versions, default=0) + 1
            stored = self._by_id.get(schema_id, parsed.text)
            value = {"subject": subject, "version": number, "id": schema_id,
                     "schema": stored, "deleted": False}  # fmt: skip
            self._store(
                _key(keytype="SCHEMA", subject=subject, version=number, magic=1),
                json.dumps(value).encode(),
            )
            log.info("schema_registered subject=%s version=%d id=%d", subject, number, schema_id)
            return schema_id

    def set_compatibility(self, subject: str | None, wanted: object) -> Level:
        """Store ``subject``'s level (None: the global one). ``ApiError`` 42203, 50001."""
        try:
            chosen = level_of(wanted)
        except ValueError:
            raise api_errors.invalid_compatibility_level(wanted) from None
        with self._lock:
            self._store(
                _key(keytype="CONFIG", subject=subject, magic=0),
                json.dumps({"compatibilityLevel": chosen}).encode(),
            )
            log.info("compatibility_set subject=%s level=%s", subject or "(global)", chosen)
            return chosen
