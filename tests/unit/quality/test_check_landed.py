"""``verify_landed``'s one look (``orchestration.tasks.check_landed``): when it is done, when it
waits, and when it fails at once. Cassandra's answers and the stream's status are given here;
the real look runs in tests/integration/test_airflow.py."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from userstream import quality
from userstream.config import Settings
from userstream.orchestration import tasks as steps

MESSAGES = [["k1", 0, 10], ["k2", 1, 20]]


def _batch(age_s: float) -> dict[str, Any]:
    produced = datetime.now(UTC) - timedelta(seconds=age_s)
    return {"topic": "user_topic", "messages": MESSAGES, "produced_at": produced.isoformat()}


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """What Cassandra holds (``stored`` ids) and what the stream's status says (``report``)."""
    from userstream import store
    from userstream.kafka import topics
    from userstream.streaming import control

    seen: dict[str, Any] = {"stored": set(), "report": {"healthy": True}}

    def look(_cql: Any, _topic: str, messages: list[quality.Message], **_: Any) -> Any:
        rows = [{"id": m.key} for m in messages if m.key in seen["stored"]]
        missing = [m for m in messages if m.key not in seen["stored"]]
        return quality.Landing(rows, set(), missing)

    monkeypatch.setattr(store, "session", lambda *a, **k: contextlib.nullcontext())
    monkeypatch.setattr(quality, "wait_landed", look)
    monkeypatch.setattr(topics, "end_offsets", lambda _kafka: {})
    monkeypatch.setattr(control, "last_progress", lambda _s: {})
    monkeypatch.setattr(control, "lag_from", lambda *_a: None)
    monkeypatch.setattr(control, "report", lambda *_a, **_k: seen["report"])
    seen["settings"] = Settings(state_dir=tmp_path)
    return seen


def test_a_batch_that_landed_is_counted(world: dict[str, Any]) -> None:
    world["stored"] = {"k1", "k2"}
    assert steps.check_landed(world["settings"], _batch(5)) == {
        "stored": 2, "rejected": 0, "users": 2,
    }  # fmt: skip


def test_a_batch_still_landing_waits_for_the_next_look(world: dict[str, Any]) -> None:
    world["stored"] = {"k1"}
    world["report"] = {"healthy": False, "reason": "starting", "since": "2020-01-01T00:00:00Z"}
    # Young batch: the stream's state is not even asked.
    assert steps.check_landed(world["settings"], _batch(30)) is None


def test_a_batch_past_the_landing_timeout_fails_naming_the_first_missing(
    world: dict[str, Any],
) -> None:
    world["stored"] = {"k1"}
    timeout = world["settings"].airflow.landing_timeout_s
    with pytest.raises(quality.BatchNotLanded, match=r"1 of 2 users missing .* key=k2"):
        steps.check_landed(world["settings"], _batch(timeout + 1))


def test_a_stream_broken_for_minutes_fails_the_look_at_once(world: dict[str, Any]) -> None:
    world["stored"] = set()
    long_ago = (datetime.now(UTC) - timedelta(seconds=steps.STREAM_BROKEN_S + 30)).isoformat()
    world["report"] = {"healthy": False, "reason": "1000 messages waiting", "since": long_ago}
    with pytest.raises(steps.StreamBroken, match=r"2 users of the batch are not stored.*waiting"):
        steps.check_landed(world["settings"], _batch(steps.STREAM_BROKEN_S + 1))


def test_a_stream_unhealthy_for_moments_or_healthy_lets_the_batch_wait(
    world: dict[str, Any],
) -> None:
    world["stored"] = set()
    just_now = datetime.now(UTC).isoformat()
    world["report"] = {"healthy": False, "reason": "the driver is starting", "since": just_now}
    assert steps.check_landed(world["settings"], _batch(steps.STREAM_BROKEN_S + 1)) is None
    world["report"] = {"healthy": True}
    assert steps.check_landed(world["settings"], _batch(steps.STREAM_BROKEN_S + 1)) is None
