"""Did a produced batch land: its messages found again in Cassandra.

A batch is identified by what the producer reported: each message's key (the user's
``login.uuid``), partition and offset. A message has *landed* when its user is in
``user_profiles`` (by id) or the message is in ``user_profiles_rejects`` (by
(topic, partition, offset)); that is the "produced = stored + rejected" promise.
``missing`` and ``landed_counts`` are pure; ``find_landed`` and ``wait_landed`` read through
``userstream.store.queries``, for the Airflow DAG.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from userstream.errors import TerminalError

log = logging.getLogger(__name__)


class Message(NamedTuple):
    """One produced message of a batch: enough to find it again downstream."""

    key: str
    partition: int
    offset: int


class BatchNotLanded(TerminalError):
    """Some messages of a batch reached neither the profiles nor the rejects table in time."""


def missing(
    messages: Iterable[Message], stored_ids: set[str], rejected: set[tuple[int, int]]
) -> list[Message]:
    """The messages found neither by user id nor by (partition, offset) among the rejects."""
    return [
        m
        for m in messages
        if m.key.lower() not in stored_ids and (m.partition, m.offset) not in rejected
    ]


def landed_counts(
    messages: Iterable[Message], stored_ids: set[str], rejected: set[tuple[int, int]]
) -> tuple[int, int]:
    """(stored, rejected) counted per message, so that produced = stored + rejected.

    A message is rejected when its (partition, offset) is among the rejects, else stored
    when its key is among the stored user ids: a user produced twice counts twice.
    """
    n_stored = n_rejected = 0
    for m in messages:
        if (m.partition, m.offset) in rejected:
            n_rejected += 1
        elif m.key.lower() in stored_ids:
            n_stored += 1
    return n_stored, n_rejected


def _uuid_or_none(key: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(key)
    except ValueError:
        return None  # a poison key can only have landed among the rejects


def fetch_profiles(session: Any, keys: Iterable[str]) -> list[dict[str, Any]]:
    """The ``user_profiles`` rows of these user ids (keys that are not UUIDs are skipped)."""
    from userstream.store import queries

    ids = sorted({u for u in (_uuid_or_none(k) for k in keys) if u is not None})
    return queries.profiles(session, ids)


def fetch_rejected(session: Any, topic: str, messages: Sequence[Message]) -> set[tuple[int, int]]:
    """(partition, offset) of the batch's messages that are in ``user_profiles_rejects``."""
    from userstream.store import queries

    by_partition: dict[int, list[int]] = {}
    for m in messages:
        by_partition.setdefault(m.partition, []).append(m.offset)
    return queries.rejected_at(session, topic, by_partition)


@dataclass(frozen=True)
class Landing:
    """Where a batch's messages are: stored rows, rejected offsets, and what is still missing."""

    rows: list[dict[str, Any]]
    rejected: set[tuple[int, int]]
    missing: list[Message]

    def counts(self, messages: Iterable[Message]) -> tuple[int, int]:
        """(stored, rejected) messages of the batch (see ``landed_counts``)."""
        stored_ids = {str(row["id"]).lower() for row in self.rows}
        return landed_counts(messages, stored_ids, self.rejected)


def find_landed(session: Any, topic: str, messages: Sequence[Message]) -> Landing:
    """One look at Cassandra for a batch's messages."""
    rows = fetch_profiles(session, (m.key for m in messages))
    stored = {str(row["id"]).lower() for row in rows}
    rejected = fetch_rejected(session, topic, messages)
    return Landing(rows, rejected, missing(messages, stored, rejected))


def wait_landed(
    session: Any,
    topic: str,
    messages: Sequence[Message],
    *,
    timeout_s: float,
    poll_s: float = 2.0,
) -> Landing:
    """Look until every message landed, for ``timeout_s`` at most; the last look (its
    ``missing`` is empty when all landed)."""
    deadline = time.monotonic() + timeout_s
    while True:
        landing = find_landed(session, topic, messages)
        log.info(
            "landing batch=%d stored=%d rejected=%d missing=%d",
            len(messages),
            len(landing.rows),
            len(landing.rejected),
            len(landing.missing),
        )
        if not landing.missing or time.monotonic() >= deadline:
            return landing
        time.sleep(poll_s)


def not_landed(messages: Sequence[Message], landing: Landing, waited_s: float) -> BatchNotLanded:
    """The error for a batch whose ``landing.missing`` messages did not land in time."""
    first = landing.missing[0]
    return BatchNotLanded(
        f"{len(landing.missing)} of {len(messages)} users missing after {waited_s:.0f} s: "
        f"first missing key={first.key} partition={first.partition} offset={first.offset}.",
        hint="Check that the stream runs (userstream stream status) and read its log.",
    )
