"""The driver's main loop (``python -m userstream.streaming.job``).

One process, one query (``streaming.query``): Kafka ``settings.kafka.topic`` →
``batch_writer.BatchWriter`` → Cassandra. The loop owns the lifecycle: it writes the progress file,
stops the query between micro-batches on SIGTERM/SIGINT, and restarts the query from its
checkpoint with bounded exponential backoff when a batch fails (Cassandra or Kafka away for
a while), giving up after ``MAX_CONSECUTIVE_FAILURES`` failures in a row without a
successful batch.

A micro-batch that runs past ``spark.batch_timeout_s`` is stalled (the workers give up
on Cassandra before that, so this is the last line of defence against a hung call). The
detached driver then replaces itself in place (same pid, new JVM) and resumes from the
checkpoint: the stalled batch is replayed, which the upserts make harmless.

The progress file is the driver's voice for ``status``: ``state`` and ``state_since``,
``batch_active_since`` while a micro-batch runs, ``retrying_since`` while failures repeat,
``last_batch`` (with ``completed_at``), on a cluster master ``executors`` (with
``executors_none_since`` and Spark's warning, ``spark_says``, while there are none), and
``updated_at`` rewritten at least every ``HEARTBEAT_S`` seconds while the driver lives.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import orjson

from userstream.config import Settings
from userstream.errors import TransientError, UserstreamError
from userstream.streaming import progress_file
from userstream.streaming.batch_writer import BatchWriter
from userstream.streaming.driver_settings import load_settings_file
from userstream.streaming.query import check_checkpoint_kafka, check_tables, start_query
from userstream.streaming.session import is_local_master

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.streaming import StreamingQuery

log = logging.getLogger(__name__)

MAX_CONSECUTIVE_FAILURES = 8
#: Short: a broker or node that is back should be used within seconds.
BACKOFF_MAX_S = 5.0
HEARTBEAT_S = 5.0
#: How long a stop request waits for the running micro-batch to finish before stopping it.
STOP_GRACE_S = 50.0
POLL_S = 1
#: How often the driver counts its executors when its master is a cluster.
EXECUTORS_EVERY_S = 5.0
#: Spark's own warning while a job waits for executors (its TaskSchedulerImpl).
NO_RESOURCES = "Initial job has not accepted any resources"
#: How much of the end of its log the driver reads for that warning.
LOG_TAIL_BYTES = 256 * 1024


class BatchStalled(TransientError):
    """A micro-batch ran past ``spark.batch_timeout_s``; only a new driver can free it."""


def _progress_batch_id(query: StreamingQuery) -> int | None:
    """The batch id of the query's newest progress report, None before the first one."""
    last = query.lastProgress
    if not last:
        return None
    try:
        return int(last["batchId"])
    except (KeyError, TypeError, ValueError):
        return None


def executor_count(spark: SparkSession) -> int:
    """The executors registered with this driver (Spark lists the driver among them)."""
    infos = spark.sparkContext._jsc.sc().statusTracker().getExecutorInfos()
    return max(0, len(infos) - 1)


def spark_warning(log_file: Path, start: int) -> str | None:
    """Spark's last "no resources" warning in ``log_file`` after byte ``start`` (what this
    driver wrote), from the warning's first words on; None when there is none."""
    try:
        with log_file.open("rb") as f:
            f.seek(max(start, f.seek(0, os.SEEK_END) - LOG_TAIL_BYTES))
            tail = f.read().decode(errors="replace")
    except OSError:
        return None
    lines = [line for line in tail.splitlines() if NO_RESOURCES in line]
    return lines[-1][lines[-1].index(NO_RESOURCES) :].strip() if lines else None


