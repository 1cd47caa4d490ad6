"""One Kafka record → one stored profile or one reject with a reason. Pure Python.

``judge`` is the whole contract of the stream in one function: it parses the value once,
checks the type, length and shape of every field, cleans what it keeps, and returns either
a ``Profile`` (the columns to write; absent fields are simply not there, so nothing is
written for them and Cassandra stores no tombstone) or a ``Reject`` (a sentence a person
can act on). Nothing here reads the clock, a random source or the network: the same record
always gives the same answer, which is what makes a replayed micro-batch converge to the
same tables. It never raises on input.

Rules, in the order they are checked (the first that fails is the reason):

- the message: a value (not empty), at most ``MAX_MESSAGE_BYTES``; Confluent Avro when its
  first byte is ``0x00`` (read with its writer schema and the project's schema as reader:
  ``avro_reader``; a short header, an unknown schema id, truncated or trailing bytes are
  reasons), otherwise UTF-8 JSON without duplicate keys, nested at most ``MAX_DEPTH``
  levels, an object;
- the key: present, and byte-for-byte the record's ``login.uuid`` (the producer keys every
  user by it, so one user always lands in one partition);
- types: every known field has the JSON type the API sends (objects where the API sends
  objects, text where it sends text; ``postcode`` text or integer; ``street.number`` an
  integer; coordinates text or number); unknown fields are ignored, credentials
  (``login.password``, ``salt`` and hashes; our producer drops them, another may not) are
  never read, and what a reject keeps of the raw value has them removed (``redact``);
- text: at most ``MAX_TEXT_CHARS`` characters and no control or invisible characters
  (zero-width space, BOM, word joiner, bidi overrides; the zero-width (non-)joiner of
  Persian and Indic scripts is kept);
- required: ``login.uuid`` a canonical lower-case UUID, ``name.first``, ``name.last``,
  ``email`` shaped like ``local@domain.tld``, ``dob.date`` an ISO-8601 time, ``nat``;
- dates (``dob.date``, ``registered.date`` when present): parseable, not before 1900, not
  after the record's ``ingested_at``.
- added fields (top-level fields of the schema in use beyond the project's,
  ``schemas.added_fields``): the JSON type of their Avro type, text by the text rules,
  integers within their range; a required one present. Each is stored in its own column.

Cleaning (deterministic): surrounding whitespace removed and an empty result is absent;
``email`` and ``gender`` lower-cased, ``nat`` upper-cased; dates to UTC; ``age`` in whole
years at ``ingested_at``; ``postcode`` text with leading zeros; coordinates a number within
±90/±180, else absent. ``ingested_at`` is the producer's header (ISO-8601 or epoch ms),
else the Kafka timestamp.

A profile carries a ``fingerprint`` of its content (not its lineage): the sink rejects a
record whose uuid is already stored with another fingerprint ("duplicates of a stored user
with other values"), while a replay or a producer retry of the same user is an upsert.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import orjson

from userstream.contract import EMAIL_PATTERN, H_INGESTED_AT, H_SOURCE_URL, UUID_PATTERN
from userstream.credentials import redact as redact  # what a reject keeps (table, DLQ)
from userstream.schemas import AddedField
from userstream.streaming import avro_reader

#: The largest value accepted (a real user is ~1.1 KB).
MAX_MESSAGE_BYTES = 32 * 1024
#: The longest text accepted in any field (a real user's longest is ~60 characters).
MAX_TEXT_CHARS = 255
#: Deepest nesting accepted (a real user is 3 levels deep).
MAX_DEPTH = 6
#: What the stream reads of a value too large to accept, and what the rejects table and the
#: DLQ keep of a raw value.
MAX_RAW_CHARS = 16 * 1024
#: What the stream reads of a key (a uuid is 36 bytes).
MAX_KEY_BYTES = 1024

_UUID = re.compile(UUID_PATTERN)
_EMAIL = re.compile(EMAIL_PATTERN, re.ASCII)
_EPOCH_MS = re.compile(r"^[0-9]{1,15}$")
_DECIMAL = re.compile(r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]{1,3})?$")
_INT64 = 2**63
# Not text a person can see or type: controls (Cc), formatting characters (Cf: zero-width
# space, BOM, bidi overrides, soft hyphen, tags, ...), line/paragraph separators (Zl, Zp),
# private use (Co), lone surrogates from JSON escapes (Cs), and the Hangul fillers. The
# zero-width (non-)joiner (U+200C/U+200D) is kept: Persian and Indic text uses it.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs"})
_ALLOWED_FORMAT = frozenset("\u200c\u200d")
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")


def _hidden(text: str) -> bool:
    """True when ``text`` holds a character that is not visible text (see above)."""
    if text.isascii():
        return not text.isprintable()
    return any(
        (unicodedata.category(c) in _HIDDEN_CATEGORIES and c not in _ALLOWED_FORMAT)
        or c in _FILLERS
        for c in text
    )


_INT32 = 2**31
_EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)

# The API's shape: field → expected kind, nested like the record. "text" leaves, "int"
# integers, "text|int" (postcode), "number" (text or a JSON number); dicts are objects.
_SHAPE: dict[str, Any] = {
    "gender": "text",
    "name": {"title": "text", "first": "text", "last": "text"},
    "location": {
        "street": {"number": "int", "name": "text"},
        "city": "text",
        "state": "text",
        "country": "text",
        "postcode": "text|int",
        "coordinates": {"latitude": "number", "longitude": "number"},
        "timezone": {"offset": "text", "description": "text"},
    },
    "email": "text",
    "login": {"uuid": "text", "username": "text"},
    "dob": {"date": "text", "age": "int"},
    "registered": {"date": "text", "age": "int"},
    "phone": "text",
    "cell": "text",
    "id": {"name": "text", "value": "text"},
    "picture": {"large": "text", "medium": "text", "thumbnail": "text"},
    "nat": "text",
}
_WANT = {
    "text": "text",
    "int": "an integer",
    "text|int": "text or an integer",
    "number": "text or a number",
}


def _fits(value: Any, kind: str) -> bool:
    kind_of = type(value)  # JSON gives exact types; a bool is not a number here
    if kind == "text":
        return kind_of is str
    if kind == "int":
        return kind_of is int
    if kind == "text|int":
        return kind_of is str or kind_of is int
    return kind_of is str or kind_of is int or kind_of is float


#: ``_SHAPE`` compiled once: (name, dotted path, kind, children) per field; an object has
#: its fields as children (and no kind), a leaf its kind (and None).
_Fields = tuple[tuple[str, str, str, Any], ...]


def _compile(shape: dict[str, Any], prefix: str = "") -> _Fields:
    return tuple(
        (name, prefix + name, "", _compile(kind, prefix + name + "."))
        if isinstance(kind, dict)
        else (name, prefix + name, kind, None)
        for name, kind in shape.items()
    )


_FIELDS = _compile(_SHAPE)


# Stored text column → the field it comes from.
_TEXT_COLUMNS: dict[str, str] = {
    "gender": "gender",
    "title": "name.title",
    "first_name": "name.first",
    "last_name": "name.last",
    "email": "email",
    "username": "login.username",
    "phone": "phone",
    "cell": "cell",
    "street_name": "location.street.name",
    "city": "location.city",
    "state": "location.state",
    "country": "location.country",
    "postcode": "location.postcode",
    "timezone_offset": "location.timezone.offset",
    "timezone_description": "location.timezone.description",
    "nationality": "nat",
    "id_name": "id.name",
    "id_value": "id.value",
    "picture_large": "picture.large",
    "picture_medium": "picture.medium",
    "picture_thumbnail": "picture.thumbnail",
}
#: Content columns filled from a field by a rule of their own (not as cleaned text).
DERIVED_COLUMNS: dict[str, str] = {
    "id": "login.uuid",
    "dob": "dob.date",
    "registered_at": "registered.date",
    "street_number": "location.street.number",
    "latitude": "location.coordinates.latitude",
    "longitude": "location.coordinates.longitude",
}
#: Fields that are read and checked but not stored: the API's ages count to its own clock
#: (the ``age`` column is recomputed from ``dob`` at ingestion).
NOT_STORED = frozenset({"dob.age", "registered.age"})


def field_kinds() -> dict[str, str]:
    """Every field the judge reads (dotted path) and the JSON kind it wants."""

    def walk(fields: _Fields) -> dict[str, str]:
        found: dict[str, str] = {}
        for _, path, kind, children in fields:
            found.update(walk(children) if children is not None else {path: kind})
        return found

    return walk(_FIELDS)


def field_columns() -> dict[str, str]:
    """Every content column of ``user_profiles`` and the field it comes from."""
    return {**_TEXT_COLUMNS, **DERIVED_COLUMNS}


#: Columns that are lineage, not content: they may differ between copies of one user.
LINEAGE = frozenset(
    {"ingested_at", "processed_at", "source_url", "kafka_partition", "kafka_offset", "age"}
)


@dataclass(frozen=True)
class Record:
    """A Kafka record as the stream reads it."""

    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    #: The value's size in bytes when ``value`` holds only its beginning (the stream reads
    #: no more than a prefix of a value too large to accept); None when ``value`` is whole.
    size: int | None = None
    #: Likewise for the key.
    key_size: int | None = None

    @property
    def value_size(self) -> int:
        return self.size if self.size is not None else len(self.value or b"")

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name and value is not None:
                return value.decode("utf-8", errors="replace")
        return None


@dataclass(frozen=True)
class Profile:
    """The columns to write (absent ones left out) and the content's fingerprint."""

    columns: dict[str, Any]
    fingerprint: bytes

    @property
    def id(self) -> str:
        return str(self.columns["id"])


