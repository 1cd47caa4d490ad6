"""Turn one user from the API into one Kafka message: key, value, headers — or a DLQ record.

Message contract (the Spark job reads it):

* key: the user's ``login.uuid`` as sent, UTF-8. It must be a canonical UUID
  (``8-4-4-4-12`` hex digits with hyphens); anything else goes to the dead-letter topic.
* value (``kafka.value_format``): ``avro`` (the default), the user in the Confluent wire
  format with the project's schema (:mod:`userstream.producing.avro_values`); ``json``, the
  user object as the API sent it, re-serialised with orjson (equal as JSON; key order kept).
  Either way **minus the API's credentials**: ``login.password``, ``salt``, ``md5``,
  ``sha1`` and ``sha256`` are dropped here and never leave the producer
  (:mod:`userstream.credentials`). A dead letter's value is also stripped of anything named
  like them, at any depth, since its shape is unknown (``credentials.redact``).
* headers, all UTF-8 strings, on the main and the DLQ topic alike:

  ==================  ==========================================================
  ``ingested_at``     when the producer handed the message to Kafka, ISO-8601 UTC
                      with milliseconds: ``2026-11-23T10:00:00.123Z``
  ``source_url``      the API URL the page came from (without query string)
  ``api_version``     the API version from the response's ``info`` (e.g. ``1.4``)
  ``seed``            the request seed (same seed + page + results → same users)
  ``page``            the page number of the request (decimal)
  ``producer``        ``userstream/<package version>``
  ``dlq_reason``      DLQ topic only: why the user was rejected (see ``DlqReason``)
  ==================  ==========================================================

A user that does not fit the Avro schema goes to the DLQ with ``dlq_reason=not_in_schema``,
its JSON value and ``dlq_detail`` saying why (``dob.date is not an ISO-8601 timestamp``).
A dead letter's value is always JSON, so a person can read it.

A message too large for Kafka (see :mod:`userstream.producing.oversize`) goes to the DLQ
with ``dlq_reason=too_large``, at most the first 64 KiB of its value and three more headers:

  =====================  =======================================================
  ``dlq_detail``         the reason as a sentence: ``message of 1500321 bytes
                         exceeds the limit of 1000000 bytes``
  ``original_size``      the refused message's size in bytes (decimal), as
                         counted against ``kafka.max_message_bytes``
  ``value_truncated``    ``true`` when the value is only the first bytes of the
                         user's JSON (then not valid JSON), ``false`` when whole
  =====================  =======================================================

A user whose uuid is duplicated within a page (or across pages) is produced twice on
purpose: Kafka key compaction and Cassandra's upsert by id converge on one row, and
dropping data in the producer would hide an upstream problem.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from userstream import __version__
from userstream.contract import (
    H_API_VERSION,
    H_PAGE,
    H_PRODUCER,
    H_SEED,
    H_SOURCE_URL,
    KEY_PATTERN,
    format_ms,
)
from userstream.credentials import redact, without_credentials
from userstream.producing.avro_values import NotInSchema

PRODUCER_ID = f"userstream/{__version__}"

_UUID_RE = re.compile(KEY_PATTERN)

# The shape confluent-kafka accepts (we only ever put bytes in).
Headers = list[tuple[str, str | bytes | None]]


class DlqReason(StrEnum):
    """Why a user went to the dead-letter topic (the ``dlq_reason`` header)."""

    NOT_AN_OBJECT = "not_an_object"
    MISSING_LOGIN = "missing_login"
    LOGIN_NOT_AN_OBJECT = "login_not_an_object"
    MISSING_UUID = "missing_uuid"
    UUID_NOT_A_STRING = "uuid_not_a_string"
    INVALID_UUID = "invalid_uuid"
    #: Over the producer's or the broker's size limit (``dlq_detail`` says by how much).
    TOO_LARGE = "too_large"
    #: Does not fit the Avro schema (``dlq_detail`` says where and why).
    NOT_IN_SCHEMA = "not_in_schema"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message ready for Kafka. ``dlq_reason`` set means: send it to the DLQ topic."""

    key: bytes | None
    value: bytes
    dlq_reason: DlqReason | None
    #: The reason as a sentence, for the ``dlq_detail`` header (``not_in_schema``).
    dlq_detail: str | None = None


def classify(user: Any) -> tuple[str | None, DlqReason | None]:
    """The user's key and, when it cannot go to the main topic, why.

    Returns ``(uuid, None)`` for a good user, ``(uuid_or_None, reason)`` for a DLQ one;
    the uuid is returned for a DLQ record whenever it is a string, so the record can
    still be traced.
    """
    if not isinstance(user, dict):
        return None, DlqReason.NOT_AN_OBJECT
    if "login" not in user or user["login"] is None:
        return None, DlqReason.MISSING_LOGIN
    login = user["login"]
    if not isinstance(login, dict):
        return None, DlqReason.LOGIN_NOT_AN_OBJECT
    if "uuid" not in login or login["uuid"] is None:
        return None, DlqReason.MISSING_UUID
    uuid = login["uuid"]
    if not isinstance(uuid, str):
        return None, DlqReason.UUID_NOT_A_STRING
    # fullmatch, not uuid.UUID(): that also accepts braces, "urn:uuid:" and no hyphens,
    # which downstream parsers may not, and the key must be one spelling per person.
    if _UUID_RE.fullmatch(uuid) is None:
        return uuid, DlqReason.INVALID_UUID
    return uuid, None


def serialise(user: Any) -> bytes:
    """The user as JSON bytes, equal as JSON to what the API sent.

    orjson is the fast path; stdlib json covers what orjson refuses (integers beyond
    64 bits, which a stdlib-parsed response can hold).
    """
    try:
        return orjson.dumps(user)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(user, ensure_ascii=False, separators=(",", ":")).encode()


def build(user: Any, encode: Callable[[Any], bytes] | None = None) -> Outgoing:
    """The message for one user: key + value (credentials dropped), with the DLQ reason when
    it is not valid. ``encode`` makes the value of a valid user (``AvroValues.encode``; raises
    ``NotInSchema``); without it the value is JSON."""
    uuid, reason = classify(user)
    key = uuid.encode() if uuid is not None else None
    sent = without_credentials(user)
    detail = None
    if reason is None and encode is not None:
        try:
            return Outgoing(key=key, value=encode(sent), dlq_reason=None)
        except NotInSchema as exc:
            reason, detail = DlqReason.NOT_IN_SCHEMA, str(exc)
    value = serialise(sent)
    if reason is not None:
        value = redact(value) or b""
    return Outgoing(key=key, value=value, dlq_reason=reason, dlq_detail=detail)


def page_headers(*, source_url: str, api_version: str, seed: str, page: int) -> Headers:
    """The headers every message of one page shares (``ingested_at`` is added per message)."""
    return [
        (H_SOURCE_URL, source_url.encode()),
        (H_API_VERSION, api_version.encode()),
        (H_SEED, seed.encode()),
        (H_PAGE, str(page).encode()),
        (H_PRODUCER, PRODUCER_ID.encode()),
    ]


class IngestClock:
    """``ingested_at`` values, formatted once per millisecond rather than once per message."""

    def __init__(self) -> None:
        self._ms = -1
        self._value = b""

    def now(self) -> bytes:
        ms = time.time_ns() // 1_000_000
        if ms != self._ms:
            self._ms = ms
            self._value = format_ms(ms).encode()
        return self._value
