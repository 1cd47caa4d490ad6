"""What one partition of a micro-batch reports: :class:`Counts` (valid, stored, rejected,
rejects by reason, the newest stored users, a latency sample), built by the Cassandra writer
in the workers and summed by the batch writer in the driver. Plain values: they cross from
Spark's Python workers back to the driver as dicts (:meth:`Counts.as_dict`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from userstream.streaming import records

#: The newest stored users a partition reports (the dashboard shows them), and the most
#: latencies it keeps for the batch's percentiles (evenly spaced ranks of them all).
NEWEST_USERS = 12
NEWEST_COLUMNS = ("first_name", "last_name", "country", "picture_thumbnail")
LATENCY_SAMPLE = 1000


@dataclass
class Counts:
    valid: int = 0
    stored: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    #: This partition's time in the worker (judge + Cassandra + DLQ), for the batch's log.
    worker_ms: int = 0
    #: The last users stored (offset order), at most ``NEWEST_USERS``: id, names, country,
    #: thumbnail URL, ingested_at (ISO-8601).
    newest: list[dict[str, Any]] = field(default_factory=list)
    #: Milliseconds from each stored user's ``ingested_at`` to the moment its write was
    #: acknowledged, sorted; at most ``LATENCY_SAMPLE`` of them (``sample``).
    latency_ms: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "stored": self.stored,
            "rejected": self.rejected,
            "reasons": self.reasons,
            "worker_ms": self.worker_ms,
            "newest": self.newest,
            "latency_ms": self.latency_ms,
        }

    def absorb(self, other: Counts) -> None:
        """Add ``other`` (another chunk of the same partition) to these counts."""
        self.valid += other.valid
        self.stored += other.stored
        self.rejected += other.rejected
        for kind, n in other.reasons.items():
            add_reason(self.reasons, kind, n)
        newest = sorted([*self.newest, *other.newest], key=lambda u: u["ingested_at"] or "")
        self.newest = newest[-NEWEST_USERS:]
        self.latency_ms = sample(sorted([*self.latency_ms, *other.latency_ms]), LATENCY_SAMPLE)

    def note_stored(self, profiles: list[records.Profile], written_at: float) -> None:
        """``stored``, ``newest`` and ``latency_ms`` from the users just written (epoch s)."""
        self.stored = len(profiles)
        latencies = []
        for profile in profiles:
            at = profile.columns.get("ingested_at")
            if at is not None:
                latencies.append((written_at - at.timestamp()) * 1000)
        self.latency_ms = sample(sorted(latencies), LATENCY_SAMPLE)
        self.newest = [_shown(p) for p in profiles[-NEWEST_USERS:]]


def _shown(profile: records.Profile) -> dict[str, Any]:
    """What the dashboard shows of a stored user: never more than a listing's columns."""
    columns = profile.columns
    at = columns.get("ingested_at")
    return {
        "id": profile.id,
        **{c: columns.get(c) for c in NEWEST_COLUMNS},
        "ingested_at": None if at is None else at.isoformat(timespec="milliseconds"),
    }


def sample(ordered: list[float], most: int) -> list[float]:
    """``ordered`` itself when it has at most ``most`` values, else ``most`` evenly spaced
    ranks of it (first and last included): its percentiles stay those of the whole."""
    n = len(ordered)
    if n <= most:
        return ordered
    return [ordered[i * (n - 1) // (most - 1)] for i in range(most)]


_PARTICULARS = re.compile(r"""[0-9a-f]{8}-[0-9a-f-]{27}|'.*'|".*"|\(.*\)|\d+""")
#: Distinct reasons counted per partition; the rest are counted as ``OTHER_REASON``.
MAX_REASON_KINDS = 32
#: The one reason kind known before any reject (the others are read from the rejects).
OTHER_REASON = "other"


def add_reason(reasons: dict[str, int], kind: str, n: int) -> None:
    """Count ``n`` rejects of ``kind``; past ``MAX_REASON_KINDS`` kinds a new one is
    ``OTHER_REASON``."""
    if kind not in reasons and len(reasons) >= MAX_REASON_KINDS:
        kind = OTHER_REASON
    reasons[kind] = reasons.get(kind, 0) + n


def reason_kind(reason: str) -> str:
    """A reason without its particulars (uuids, quoted values, details, numbers)."""
    return _PARTICULARS.sub("…", reason)[:120]