@dataclass(frozen=True)
class Reject:
    reason: str
    ingested_at: dt.datetime | None = field(default=None)


class _Bad(Exception):
    """A rule failed; the message is the reject reason."""


def ingested_at(record: Record) -> dt.datetime | None:
    """The producer's ``ingested_at`` header (ISO-8601 or epoch ms), else the Kafka timestamp."""
    text = record.header(H_INGESTED_AT)
    if text is not None:
        parsed = _instant(text.strip())
        if parsed is not None:
            return parsed
    if record.timestamp_ms is not None and record.timestamp_ms >= 0:
        return _instant(str(record.timestamp_ms))
    return None


class SchemaNotFetched(RuntimeError):
    """An Avro value's writer schema was not fetched before judging (a caller's mistake)."""


def judge(
    record: Record,
    writers: avro_reader.WriterSchemas | None = None,
    added: tuple[AddedField, ...] = (),
) -> Profile | Reject:
    """A ``Profile`` to store or a ``Reject`` with the first broken rule. Never raises on
    input. An Avro value is read with ``writers``, which must already hold its schema id
    (``WriterSchemas.fetch``): judging does no I/O. ``added``: the fields of the schema in
    use beyond the project's (``schemas.added_fields``), each checked by its type and stored
    in its column."""
    at = None
    try:
        at = ingested_at(record)
        user: dict[str, Any] = {}
        parsed = _parse(record, writers)
        _leaves(parsed, _FIELDS, user)
        _check_key(record.key, user)
        return _profile(user, record, at, _added(parsed, added))
    except _Bad as bad:
        return Reject(str(bad), at)
    except SchemaNotFetched:
        raise
    except Exception as exc:  # noqa: BLE001 - a rule we did not foresee must not stop the stream
        return Reject(f"the record could not be judged ({type(exc).__name__}: {exc})"[:500], at)


