"""What each micro-batch reports beside its counts: the newest users and the latency."""

from __future__ import annotations

import datetime as dt
import uuid

from userstream.config import Settings
from userstream.streaming import progress_file
from userstream.streaming.batch_writer import BatchWriter, latency_summary, newest_users
from userstream.streaming.counts import NEWEST_USERS, Counts, sample
from userstream.streaming.records import Profile

T0 = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def _profile(n: int, ingested: dt.datetime | None) -> Profile:
    columns = {
        "id": uuid.UUID(int=n),
        "first_name": f"First{n}",
        "last_name": f"Last{n}",
        "country": "Norway",
        "picture_thumbnail": f"https://randomuser.me/api/portraits/thumb/men/{n}.jpg",
        "email": f"user{n}@example.com",
    }
    if ingested is not None:
        columns["ingested_at"] = ingested
    return Profile(columns, b"")


def test_stored_users_give_their_latency_and_the_last_ones_are_the_newest() -> None:
    profiles = [_profile(n, T0 + dt.timedelta(milliseconds=n)) for n in range(20)]
    profiles.append(_profile(99, None))  # no ingested_at: stored, but no latency
    written = (T0 + dt.timedelta(seconds=1)).timestamp()

    counts = Counts()
    counts.note_stored(profiles, written)

    assert counts.stored == 21
    assert counts.latency_ms == sorted(counts.latency_ms)
    assert [round(ms) for ms in counts.latency_ms] == [1000 - n for n in reversed(range(20))]
    assert len(counts.newest) == NEWEST_USERS
    assert [u["first_name"] for u in counts.newest][-2:] == ["First19", "First99"]
    first = counts.newest[0]
    assert first == {
        "id": str(uuid.UUID(int=9)),
        "first_name": "First9",
        "last_name": "Last9",
        "country": "Norway",
        "picture_thumbnail": "https://randomuser.me/api/portraits/thumb/men/9.jpg",
        "ingested_at": "2026-11-27T12:00:00.009+00:00",
    }
    assert "email" not in first  # a listing's columns only
    assert counts.as_dict()["newest"] == counts.newest


def test_a_sample_keeps_the_extremes_and_the_percentiles_of_the_whole() -> None:
    values = [float(v) for v in range(10_001)]
    kept = sample(values, 1001)
    assert len(kept) == 1001 and kept[0] == 0 and kept[-1] == 10_000
    assert latency_summary(kept) == {"p50": 5000, "p99": 9900}
    assert sample(values[:5], 10) == values[:5]
    assert latency_summary([]) is None
    assert latency_summary([7.4]) == {"p50": 7, "p99": 7}
    # Nearest rank: p99 of 100 values is the 99th, p50 the 50th.
    assert latency_summary([float(v) for v in range(1, 101)]) == {"p50": 50, "p99": 99}


def test_newest_users_are_the_latest_ingested_each_once() -> None:
    def user(n: int) -> dict[str, str]:
        return {"id": f"u{n}", "ingested_at": f"2026-11-27T12:00:{n:02d}.000+00:00"}

    older = [user(n) for n in range(10)]
    newer = [user(n) for n in range(8, 20)]  # u8, u9 again (a replayed batch)
    merged = newest_users(newer, older)
    assert [u["id"] for u in merged] == [f"u{n}" for n in range(19, 7, -1)]
    assert len(merged) == NEWEST_USERS
    assert newest_users([], []) == []


def _counts(stored: int, newest: list[dict[str, str]], p50: int) -> dict:
    return {
        "valid": stored, "stored": stored, "rejected": 0, "reasons": {}, "batch_ms": 10,
        "worker_ms": 5, "newest": newest, "latency_ms": {"p50": p50, "p99": p50 * 2},
    }  # fmt: skip


def test_totals_keep_the_newest_users_across_batches_and_replays(
    base_settings: Settings,
) -> None:
    writer = BatchWriter(base_settings)
    first = [{"id": "a", "ingested_at": "2026-11-27T12:00:01+00:00"}]
    second = [{"id": "b", "ingested_at": "2026-11-27T12:00:02+00:00"}]
    writer._add(1, _counts(1, first, 100))
    writer._add(2, _counts(1, second, 200))
    writer._add(2, _counts(1, second, 200))  # replayed in the same process
    assert [u["id"] for u in writer.totals["newest"]] == ["b", "a"]
    assert writer.totals["stored"] == 2

    summary = progress_file.batch_summary({"batchId": 2}, writer.counts[2])
    assert summary["latency_ms"] == {"p50": 200, "p99": 400}
    assert progress_file.batch_summary({"batchId": 3}, None)["latency_ms"] is None
