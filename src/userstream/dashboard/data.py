"""What the page shows, assembled from what the pipeline already reports (pure functions).

The inputs: ``status.gather`` (every part's health, rows, quality), the stream's progress
file (totals with the reject reasons and the newest users; the last batch with its latency),
the topic's end offsets, the DAG's last runs, and two bounded Cassandra reads (users per
country, ages of a sample). Rates are differences between samples kept by ``History``.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any

#: Samples kept for the charts: five minutes at one sample every two seconds.
HISTORY = 150
#: Bars shown at most in the reason and country charts (the rest are summed as "other").
TOP = 12
TOP_COUNTRIES = 25
AGE_BIN = 10
AGE_LAST_BIN = 70


@dataclass
class History:
    """The counters over time, and the latency of each batch, for the charts."""

    #: (epoch s, produced messages, users stored, records rejected); None when unknown.
    counters: deque[tuple[float, int | None, int | None, int | None]] = field(
        default_factory=lambda: deque(maxlen=HISTORY)
    )
    #: (epoch s, p50 ms, p99 ms), one per micro-batch that stored users.
    latency: deque[tuple[float, int, int]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    _batch: Any = None

    def add(
        self, at: float, produced: int | None, stored: int | None, rejected: int | None
    ) -> None:
        self.counters.append((at, produced, stored, rejected))

    def add_batch(self, at: float, batch: dict[str, Any] | None) -> None:
        """Record ``batch``'s latency (a progress file's ``last_batch``) once per batch."""
        if not batch or batch.get("batch_id") == self._batch:
            return
        self._batch = batch.get("batch_id")
        latency = batch.get("latency_ms")
        if latency:
            self.latency.append((at, int(latency["p50"]), int(latency["p99"])))

    def rates(self) -> dict[str, list[Any]]:
        """Users/s between consecutive samples; None where a counter is unknown or restarted
        (the stream's totals start again at 0 with its driver)."""
        out: dict[str, list[Any]] = {"at": [], "produced": [], "stored": [], "rejected": []}
        samples = list(self.counters)
        for before, after in itertools.pairwise(samples):
            seconds = after[0] - before[0]
            if seconds <= 0:
                continue
            out["at"].append(round(after[0] * 1000))
            for index, name in enumerate(("produced", "stored", "rejected"), start=1):
                a, b = before[index], after[index]
                ok = a is not None and b is not None and b >= a
                out[name].append(round((b - a) / seconds, 1) if ok else None)  # type: ignore[operator]
        return out


def ranked(counts: dict[str, int], top: int = TOP) -> list[tuple[str, int]]:
    """Largest first; past ``top`` entries, the rest summed as "other"."""
    items = sorted(((k, v) for k, v in counts.items() if v > 0), key=lambda kv: (-kv[1], kv[0]))
    if len(items) <= top:
        return items
    return [*items[: top - 1], ("other", sum(v for _, v in items[top - 1 :]))]


def age_bins(ages: list[int | None]) -> dict[str, Any]:
    """Ages in bins of ten years ("20–29"), the last one open ("70+"); empty bins between
    the youngest and the oldest are kept so the axis reads evenly."""
    known = [a for a in ages if a is not None and a >= 0]
    if not known:
        return {"labels": [], "counts": [], "sample": 0}
    first = min(a // AGE_BIN * AGE_BIN for a in known)
    last = min(max(a // AGE_BIN * AGE_BIN for a in known), AGE_LAST_BIN)
    starts = list(range(min(first, last), last + 1, AGE_BIN))
    counts = dict.fromkeys(starts, 0)
    for age in known:
        counts[min(max(age // AGE_BIN * AGE_BIN, starts[0]), last)] += 1
    labels = [f"{s}+" if s == AGE_LAST_BIN else f"{s}–{s + AGE_BIN - 1}" for s in starts]
    return {"labels": labels, "counts": list(counts.values()), "sample": len(known)}


def initials(user: dict[str, Any]) -> str:
    letters = [str(user.get(k) or "").strip()[:1] for k in ("first_name", "last_name")]
    return "".join(letters).upper() or "?"


def newest(users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest users as the page shows them; the portrait is always served by us."""
    return [
        {
            "id": u["id"],
            "name": " ".join(str(u.get(k) or "") for k in ("first_name", "last_name")).strip(),
            "initials": initials(u),
            "country": u.get("country") or "",
            "ingested_at": u.get("ingested_at"),
            "portrait": f"portraits/{u['id']}",
        }
        for u in users
        if u.get("id")
    ]


def _last(values: list[Any]) -> Any:
    return next((v for v in reversed(values) if v is not None), None)


def _quality(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if not report:
        return None
    checks = [{k: c.get(k) for k in ("name", "passed", "detail")} for c in report.get("checks", [])]
    passed = all(c["passed"] for c in checks)
    return {"run_id": report.get("run_id"), "passed": passed, "checks": checks}


def assemble(
    *,
    now: dt.datetime,
    topic: str,
    keyspace: str,
    status: dict[str, Any] | None,
    state: dict[str, Any],
    ends: dict[str, dict[str, int]] | None,
    lag: dict[int, int] | None,
    history: History,
    countries: dict[str, int] | None,
    ages: list[int | None] | None,
    runs: list[dict[str, Any]] | None,
    notes: list[str],
) -> dict[str, Any]:
    """The JSON document the page renders (``/api/snapshot``).

    ``status`` is ``PipelineStatus.as_dict()`` (None until the first one is gathered),
    ``state`` the stream's progress file, ``ends`` and ``lag`` from ``topics.end_offsets``
    and ``control.lag_from``.
    """
    status = status or {}
    totals = state.get("totals") or {}
    batch = state.get("last_batch") or {}
    rates = history.rates()
    topic_ends = (ends or {}).get(topic)
    return {
        "generated_at": now.isoformat(timespec="seconds"),
        "topic": topic,
        "keyspace": keyspace,
        "healthy": status.get("healthy"),
        "parts": status.get("parts") or [],
        "counts": {
            "produced": None if topic_ends is None else sum(topic_ends.values()),
            "stored": status.get("rows_stored"),
            "rejected": status.get("rows_rejected"),
            "lag": None if lag is None else sum(lag.values()),
        },
        "rates": rates,
        "rate_now": {name: _last(rates[name]) for name in ("produced", "stored", "rejected")},
        "lag": None if lag is None else {str(p): n for p, n in sorted(lag.items())},
        "latency": {
            "last": batch.get("latency_ms"),
            "at": [round(t * 1000) for t, _, _ in history.latency],
            "p50": [p50 for _, p50, _ in history.latency],
            "p99": [p99 for _, _, p99 in history.latency],
        },
        "reasons": ranked(totals.get("reasons") or {}),
        "countries": None if countries is None else ranked(countries, TOP_COUNTRIES),
        "ages": None if ages is None else age_bins(ages),
        "newest": newest(totals.get("newest") or []),
        "dag_runs": runs or [],
        "quality": _quality(status.get("quality")),
        "dashboard_url": status.get("dashboard_url"),
        "notes": [*status.get("notes", []), *notes],
    }
