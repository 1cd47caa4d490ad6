"""The API's credentials: dropped from a user before Kafka, removed from what a reject keeps.

``redact`` gets whatever a hostile client sent; whatever the shape, no credential survives.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.poison_catalogue import catalogue
from userstream.credentials import CUT_MARK, FIELDS, redact, without_credentials

SAMPLE = Path(__file__).parents[1] / "fixtures" / "randomuser_sample.json"
RAW_SAMPLE = SAMPLE.read_bytes()
USERS: list[dict[str, Any]] = json.loads(RAW_SAMPLE)["results"]
LAURA = USERS[0]
SECRETS = [str(u["login"][name]) for u in USERS for name in FIELDS]
CUT = CUT_MARK.encode()


def dropped(user: dict[str, Any]) -> dict[str, Any]:
    """The user as the producer must send it, built without the code under test."""
    out = copy.deepcopy(user)
    for name in FIELDS:
        out["login"].pop(name)
    return out


def assert_secret_free(kept: bytes | None) -> None:
    assert kept is not None
    for name in FIELDS:
        assert name.encode() not in kept, (name, kept)
    for secret in SECRETS:
        assert secret.encode() not in kept, (secret, kept)


def test_the_producer_drops_the_five_fields_and_keeps_the_rest_as_sent() -> None:
    sent = copy.deepcopy(LAURA)
    out = without_credentials(LAURA)
    assert sent == LAURA  # the input is not changed
    assert out == dropped(LAURA)
    assert list(out) == list(LAURA)  # login keeps its place
    assert list(out["login"]) == ["uuid", "username"]
    assert orjson.dumps(out) == orjson.dumps(dropped(LAURA))


@pytest.mark.parametrize(
    "user",
    [
        [LAURA],
        "text",
        None,
        {"name": "no login"},
        {"login": None},
        {"login": "password"},
        {"login": [{"password": "x"}]},
        {"login": {"uuid": "u", "username": "n"}},
    ],
)
def test_a_user_without_credentials_in_its_login_object_is_returned_as_it_is(user: Any) -> None:
    assert without_credentials(user) is user


def test_a_valid_value_keeps_every_other_byte() -> None:
    for user in USERS:
        assert redact(orjson.dumps(user)) == orjson.dumps(dropped(user))
    # Spaces, line breaks and non-ASCII text stay exactly as they arrived.
    kept = redact(RAW_SAMPLE)
    expected = {"results": [dropped(u) for u in USERS], "info": json.loads(RAW_SAMPLE)["info"]}
    assert kept == (json.dumps(expected, indent=2, ensure_ascii=False) + "\n").encode()


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        # Duplicate keys: every copy of a credential goes, other duplicates stay.
        (b'{"login":{"password":"a","uuid":"u","password":"b"},"e":1,"e":2}',
         b'{"login":{"uuid":"u"},"e":1,"e":2}'),
        # Only credentials in an object, first, last, with spaces.
        (b'{"password":"a"}', b"{}"),
        (b'{ "salt" : "a" , "md5": "b" }', b"{  }"),
        (b'{"sha1":"a", "x":1}', b'{"x":1}'),
        (b'{"x":1 ,"sha256":"a"}', b'{"x":1}'),
        # A name spelled with escapes is the same name.
        (b'{"p\\u0061ssword":"a","x":1}', b'{"x":1}'),
        # Values that are not text, at any depth, in a login that is not an object.
        (b'{"login":[{"md5":{"deep":["a"]},"uuid":"u"}],"salt":123}', b'{"login":[{"uuid":"u"}]}'),
        (b'[{"login":{"sha1":null}},{"password":true}]', b'[{"login":{}},{}]'),
        # Bytes that are not UTF-8 stay as they were.
        (b'{"name":"\xff\xfe","password":"a"}', b'{"name":"\xff\xfe"}'),
        # Not JSON, no credential: kept whole.
        (b"not json", b"not json"),
        (b"", b""),
        (b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}", b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}"),
    ],
)  # fmt: skip
def test_credential_members_are_removed_whatever_the_shape(raw: bytes, kept: bytes) -> None:
    assert redact(raw) == kept


@pytest.mark.parametrize(
    ("raw", "prefix"),
    [
        # Cut inside the credential: the reader cannot see where it ends.
        (b'{"login":{"uuid":"u","password":"hunt', b'{"login":{"uuid":"u","'),
        # Not JSON at all.
        (b"{login: {password: hunter2}}", b"{login: {"),
        (b"user=u password=hunter2", b"user=u "),
        # JSON inside a string, escaped or not.
        (b'{"login":"{\\"u\\":\\"v\\",\\"salt\\":\\"s\\"}"}', b'{"login":"{\\"u\\":\\"v\\",\\"'),
        (b'{"login":"{\\u0022sha256\\u0022:1}"}', b'{"login":"{\\u0022'),
        # Part of a longer name (a flattened record).
        (b'{"login.md5":"h"}', b'{"login.'),
        # UTF-16: the name with NUL bytes between its letters.
        ('{"password":"hunter2"}'.encode("utf-16-le"), '{"'.encode("utf-16-le")),
        # Too deep to read: the name is still found.
        (b"[" * 200 + b'{"password":"x"}' + b"]" * 200, b"[" * 200 + b'{"'),
    ],
)  # fmt: skip
def test_a_credential_that_cannot_be_removed_cuts_the_value_before_it(
    raw: bytes, prefix: bytes
) -> None:
    kept = redact(raw)
    assert kept == prefix + CUT
    assert b"hunt" not in kept


def test_no_cut_of_a_value_lets_a_credential_through() -> None:
    raw = orjson.dumps(LAURA)
    for end in range(len(raw) + 1):
        kept = redact(raw[:end])
        assert_secret_free(kept)
        assert kept is not None
        # What is not a credential is kept: everything up to the login's secrets.
        stop = raw.index(b'"password"')
        if end <= stop:
            assert kept == raw[:end]


def test_no_poison_of_the_catalogue_makes_it_raise_or_leak() -> None:
    _, poison = catalogue("credentials")
    carrying = 0
    for entry in poison:
        carrying += b'"sha256"' in entry.value
        kept = redact(entry.value)
        assert kept is not None
        for name in FIELDS:
            assert name.encode() not in kept, entry.name
    assert carrying > len(poison) / 2, "the catalogue carries no credentials to remove"


def test_nothing_stays_nothing() -> None:
    assert redact(None) is None