def raw_text(data: bytes | None, limit: int = MAX_RAW_CHARS) -> str | None:
    """Bytes as text for the rejects table: undecodable bytes replaced, cut at ``limit``."""
    if data is None:
        return None
    text = data[: limit * 4].decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[:limit] + f"… [cut at {limit} characters]"


def raw_value(record: Record, writers: avro_reader.WriterSchemas | None = None) -> str | None:
    """What a reject row keeps of the value, without credentials: JSON as it arrived; an
    Avro value as JSON of what its writer wrote, or a description when it cannot be read
    (the dead-letter topic keeps its bytes)."""
    schema_id = avro_reader.schema_id(record.value)
    if schema_id is None or record.size is not None:
        return raw_text(redact(record.value))
    reader = writers.get(schema_id) if writers is not None else None
    data = reader.as_json(record.value or b"") if isinstance(reader, avro_reader.Reader) else None
    if data is None:
        return f"(Avro of schema id {schema_id}, {record.value_size} bytes, not readable)"
    return raw_text(redact(data))


def _parse(record: Record, writers: avro_reader.WriterSchemas | None) -> dict[str, Any]:
    value = record.value
    size = record.value_size
    if size > MAX_MESSAGE_BYTES:
        raise _Bad(f"message of {size} bytes exceeds the limit of {MAX_MESSAGE_BYTES} bytes")
    if value is None or not value.strip():
        raise _Bad("empty value")
    if value[:1] == avro_reader.MAGIC:
        return _parse_avro(value, writers)
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Bad(f"value is not valid UTF-8 (byte {exc.start})") from None
    if text.startswith("\ufeff"):
        raise _Bad("value starts with a byte order mark")
    parsed = _parse_fast(value)
    if parsed is None:
        parsed = _parse_strict(text)
    if not isinstance(parsed, dict):
        raise _Bad(f"value is a JSON {_kind(parsed)}, not an object")
    # A real user has a dozen brackets; only a value with many can nest too deep.
    if value.count(b"{") + value.count(b"[") > 2 * MAX_DEPTH and _depth(parsed) > MAX_DEPTH:
        raise _Bad(f"value nests deeper than {MAX_DEPTH} levels")
    return parsed