class _StopFlag:
    """Set by SIGTERM/SIGINT; the loop checks it between polls (never inside a py4j call)."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        log.info("stream_stop_requested signal=%s", signal.Signals(signum).name)
        self.requested = True

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self)
        signal.signal(signal.SIGINT, self)


class Driver:
    """Runs the query until stopped, drained (``until_idle``) or out of retries."""

    def __init__(self, settings: Settings, *, until_idle: bool, timeout: float | None) -> None:
        self.settings = settings
        self.until_idle = until_idle
        self.timeout = timeout
        self.writer = BatchWriter(settings)
        self.stop = _StopFlag()
        self.state: dict[str, Any] = {
            "job": settings.spark.job_name,
            "pid": os.getpid(),
            "state": "starting",
            "topic": settings.kafka.topic,
            "keyspace": settings.cassandra.keyspace,
            "checkpoint": settings.checkpoint_location(),
            "mode": "until_idle" if until_idle else "continuous",
            "last_batch": None,
            "totals": self.writer.totals,
            "restarts": 0,
            "error": None,
            "state_since": progress_file.now_iso(),
            "retrying_since": None,
            "batch_active_since": None,
        }
        self._last_batch_id: int | None = None
        self._succeeded_since_start = False
        self._written_at = 0.0
        self._updated_at: str | None = None
        self._spark: SparkSession | None = None
        self._executors_counted = 0.0
        log_file = settings.paths.log_file(settings.spark.job_name)
        self._log_start = log_file.stat().st_size if log_file.exists() else 0

    def _publish(self, **changes: Any) -> None:
        if "state" in changes and changes["state"] != self.state["state"]:
            changes["state_since"] = progress_file.now_iso()
        self.state.update(changes)
        with self.writer.lock:  # the totals change in Spark's callback thread
            progress_file.write(self.settings, self.state)
            self._updated_at = progress_file.now_iso()
        self._written_at = time.monotonic()

    def _progress(self) -> dict[str, Any]:
        """What the progress file holds, its ``updated_at`` the last time the loop wrote it
        (a stuck loop shows as an old heartbeat): a copy taken under the lock, served on the
        metrics port's ``/progress``."""
        with self.writer.lock:
            state = orjson.loads(orjson.dumps(self.state))
            return {**state, "updated_at": self._updated_at}

    def _heartbeat(self) -> None:
        if time.monotonic() - self._written_at >= HEARTBEAT_S:
            self._publish()

    def _count_executors(self) -> None:
        """On a cluster master, publish how many executors the stream has; while it has none,
        since when and Spark's own words for it (``health`` turns that into unhealthy)."""
        now = time.monotonic()
        if (
            self._spark is None
            or is_local_master(self.settings.spark.master)
            or now - self._executors_counted < EXECUTORS_EVERY_S
        ):
            return
        self._executors_counted = now
        count = executor_count(self._spark)
        said = None
        if count == 0:
            log_file = self.settings.paths.log_file(self.settings.spark.job_name)
            said = spark_warning(log_file, self._log_start)
        if count == self.state.get("executors") and said == self.state.get("spark_says"):
            return
        since = self.state.get("executors_none_since") if self.state.get("executors") == 0 else None
        if count == 0 and since is None:
            since = progress_file.now_iso()
            log.warning("stream_no_executors master=%s", self.settings.spark.master)
        self._publish(
            executors=count,
            executors_none_since=since if count == 0 else None,
            spark_says=said,
        )

    def _record(self, query: StreamingQuery) -> bool:
        """Write the newest finished batch to the progress file; True when there was one.

        Idle triggers also report progress, with the id of the next batch, which has not run
        (no ``addBatch`` in its durations). They are skipped, so ``last_batch`` always
        describes a batch that ran: once that next batch has written, its own report (with
        its end offsets) is the one recorded, not the idle one that came before it.
        """
        last = query.lastProgress
        if not last or "addBatch" not in (last.get("durationMs") or {}):
            return False
        batch_id = int(last["batchId"])
        counts = self.writer.counts.get(batch_id)
        if counts is None or batch_id == self._last_batch_id:
            return False
        self._last_batch_id = batch_id
        self.writer.metrics.record_lag(last)
        summary = {
            **progress_file.batch_summary(last, counts),
            "completed_at": progress_file.now_iso(),
        }
        self._publish(last_batch=summary, retrying_since=None, error=None)
        return True

    def run(self) -> dict[str, Any]:
        """Run to the end; return the final state. Raises ``UserstreamError`` on failure."""
        self.stop.install()
        self._publish()
        from userstream.streaming.session import build_session

        spark = build_session(self.settings)
        self._spark = spark
        self.writer.warm_up()
        self._publish(
            metrics_url=self.writer.metrics.serve(
                self.settings.spark.metrics_port,
                self.settings.spark.metrics_host,
                progress=self._progress,
            ),
            ui_url=spark.sparkContext.uiWebUrl,  # None when the UI is off
        )
        # What is loaded by now lives as long as the driver: keep it out of the collector's
        # scans, and collect less often (a micro-batch allocates ~100 objects per user).
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        try:
            outcome = self._loop(spark, deadline)
            self._publish(state=outcome, error="timeout" if outcome == "timeout" else None)
            if outcome == "timeout":
                raise TransientError(
                    f"The stream did not drain topic {self.settings.kafka.topic!r} within "
                    f"{self.timeout:g} s.",
                    hint="Raise the timeout or spark.max_offsets_per_trigger.",
                )
            return self.state
        except BatchStalled as exc:
            self._publish(state="stalled", error=exc.message[:500])
            raise
        except BaseException as exc:
            if self.state["state"] not in ("stopped", "drained", "timeout"):
                message = exc.message if isinstance(exc, UserstreamError) else repr(exc)
                self._publish(state="failed", error=message[:500])
            raise
        finally:
            if self.state["state"] != "stalled":
                # A stalled context cannot stop cleanly; the caller ends the JVM instead.
                spark.stop()

    def _loop(self, spark: SparkSession, deadline: float | None) -> str:
        """Start the query, restart it after failures; return how it ended."""
        from pyspark.errors import StreamingQueryException

        failures = 0
        while True:
            query = start_query(spark, self.settings, self.writer, available_now=self.until_idle)
            self._publish(state="running", query_id=str(query.id), run_id=str(query.runId))
            log.info(
                "stream_started query=%s topic=%s keyspace=%s mode=%s",
                query.id,
                self.settings.kafka.topic,
                self.settings.cassandra.keyspace,
                self.state["mode"],
            )
            try:
                return self._watch(query, deadline)
            except StreamingQueryException as exc:
                failures = 1 if self._succeeded_since_start else failures + 1
                error = str(exc).splitlines()[0][:500]
                self._publish(
                    state="retrying",
                    error=error,
                    restarts=self.state["restarts"] + 1,
                    retrying_since=self.state["retrying_since"] or progress_file.now_iso(),
                    batch_active_since=None,
                )
                log.error("stream_failed attempt=%d error=%s", failures, error)
                if failures >= MAX_CONSECUTIVE_FAILURES:
                    raise TransientError(
                        f"The stream failed {failures} times in a row; last error: {error}",
                        hint="Check that Kafka and Cassandra are up, then start it again; "
                        "it resumes from its checkpoint.",
                    ) from None
                self._sleep(min(BACKOFF_MAX_S, 2.0**failures))
                if self.stop.requested:
                    return "stopped"

    def _watch(self, query: StreamingQuery, deadline: float | None) -> str:
        """Poll the query until it ends; return "stopped", "drained" or "timeout".

        The stall clock times each micro-batch, not the busy period: under a backlog Spark
        starts the next trigger at once, so the trigger may never be seen idle. The clock
        restarts whenever a new batch completed (the progress's batch id changed).
        """
        self._succeeded_since_start = False
        active_since: float | None = None
        seen_batch = _progress_batch_id(query)
        while True:
            finished = self._record(query)
            if finished:
                self._succeeded_since_start = True
            batch = _progress_batch_id(query)
            if finished or batch != seen_batch:
                seen_batch = batch
                active_since = None
            if query.status.get("isTriggerActive"):
                if active_since is None:
                    active_since = time.monotonic()
                    self._publish(batch_active_since=progress_file.now_iso())
                if time.monotonic() - active_since > self.settings.spark.batch_timeout_s:
                    raise BatchStalled(
                        f"A micro-batch of the stream on {self.settings.kafka.topic!r} ran "
                        f"longer than {self.settings.spark.batch_timeout_s:g} s.",
                        hint="Check that Cassandra and Kafka answer; the batch is replayed "
                        "from the checkpoint when the driver restarts.",
                    )
            else:
                active_since = None
                if self.state.get("batch_active_since") is not None:
                    # Also when the batch was seen to finish above (active_since reset
                    # there): published, it would age into "a micro-batch has been running".
                    self._publish(batch_active_since=None)
            self._count_executors()
            self._heartbeat()
            if query.awaitTermination(POLL_S):
                self._record(query)
                # Raises StreamingQueryException when the query failed.
                exc = query.exception()
                if exc is not None:
                    raise exc
                return "drained" if self.until_idle and not self.stop.requested else "stopped"
            if self.stop.requested:
                self._stop_between_batches(query)
                self._record(query)
                return "stopped"
            if deadline is not None and time.monotonic() > deadline:
                self._stop_between_batches(query)
                return "timeout"

    def _stop_between_batches(self, query: StreamingQuery) -> None:
        # query.stop() interrupts a running batch (which is then replayed on restart);
        # waiting for the running batch to finish first makes a normal stop a clean one.
        # Under a backlog the next trigger starts at once, so the trigger may never go
        # idle: one finished batch (a new batch id) is enough, bounded by STOP_GRACE_S.
        end = time.monotonic() + STOP_GRACE_S
        started_at = _progress_batch_id(query)
        while query.status.get("isTriggerActive") and time.monotonic() < end:
            if _progress_batch_id(query) != started_at:
                break
            time.sleep(0.2)
        query.stop()
        log.info("stream_stopped query=%s", query.id)

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self.stop.requested:
            time.sleep(0.2)


