"""The driver's watch loop against a fake query and a fake clock (no Spark)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fake_clock import FakeClock
from userstream.config import Settings
from userstream.streaming import job


class BacklogQuery:
    """Always busy (a backlog): each batch takes ``batch_s``; the next one starts at once."""

    id = "q"

    def __init__(self, clock: FakeClock, writer: Any, batch_s: float, batches: int) -> None:
        self.clock = clock
        self.writer = writer
        self.batch_s = batch_s
        self.batches = batches
        self.stopped = False

    def _done(self) -> int:
        return min(self.batches, int(self.clock.now // self.batch_s))

    @property
    def lastProgress(self) -> dict[str, Any] | None:
        done = self._done()
        if done == 0:
            return None
        batch_id = done - 1
        self.writer.counts.setdefault(
            batch_id, {"valid": 1, "rejected": 0, "stored": 1, "batch_ms": 1}
        )
        return {"batchId": batch_id, "durationMs": {"addBatch": 1}, "sources": []}

    @property
    def status(self) -> dict[str, Any]:
        return {"isTriggerActive": not self.stopped and self._done() < self.batches}

    def awaitTermination(self, timeout: float) -> bool:
        if self.stopped or self._done() >= self.batches:
            return True
        self.clock.now += timeout
        return False

    def exception(self) -> None:
        return None

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(job, "time", fake)
    return fake


def _driver(tmp_path: Any, batch_timeout_s: float) -> job.Driver:
    settings = Settings(state_dir=tmp_path, spark={"batch_timeout_s": batch_timeout_s})
    return job.Driver(settings, until_idle=True, timeout=None)


def test_a_long_backlog_of_quick_batches_is_not_a_stall(tmp_path, clock):
    # 40 batches of 10 s each: 400 s busy without pause, each batch well under 30 s.
    driver = _driver(tmp_path, batch_timeout_s=30)
    query = BacklogQuery(clock, driver.writer, batch_s=10, batches=40)
    assert driver._watch(query, None) == "drained"  # type: ignore[arg-type]
    assert driver.state["last_batch"] is not None


def test_one_batch_longer_than_the_timeout_is_a_stall(tmp_path, clock):
    driver = _driver(tmp_path, batch_timeout_s=30)
    query = BacklogQuery(clock, driver.writer, batch_s=100, batches=3)
    with pytest.raises(job.BatchStalled):
        driver._watch(query, None)  # type: ignore[arg-type]
    assert clock.now < 100


def test_stop_under_a_backlog_waits_for_one_batch_not_the_full_grace(tmp_path, clock):
    driver = _driver(tmp_path, batch_timeout_s=300)
    query = BacklogQuery(clock, driver.writer, batch_s=10, batches=1000)
    clock.now = 5.0  # in the middle of the first batch
    driver._stop_between_batches(query)  # type: ignore[arg-type]
    assert query.stopped
    assert 10 <= clock.now < 11


class _Query:
    """Reports whatever progress the test sets."""

    def __init__(self) -> None:
        self.lastProgress: dict[str, Any] | None = None


def _progress(batch_id: int, end: int, ran: bool) -> dict[str, Any]:
    durations = {"latestOffset": 4, "triggerExecution": 9, **({"addBatch": 5} if ran else {})}
    return {
        "batchId": batch_id,
        "numInputRows": 1000 if ran else 0,
        "durationMs": durations,
        "sources": [{"endOffset": {"user_topic": {"0": end}}}],
    }


def test_an_idle_report_with_the_next_batch_id_is_not_recorded_as_that_batch(tmp_path):
    # Spark's idle report carries the id of the batch to come and the last batch's offsets.
    # When that batch has written (its counts are in) but Spark has not yet reported it, the
    # idle report must not stand for it: the real one, with the new end offsets, follows.
    driver = _driver(tmp_path, batch_timeout_s=30)
    query = _Query()
    query.lastProgress = _progress(3, end=2000, ran=False)
    assert driver._record(query) is False  # type: ignore[arg-type]
    driver.writer.counts[3] = {"valid": 1000, "rejected": 0, "stored": 1000, "batch_ms": 9}
    assert driver._record(query) is False  # type: ignore[arg-type]
    query.lastProgress = _progress(3, end=3000, ran=True)
    assert driver._record(query) is True  # type: ignore[arg-type]
    last = driver.state["last_batch"]
    assert (last["batch_id"], last["end_offsets"], last["num_input_rows"]) == (
        3, {"user_topic": {"0": 3000}}, 1000,
    )  # fmt: skip
    assert driver._record(query) is False  # type: ignore[arg-type]  # recorded once


def test_sparks_no_resources_warning_is_read_from_what_this_driver_wrote(tmp_path):
    log_file = tmp_path / "stream.log"
    said = (
        "26/12/07 19:00:01 WARN TaskSchedulerImpl: Initial job has not accepted any resources; "
        "check your cluster UI to ensure that workers are registered and have sufficient "
        "resources\n"
    )
    log_file.write_text(said + "an earlier driver's line\n")
    start = log_file.stat().st_size
    assert job.spark_warning(log_file, 0) == said[said.index("Initial") :].strip()
    assert job.spark_warning(log_file, start) is None  # an earlier driver's words
    with log_file.open("a") as f:
        f.write("INFO something else\n" + said)
    assert job.spark_warning(log_file, start) == said[said.index("Initial") :].strip()
    assert job.spark_warning(tmp_path / "absent.log", 0) is None


class OneBatchThenIdle:
    """One batch that runs ``batch_s`` (the trigger active meanwhile), then no input: every
    poll after it finds the trigger idle, as a stream whose topic is quiet does."""

    id = "q"

    def __init__(self, clock: FakeClock, writer: Any, batch_s: float) -> None:
        self.clock = clock
        self.batch_s = batch_s
        writer.counts[0] = {"valid": 40, "rejected": 0, "stored": 40, "batch_ms": 1}

    @property
    def lastProgress(self) -> dict[str, Any] | None:
        return _progress(0, end=40, ran=True) if self.clock.now >= self.batch_s else None

    @property
    def status(self) -> dict[str, Any]:
        return {"isTriggerActive": self.clock.now < self.batch_s}

    def awaitTermination(self, timeout: float) -> bool:
        self.clock.now += timeout
        return False

    def stop(self) -> None:
        pass


def test_a_batch_seen_to_finish_leaves_no_active_batch_behind(tmp_path, clock):
    # A first batch that waited 25 s for executors, then a quiet topic: the poll that sees
    # it finished finds the trigger idle. Its start must not stay published, or `status`
    # calls the idle stream unhealthy: "a micro-batch has been running for 66 s".
    driver = _driver(tmp_path, batch_timeout_s=300)
    query = OneBatchThenIdle(clock, driver.writer, batch_s=25)
    assert driver._watch(query, deadline=90.0) == "timeout"  # type: ignore[arg-type]
    assert driver.state["last_batch"]["batch_id"] == 0
    assert driver.state["batch_active_since"] is None