def _parse_avro(value: bytes, writers: avro_reader.WriterSchemas | None) -> dict[str, Any]:
    schema_id = avro_reader.schema_id(value)
    if schema_id is None:
        raise _Bad(
            f"Avro value of {len(value)} bytes is shorter than its "
            f"{avro_reader.HEADER_BYTES}-byte header"
        )
    reader = writers.get(schema_id) if writers is not None else None
    if reader is None:
        raise SchemaNotFetched(f"schema id {schema_id} was not fetched before judging")
    if isinstance(reader, str):
        raise _Bad(reader)
    try:
        return reader.read(value)
    except avro_reader.NotAvro as exc:
        raise _Bad(str(exc)) from None


def _parse_fast(value: bytes) -> Any:
    """``value`` parsed by orjson when that is certainly what ``_parse_strict`` would give,
    else None (the strict parser then finds the reason, or the same result). Certain: an
    object orjson takes, without a backslash (so every quote starts or ends a string), with
    as many strings as the result has keys and text values (so no key is there twice), and
    no number beyond 64 bits (orjson reads a huge integer as a float)."""
    if b"\\" in value:
        return None
    try:
        parsed = orjson.loads(value)
        if type(parsed) is not dict:
            return None
        return parsed if 2 * _strings(parsed) == value.count(b'"') else None
    except (orjson.JSONDecodeError, RecursionError, _Unsure):
        return None


class _Unsure(Exception):
    """The fast parse may differ from the strict one."""


def _strings(node: Any) -> int:
    """Keys and text values in a parsed object or array, at every depth."""
    items = node.values() if type(node) is dict else node
    count = len(node) if type(node) is dict else 0
    for child in items:
        kind = type(child)
        if kind is str:
            count += 1
        elif kind is dict or kind is list:
            count += _strings(child)
        elif kind is float and not -_INT64 <= child < _INT64:
            raise _Unsure
    return count