def run(
    settings: Settings, *, until_idle: bool = False, timeout: float | None = None
) -> dict[str, Any]:
    """Run the stream in this process (foreground) until stopped, or until drained.

    ``until_idle`` processes what the topic holds when the run starts (Spark's
    ``availableNow`` trigger, still in ``maxOffsetsPerTrigger`` steps) and returns;
    ``timeout`` bounds the run (``TransientError`` when exceeded). Checks the tables and
    makes sure the topics exist first. Returns the final progress state.
    """
    from userstream.kafka.topics import ensure_topics

    ensure_topics(settings.kafka)
    check_tables(settings)
    check_checkpoint_kafka(settings)
    return Driver(settings, until_idle=until_idle, timeout=timeout).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m userstream.streaming.job")
    parser.add_argument("--settings", type=Path, required=True, help="JSON from dump_settings")
    parser.add_argument("--until-idle", action="store_true")
    parser.add_argument("--timeout", type=float, default=None)
    args = parser.parse_args(argv)
    from userstream import logs

    logs.setup(logging.INFO)
    # py4j logs every callback (each micro-batch) at INFO: noise in the driver's log.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    settings = load_settings_file(args.settings)
    try:
        run(settings, until_idle=args.until_idle, timeout=args.timeout)
    except BatchStalled as exc:
        log.error("stream_stalled restarting_in_place=true error=%s", exc)
        _restart_in_place()
    except UserstreamError as exc:
        log.error("stream_exit error=%s", exc)
        return 1
    return 0


def _restart_in_place() -> None:
    """End this driver's JVM and exec the same command line: same pid, fresh Spark."""
    from pyspark import SparkContext

    gateway = getattr(SparkContext, "_gateway", None)
    jvm = getattr(gateway, "proc", None)
    if jvm is not None:
        jvm.kill()
        jvm.wait(timeout=30)
    logging.shutdown()
    argv = [sys.executable, "-m", "userstream.streaming.job", *sys.argv[1:]]
    os.execv(sys.executable, argv)  # noqa: S606 - our own interpreter and arguments


if __name__ == "__main__":
    sys.exit(main())
