"""Poison: messages the stream must reject with one exact reason each, and never stop on.

``catalogue(seed)`` returns ``Poison`` entries built around valid users of the stand-in
generator, each with its own uuid, so the same list serves the pure unit test of
``records.judge`` and the integration test against real Kafka, Spark and Cassandra.
Entries whose reason depends on what is already stored (``needs_stored``) are checked in
the integration test only.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from userstream.source.standin.data import make_page
from userstream.streaming.records import MAX_DEPTH, MAX_MESSAGE_BYTES, MAX_TEXT_CHARS

INGESTED_AT = b"2026-11-23T10:00:00.123Z"


@dataclass(frozen=True)
class Poison:
    name: str
    key: bytes | None
    value: bytes
    reason: str
    needs_stored: bool = False


def _dumps(user: Any) -> bytes:
    return orjson.dumps(user)


def catalogue(seed: str) -> tuple[list[dict[str, Any]], list[Poison]]:
    """(users to store first, the poison). The first user is the "stored" one the
    duplicate-with-other-values entry refers to."""
    users = make_page(f"poison-{seed}", 1, 64)
    stored, bases = users[0], iter(users[1:])

    def base() -> dict[str, Any]:
        return copy.deepcopy(next(bases))

    def changed(name: str, edit: Callable[[dict[str, Any]], None], reason: str) -> Poison:
        user = base()
        key = user["login"]["uuid"].encode()
        edit(user)
        return Poison(name, key, _dumps(user), reason)

    def set_path(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
        def edit(user: dict[str, Any]) -> None:
            *parents, leaf = path.split(".")
            node = user
            for part in parents:
                node = node[part]
            node[leaf] = value

        return edit

    def raw(name: str, text: bytes, reason: str, key: bytes | None = None) -> Poison:
        return Poison(name, key if key is not None else str(uuid.uuid4()).encode(), text, reason)

    huge = base()
    huge["location"]["country"] = "X" * 70_000
    huge_value = _dumps(huge)
    over_mb = base()
    over_mb["extra"] = "y" * 1_200_000
    over_mb_value = _dumps(over_mb)
    truncated = _dumps(base())[:-7]
    deep = base()
    nested: Any = "bottom"
    for _ in range(40):
        nested = {"n": nested}
    deep["extra"] = nested
    very_deep = b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}"
    dup = base()
    dup_text = json.dumps(dup)[:-1] + ', "email": "other@example.com"}'
    bom_value = b"\xef\xbb\xbf" + _dumps(base())
    surrogate = base()
    surrogate_text = json.dumps(surrogate).replace(
        json.dumps(surrogate["name"]["first"]), '"La\\ud800ura"', 1
    )
    bad_utf8 = base()
    bad_utf8_value = _dumps(bad_utf8).replace(b'"gender":"', b'"gender":"\xff\xfe', 1)
    upper = base()
    upper["login"]["uuid"] = upper["login"]["uuid"].upper()
    mismatch = base()
    other_stored = copy.deepcopy(stored)
    other_stored["name"]["first"] = "Somebody Else"
    bad_byte = bad_utf8_value.index(b"\xff")
    long_postcode = base()
    long_postcode_value = (
        json.dumps(long_postcode)
        .replace(json.dumps(long_postcode["location"]["postcode"]), "9" * 1000, 1)
        .encode()
    )

    poison = [
        raw("not JSON", b"this is not json", "value is not valid JSON"),
        raw("truncated JSON", truncated, "value is not valid JSON"),
        raw("empty value", b"", "empty value"),
        raw("only whitespace", b"  \n ", "empty value"),
        raw("JSON array", b"[1, 2, 3]", "value is a JSON array, not an object"),
        raw("JSON string", b'"hello"', "value is a JSON string, not an object"),
        raw("JSON number", b"42", "value is a JSON number, not an object"),
        raw("JSON null", b"null", "value is a JSON null, not an object"),
        raw("NaN", b'{"dob": {"age": NaN}}', "value is not valid JSON (NaN is not a JSON number)"),
        raw("an integer of 5000 digits", b'{"dob": {"age": ' + b"9" * 5000 + b"}}",
            "value is not valid JSON"),
        Poison("duplicate keys", dup["login"]["uuid"].encode(), dup_text.encode(),
               "value has the key 'email' twice"),
        changed("40 levels deep", lambda u: u.update(extra=deep["extra"]),
                f"value nests deeper than {MAX_DEPTH} levels"),
        raw("5000 levels deep", very_deep, f"value nests deeper than {MAX_DEPTH} levels"),
        Poison("a 70 KB country", huge["login"]["uuid"].encode(), huge_value,
               f"message of {len(huge_value)} bytes exceeds the limit of "
               f"{MAX_MESSAGE_BYTES} bytes"),
        Poison("a message over 1 MB", over_mb["login"]["uuid"].encode(), over_mb_value,
               f"message of {len(over_mb_value)} bytes exceeds the limit of "
               f"{MAX_MESSAGE_BYTES} bytes"),
        changed("a 300-character first name", set_path("name.first", "L" * 300),
                f"name.first is 300 characters long (the limit is {MAX_TEXT_CHARS})"),
        changed("name is text", set_path("name", "Laura Woods"),
                "name must be an object, not a JSON string"),
        changed("first name is a number", set_path("name.first", 42),
                "name.first must be text, not a JSON number"),
        changed("city is an object", set_path("location.city", {"a": 1}),
                "location.city must be text, not a JSON object"),
        changed("email is an array", set_path("email", ["a@example.com"]),
                "email must be text, not a JSON array"),
        changed("street number is a boolean", set_path("location.street.number", True),
                "location.street.number must be an integer, not a JSON boolean"),
        changed("street number out of range", set_path("location.street.number", 2**40),
                "location.street.number is out of range"),
        changed("postcode is a fraction", set_path("location.postcode", 12.5),
                "location.postcode must be text or an integer, not a JSON number"),
        changed("coordinates are an array", set_path("location.coordinates", []),
                "location.coordinates must be an object, not a JSON array"),
        changed("login is text", set_path("login", "x"),
                "login must be an object, not a JSON string"),
        changed("dob is not a date", set_path("dob.date", "last tuesday"),
                "dob.date is not an ISO-8601 timestamp"),
        changed("dob in the future", set_path("dob.date", "2999-01-01T00:00:00.000Z"),
                "dob.date is after the record was ingested"),
        changed("dob before 1900", set_path("dob.date", "1850-06-01T00:00:00.000Z"),
                "dob.date is before 1900"),
        changed("registered in the future", set_path("registered.date", "2030-01-01T00:00:00Z"),
                "registered.date is after the record was ingested"),
        Poison("non-UTF-8 bytes", bad_utf8["login"]["uuid"].encode(), bad_utf8_value,
               f"value is not valid UTF-8 (byte {bad_byte})"),
        raw("a BOM before the JSON", bom_value, "value starts with a byte order mark"),
        changed("a BOM in the first name", set_path("name.first", "\ufeffLaura"),
                "name.first contains control or invisible characters"),
        changed("a zero-width space in the last name", set_path("name.last", "Wo\u200bods"),
                "name.last contains control or invisible characters"),
        changed("a NUL in the city", set_path("location.city", "Bless\x00ington"),
                "location.city contains control or invisible characters"),
        changed("a line separator in the first name", set_path("name.first", "La\u2028ura"),
                "name.first contains control or invisible characters"),
        changed("a soft hyphen in the last name", set_path("name.last", "Wo\u00adods"),
                "name.last contains control or invisible characters"),
        Poison("a postcode of 1000 digits", long_postcode["login"]["uuid"].encode(),
               long_postcode_value, "location.postcode is out of range"),
        changed("a dob in year 1 with an offset", set_path("dob.date", "0001-01-01T00:00:00+01:00"),
                "dob.date is not an ISO-8601 timestamp"),
        Poison("a key of 100 KB", b"k" * 100_000, _dumps(base()),
               f"message key {'k' * 40!r} does not match login.uuid"),
        Poison("a lone surrogate in the first name", surrogate["login"]["uuid"].encode(),
               surrogate_text.encode(), "name.first contains control or invisible characters"),
        Poison("no key", None, _dumps(base()),
               "message has no key (the producer keys every user by login.uuid)"),
        Poison("key is not the uuid", b"00000000-0000-4000-8000-000000000001",
               _dumps(mismatch),
               "message key '00000000-0000-4000-8000-000000000001' does not match login.uuid"),
        Poison("uuid in upper case", upper["login"]["uuid"].encode(), _dumps(upper),
               "login.uuid is not a canonical lower-case UUID"),
        changed("uuid missing", set_path("login.uuid", None), "login.uuid is missing"),
        changed("email without a domain", set_path("email", "laura.woods"),
                "email is not a valid address"),
        changed("first name missing", lambda u: u["name"].pop("first"), "name.first is missing"),
        changed("nat missing", lambda u: u.pop("nat"), "nat is missing"),
        Poison("a stored user with other values", stored["login"]["uuid"].encode(),
               _dumps(other_stored),
               f"login.uuid {stored['login']['uuid']} is already stored with other values",
               needs_stored=True),
    ]  # fmt: skip
    return [stored], poison