def _parse_strict(text: str) -> Any:
    """The standard library's parser with our rules: no key twice, no NaN or Infinity."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constants)
    except _Bad:
        raise
    except RecursionError:
        raise _Bad(f"value nests deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        raise _Bad("value is not valid JSON") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Bad(f"value has the key {key[:40]!r} twice")
            seen.add(key)
    return result


def _no_constants(name: str) -> Any:
    raise _Bad(f"value is not valid JSON ({name} is not a JSON number)")


def _depth(value: Any, level: int = 1) -> int:
    if level > MAX_DEPTH:
        return level
    children = (
        value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    )
    return max(
        (_depth(c, level + 1) for c in children if isinstance(c, dict | list)), default=level
    )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _check_key(key: bytes | None, user: dict[str, Any]) -> None:
    """The uuid is the primary key and the message key: both must be the same canonical text."""
    uuid = user.get("login.uuid")
    if uuid is None or not uuid.strip():
        raise _Bad("login.uuid is missing")
    if not _UUID.match(uuid):
        raise _Bad("login.uuid is not a canonical lower-case UUID")
    if key is None:
        raise _Bad("message has no key (the producer keys every user by login.uuid)")
    if key != uuid.encode():
        shown = key[:40].decode("utf-8", errors="replace")
        raise _Bad(f"message key {shown!r} does not match login.uuid")


def _leaves(node: dict[str, Any], fields: _Fields, out: dict[str, Any]) -> None:
    """Check ``node`` against ``fields``; put its known leaves in ``out`` by dotted path."""
    for name, path, kind, children in fields:
        value = node.get(name)
        if value is None:
            continue
        if children is not None:
            if type(value) is not dict:
                raise _Bad(f"{path} must be an object, not a JSON {_kind(value)}")
            _leaves(value, children, out)
            continue
        if not _fits(value, kind):
            raise _Bad(f"{path} must be {_WANT[kind]}, not a JSON {_kind(value)}")
        if type(value) is str:
            _check_text(path, value)
        elif type(value) is int and not -_INT64 <= value < _INT64:
            raise _Bad(f"{path} is out of range")
        out[path] = value


def _check_text(path: str, value: str) -> None:
    """The text rules every text value obeys: a bounded length, nothing hidden."""
    if len(value) > MAX_TEXT_CHARS:
        raise _Bad(f"{path} is {len(value)} characters long (the limit is {MAX_TEXT_CHARS})")
    if _hidden(value):
        raise _Bad(f"{path} contains control or invisible characters")


def _text(user: dict[str, Any], path: str) -> str | None:
    value = user.get(path)
    if value is None:
        return None
    cleaned = str(value).strip()
    return cleaned or None


def _instant(text: str) -> dt.datetime | None:
    """ISO-8601 (``Z`` or an offset; naive means UTC) or epoch milliseconds; None if neither."""
    try:
        if _EPOCH_MS.match(text):
            return dt.datetime.fromtimestamp(int(text) / 1000, dt.UTC)
        parsed = dt.datetime.fromisoformat(text)
        return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _date(user: dict[str, Any], path: str, at: dt.datetime | None) -> dt.datetime | None:
    text = _text(user, path)
    if text is None:
        return None
    parsed = None if _EPOCH_MS.match(text) else _instant(text)
    if parsed is None:
        raise _Bad(f"{path} is not an ISO-8601 timestamp")
    if parsed < _EARLIEST:
        raise _Bad(f"{path} is before 1900")
    if at is not None and parsed > at:
        raise _Bad(f"{path} is after the record was ingested")
    return parsed


def _coordinate(user: dict[str, Any], path: str, limit: float) -> float | None:
    """A plain decimal number (ASCII digits; no ``1_0``, no other scripts' digits) within
    ±``limit``, else None."""
    value = user.get(path)
    if value is None:
        return None
    text = str(value).strip()
    if not _DECIMAL.match(text):
        return None
    number = float(text)
    return number if abs(number) <= limit else None


def age_at(born: dt.datetime, at: dt.datetime) -> int:
    """Whole years between two instants (UTC calendar)."""
    before_birthday = (at.month, at.day) < (born.month, born.day)
    return at.year - born.year - (1 if before_birthday else 0)


#: What each added field's Avro type wants of a JSON value (a bool is not a number here).
_ADDED_KINDS: dict[str, tuple[tuple[type, ...], str, int | None]] = {
    "string": ((str,), "text", None),
    "int": ((int,), "an integer", _INT32),
    "long": ((int,), "an integer", _INT64),
    "float": ((int, float), "a number", None),
    "double": ((int, float), "a number", None),
    "boolean": ((bool,), "true or false", None),
}


def _added(parsed: dict[str, Any], added: tuple[AddedField, ...]) -> dict[str, Any]:
    """The columns of the added fields present in ``parsed``, checked by their type."""
    columns: dict[str, Any] = {}
    for field_ in added:
        value = parsed.get(field_.name)
        types, want, bound = _ADDED_KINDS[field_.avro]
        if value is None:
            if not field_.optional:
                raise _Bad(f"{field_.name} is missing")
            continue
        if type(value) not in types:
            raise _Bad(f"{field_.name} must be {want}, not a JSON {_kind(value)}")
        if bound is not None and not -bound <= value < bound:
            raise _Bad(f"{field_.name} is out of range")
        if type(value) is float and not math.isfinite(value):
            raise _Bad(f"{field_.name} is not a finite number")
        if type(value) is str:
            _check_text(field_.name, value)
            value = value.strip()
            if not value:
                continue
        columns[field_.name] = float(value) if want == "a number" else value
    return columns


def _profile(
    user: dict[str, Any], record: Record, at: dt.datetime | None, added: dict[str, Any]
) -> Profile:
    columns: dict[str, Any] = {"id": user["login.uuid"], **added}
    for column, path in _TEXT_COLUMNS.items():
        text = _text(user, path)
        if text is not None:
            columns[column] = text
    for column, path in (("first_name", "name.first"), ("last_name", "name.last")):
        if column not in columns:
            raise _Bad(f"{path} is missing")
    email = columns.get("email")
    if email is None:
        raise _Bad("email is missing")
    if not _EMAIL.match(email):
        raise _Bad("email is not a valid address")
    columns["email"] = email.lower()
    if "gender" in columns:
        columns["gender"] = columns["gender"].lower()
    dob = _date(user, "dob.date", at)
    if dob is None:
        raise _Bad("dob.date is missing")
    columns["dob"] = dob
    if "nationality" not in columns:
        raise _Bad("nat is missing")
    columns["nationality"] = columns["nationality"].upper()
    registered = _date(user, "registered.date", at)
    if registered is not None:
        columns["registered_at"] = registered
    number = user.get("location.street.number")
    if number is not None:
        if not -_INT32 <= number < _INT32:
            raise _Bad("location.street.number is out of range")
        columns["street_number"] = number
    for column, path, limit in (
        ("latitude", "location.coordinates.latitude", 90.0),
        ("longitude", "location.coordinates.longitude", 180.0),
    ):
        coordinate = _coordinate(user, path, limit)
        if coordinate is not None:
            columns[column] = coordinate
    content = {k: v for k, v in columns.items() if k not in LINEAGE}
    fingerprint = hashlib.blake2b(
        orjson.dumps(content, option=orjson.OPT_SORT_KEYS), digest_size=16
    ).digest()
    if at is not None:
        columns["age"] = age_at(dob, at)
        columns["ingested_at"] = at
    source_url = record.header(H_SOURCE_URL)
    if source_url:
        columns["source_url"] = source_url[: MAX_TEXT_CHARS * 4]
    columns["kafka_partition"] = record.partition
    columns["kafka_offset"] = record.offset
    return Profile(columns, fingerprint)
