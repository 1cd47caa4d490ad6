"""The API's credentials: ``login.password``, ``salt``, ``md5``, ``sha1``, ``sha256``.

They never leave the producer and are never stored: ``without_credentials`` drops them from
each user before it is produced, and ``redact`` removes them from what a reject keeps (the
rejects table, the dead-letter topics), since a message that did not come from our producer
may still carry them.

``redact`` works on the raw bytes and never raises. When the value is JSON (or JSON cut short,
or with bytes that are not UTF-8), each member named like a credential is removed, at any
depth and however its name is spelled (``"p\\u0061ssword"``); every other byte stays as it
arrived (spaces, duplicate keys, number spellings). If a credential's name is still there
after that — in text that cannot be read as JSON, inside a string, as part of a longer name —
the value is cut just before it: a credential never survives, at worst the end of a reject's
raw value is lost. Names are matched literally, with any character ``\\u``-escaped, and with
NUL bytes between characters (UTF-16 and UTF-32 text).
"""

from __future__ import annotations

import contextlib
import re
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

#: The credential fields of ``login``, as the API names them.
FIELDS: tuple[str, ...] = ("password", "salt", "md5", "sha1", "sha256")
_FIELDS = frozenset(FIELDS)
#: What replaces the end of a value cut before a credential's name.
CUT_MARK = "…[rest removed: it names a credential field]"
#: Deeper values are not walked (the stream rejects anything over 6 levels anyway).
_MAX_NESTING = 100

_SPACE = re.compile(r"[ \t\n\r]*")
_SCALAR = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|true|false|null")


def _spelled(name: str) -> str:
    """A pattern for ``name`` with each character literal or ``\\u00XX``, NUL-padded."""
    return "\x00{0,3}".join(rf"(?:{c}|\\(?i:u00{ord(c):02x}))" for c in name)


_NAME = re.compile("|".join(_spelled(name) for name in FIELDS))


def without_credentials(user: Any) -> Any:
    """``user`` without ``login``'s credentials; everything else as sent (same keys in the
    same order, same values). ``user`` is not changed: a copy is returned when something was
    dropped. A user that is not an object, or whose ``login`` is not one, is returned as it
    is (``redact`` deals with what such a shape may hide)."""
    if not isinstance(user, dict):
        return user
    login = user.get("login")
    if not isinstance(login, dict) or _FIELDS.isdisjoint(login):
        return user
    sent = user.copy()  # the same keys in the same order; only login's value changes
    sent["login"] = {k: v for k, v in login.items() if k not in _FIELDS}
    return sent


def redact(data: bytes | None) -> bytes | None:
    """``data`` with every credential removed (see the module docstring). Never raises."""
    if data is None:
        return None
    # surrogateescape: bytes that are not UTF-8 survive the round trip unchanged.
    text = data.decode("utf-8", "surrogateescape")
    walk = _Walk(text)
    # Where it stops being JSON, the cuts found so far stand and the scan below does the rest.
    with contextlib.suppress(ValueError, RecursionError):
        walk.document()
    kept = walk.without_cuts()
    found = _NAME.search(kept)
    if found is not None:
        kept = kept[: found.start()] + CUT_MARK
    return kept.encode("utf-8", "surrogateescape")


class _Walk:
    """A strict JSON reader that only records where the credential members are."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.cuts: list[tuple[int, int]] = []

    def without_cuts(self) -> str:
        parts, at = [], 0
        for start, end in sorted(self.cuts):
            if start > at:
                parts.append(self.text[at:start])
            at = max(at, end)
        parts.append(self.text[at:])
        return "".join(parts)

    def document(self) -> None:
        end = self._space(self._value(self._space(0), 0))
        if end != len(self.text):
            raise ValueError("text after the JSON value")

    def _space(self, i: int) -> int:
        match = _SPACE.match(self.text, i)
        return match.end() if match else i

    def _at(self, i: int, char: str) -> bool:
        return self.text.startswith(char, i)

    def _value(self, i: int, depth: int) -> int:
        """The end of the value at ``i``."""
        if depth > _MAX_NESTING:
            raise ValueError("nested too deep")
        if self._at(i, "{"):
            return self._object(i, depth)
        if self._at(i, "["):
            return self._array(i, depth)
        if self._at(i, '"'):
            return int(scanstring(self.text, i + 1)[1])
        match = _SCALAR.match(self.text, i)
        if match is None:
            raise ValueError(f"no JSON value at {i}")
        return match.end()

    def _array(self, i: int, depth: int) -> int:
        i = self._space(i + 1)
        if self._at(i, "]"):
            return i + 1
        while True:
            end = self._space(self._value(i, depth + 1))
            if self._at(end, "]"):
                return end + 1
            if not self._at(end, ","):
                raise ValueError(f"no , or ] at {end}")
            i = self._space(end + 1)

    def _object(self, i: int, depth: int) -> int:
        i = self._space(i + 1)
        if self._at(i, "}"):
            return i + 1
        kept_end = None  # where the last member kept so far ends
        while True:
            if not self._at(i, '"'):
                raise ValueError(f"no member name at {i}")
            name, colon = scanstring(self.text, i + 1)
            colon = self._space(colon)
            if not self._at(colon, ":"):
                raise ValueError(f"no : at {colon}")
            end = self._value(self._space(colon + 1), depth + 1)
            after = self._space(end)
            drop = name in _FIELDS
            if self._at(after, "}"):
                # The last member takes the comma before it along (none when all went).
                if drop:
                    self.cuts.append((i if kept_end is None else kept_end, end))
                return after + 1
            if not self._at(after, ","):
                raise ValueError(f"no , or }} at {after}")
            following = self._space(after + 1)
            if drop:
                self.cuts.append((i, following))  # the member, its comma and the spaces
            else:
                kept_end = end
            i = following
