"""``records._parse``: the fast path (orjson) gives exactly what the strict parser gives, or
steps aside; every reason still comes from the strict rules."""

from __future__ import annotations

import json

import orjson
import pytest

from tests.poison_catalogue import catalogue
from userstream.streaming import records

from .conftest import LAURA, MARTEN


def _strict(value: bytes):
    try:
        return records._parse_strict(value.decode("utf-8"))
    except records._Bad as bad:
        return f"reject: {bad}"


@pytest.mark.parametrize(
    "value",
    [
        orjson.dumps(LAURA),
        orjson.dumps(MARTEN),
        json.dumps(LAURA, indent=2).encode(),
        json.dumps(MARTEN, ensure_ascii=False).encode(),
        json.dumps(MARTEN).encode(),  # \u escapes: a backslash, so the strict parser decides
        b'{"a":"x\\":y","b":1}',
        b'{"a":[{"b":"c"},"d",["e"]],"f":{"g":{}}}',
    ],
)
def test_the_fast_path_gives_what_the_strict_parser_gives(value: bytes) -> None:
    fast = records._parse_fast(value)
    assert fast is None or fast == _strict(value)


@pytest.mark.parametrize(
    "value",
    [
        b'{"a":1,"a":2}',
        b'{"a" :1,"a":2,"b":3}',  # a key before a space and a colon: counted all the same
        b'{"a":{"b":1,"b":1}}',
        b'{"a":[{"b":1,"b":2}]}',
        b'{"x":NaN}',
        b'{"x":1e999999}',
        b'{"x":' + b"9" * 40 + b"}",
        b'{"x":"\\ud800"}',
        b"[" * 2000 + b"]" * 2000,
        b"[1, 2]",
        b"12",
    ],
)
def test_what_the_fast_path_cannot_be_sure_of_is_left_to_the_strict_parser(value: bytes) -> None:
    assert records._parse_fast(value) is None


def test_every_poison_of_the_catalogue_gets_the_strict_answer() -> None:
    _, poisons = catalogue("parse")
    decided = 0
    for poison in poisons:
        fast = records._parse_fast(poison.value)
        if fast is not None:
            decided += 1
            assert fast == _strict(poison.value), poison.name
    # Most poison is well-formed JSON with a wrong field: the fast path decides those.
    assert decided > len(poisons) // 2
