"""The bodies of the ``streaming_pipeline`` DAG's tasks, as plain functions of ``Settings``.

The DAG file only wires these together, so each step can be called and tested without
Airflow. Everything returned is small, JSON-able and goes to XCom.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from userstream import quality
from userstream.config import KafkaSettings, Settings
from userstream.errors import TerminalError, TransientError

log = logging.getLogger(__name__)


def on_task_failure(context: Any) -> None:
    """An Airflow task's ``on_failure_callback``: say which task of which run failed, why,
    and where to look (its log in the UI, ``userstream status``, the stream's status)."""
    ti = context.get("ti") or context.get("task_instance")
    run = context.get("dag_run")
    exc = context.get("exception")
    task_id = getattr(ti, "task_id", "?")
    log.error(
        "task_failed dag=%s run=%s task=%s try=%s error=%s log=%s next=%s",
        getattr(ti, "dag_id", "?"),
        getattr(run, "run_id", getattr(ti, "run_id", "?")),
        task_id,
        getattr(ti, "try_number", "?"),
        f"{type(exc).__name__}: {exc}" if exc is not None else "unknown",
        getattr(ti, "log_url", None) or "the task's log in the Airflow UI",
        _where_to_look(task_id),
    )


def _where_to_look(task_id: str) -> str:
    if task_id in ("ensure_stream", "verify_landed"):
        return "`userstream stream status` and the stream's log (<state>/logs/stream.log)"
    if task_id == "produce_batch":
        return "`userstream status` (source, Kafka) and the producer's lines in this log"
    if task_id == "quality_checks":
        return "`userstream status` (quality checks) and <state>/results/quality.json"
    return "`userstream status` (every part's health)"


#: The default arguments of every task of the project's DAGs: transient failures retried
#: with a growing delay, a bound on every try, and the failure said.
DEFAULT_ARGS: dict[str, Any] = {
    "owner": "userstream",
    "on_failure_callback": on_task_failure,
    "retries": 2,
    "retry_delay": timedelta(seconds=20),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=5),
    "execution_timeout": timedelta(minutes=5),
}

#: How long ``ensure_stream`` waits for the driver's query to run (``control.start``).
ENSURE_STREAM_START_TIMEOUT_S = 240.0
#: The ``ensure_stream`` task's execution_timeout: the start wait plus preparation (jars,
#: topics, tables) and the task's own start-up.
ENSURE_STREAM_TASK_TIMEOUT_S = 360.0


def seed_for_run(run_id: str) -> str:
    """A source seed derived from the DAG run, so a retried task re-sends the same users."""
    return hashlib.sha256(run_id.encode()).hexdigest()[:16]


def check_kafka(kafka: KafkaSettings, timeout_s: float = 10.0) -> int:
    """The number of brokers that answer; ``TransientError`` when none does."""
    from confluent_kafka import KafkaException

    from userstream.kafka.topics import admin_client

    try:
        metadata = admin_client(kafka).list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise TransientError(
            f"Kafka at {kafka.bootstrap_servers} does not answer: {exc}.",
            hint="Start the local stack with `userstream stack up`, or fix "
            "USERSTREAM_KAFKA__BOOTSTRAP_SERVERS.",
        ) from exc
    return len(metadata.brokers)


def check_cassandra(settings: Settings) -> str:
    """Cassandra's release version; the store raises a clear error when it does not answer."""
    from userstream.store import queries, session

    with session(settings) as cql:
        return queries.release_version(cql)


def prepare_services(settings: Settings) -> dict[str, Any]:
    """Kafka and Cassandra answer (a clear error naming the one that does not), then the
    topics, the schema and the tables exist: one task, as each task costs Airflow seconds
    to start, and the first users wait for it."""
    from userstream.kafka.topics import ensure_topics
    from userstream.store.schema import apply_schema

    brokers = check_kafka(settings.kafka)
    version = check_cassandra(settings)
    log.info("services kafka_brokers=%d cassandra=%s", brokers, version)
    ensure_topics(settings.kafka)
    apply_schema(settings)
    return {"kafka_brokers": brokers, "cassandra_version": version}


class StreamNotRunning(TransientError):
    """The stream is not healthy, and starting it is its service manager's job."""


def ensure_stream(settings: Settings) -> dict[str, Any]:
    """Leave a running stream alone; start it otherwise, unless ``airflow.starts_stream`` is
    false: then only check it (``check_stream``)."""
    from userstream.streaming import control

    proc = control.running(settings)
    if proc is not None:
        log.info("stream already running pid=%d", proc.pid)
        return {"started": False, "pid": proc.pid}
    if not settings.airflow.starts_stream:
        return check_stream(settings)
    # Below the task's execution_timeout (ENSURE_STREAM_TASK_TIMEOUT_S in the DAG), so a
    # slow start fails as this function's TransientError (driver killed), not as Airflow
    # killing the task and leaving a half-started driver behind.
    started = control.start(settings, timeout=ENSURE_STREAM_START_TIMEOUT_S)
    pid = getattr(started, "pid", None)
    log.info("stream started pid=%s", pid)
    return {"started": True, "pid": pid}


def check_stream(settings: Settings) -> dict[str, Any]:
    """``ensure_stream`` where Airflow does not own the stream (``airflow.starts_stream``
    false): ``StreamNotRunning`` (retried, then the run fails) unless it is healthy."""
    from userstream.streaming import control

    state = control.last_progress(settings)
    lag = control.lag(settings, state) if state else None
    report = control.report(settings, state, lag, driver_elsewhere=True)
    if not report["healthy"]:
        raise StreamNotRunning(
            f"The stream is not healthy: {report['reason']}. Airflow does not start it here "
            "(airflow.starts_stream is false).",
            hint="Look at the service that runs `userstream stream supervise` (for example "
            "`docker compose logs stream`); it restarts the stream itself.",
        )
    log.info("stream healthy pid=%s (supervised outside Airflow)", report["pid"])
    return {"started": False, "pid": report["pid"]}


def _text(key: object) -> str:
    return key.decode() if isinstance(key, bytes) else str(key)


def produce_batch(
    settings: Settings, *, run_id: str, batch_size: int, source_kind: str
) -> dict[str, Any]:
    """Produce ``batch_size`` users with the run's seed; what was delivered, for XCom."""
    from userstream.producing.run import run_producer
    from userstream.source.resolve import open_source

    seed = seed_for_run(run_id)
    with open_source(settings.source, source_kind) as source:
        log.info("producing run=%s seed=%s source=%s", run_id, seed, source.description)
        summary = run_producer(
            settings, source_url=source.url, count=batch_size, seed=seed, track_deliveries=True
        )
        description = str(source.description)
    messages = [[_text(d.key), int(d.partition), int(d.offset)] for d in summary.deliveries]
    return {
        "run_id": run_id,
        "seed": seed,
        "source": description,
        "topic": summary.topic,
        "fetched": summary.fetched,
        "produced": len(messages),
        "dead_lettered": summary.dead_lettered,
        "failed": summary.failed,
        "produced_at": datetime.now(UTC).isoformat(),
        "messages": messages,
    }


def _messages(batch: dict[str, Any]) -> list[quality.Message]:
    return [quality.Message(str(k), int(p), int(o)) for k, p, o in batch["messages"]]


#: How long one look of ``check_landed`` waits for the batch before giving the slot back,
#: and how long the sensor then waits before the next look.
LOOK_S = 20.0
POKE_S = 10.0
#: A batch missing this long while the stream has been unhealthy as long fails
#: ``check_landed`` at once: the run ends instead of holding the DAG's only active run for
#: the whole landing timeout (the next runs would queue behind it).
STREAM_BROKEN_S = 120.0


def check_landed(settings: Settings, batch: dict[str, Any]) -> dict[str, int] | None:
    """One look (up to ``LOOK_S``) at whether every message of the batch is stored or
    rejected: the counts when it is, None when some are still missing.

    Raises ``BatchNotLanded`` once ``airflow.landing_timeout_s`` has passed since the batch
    was produced, and ``StreamBroken`` when the stream has been unhealthy for
    ``STREAM_BROKEN_S`` while the batch waited as long (both terminal: waiting longer
    cannot help).
    """
    from userstream.store import session

    messages = _messages(batch)
    with session(settings, keyspace=settings.cassandra.keyspace) as cql:
        landing = quality.wait_landed(cql, batch["topic"], messages, timeout_s=LOOK_S)
    if landing.missing:
        waited = (datetime.now(UTC) - datetime.fromisoformat(batch["produced_at"])).total_seconds()
        if waited >= settings.airflow.landing_timeout_s:
            raise quality.not_landed(messages, landing, waited)
        if waited >= STREAM_BROKEN_S:
            _fail_if_stream_broken(settings, missing=len(landing.missing))
        return None
    stored, rejected = landing.counts(messages)
    return {"stored": stored, "rejected": rejected, "users": len(landing.rows)}


class StreamBroken(TerminalError):
    """The stream has been unhealthy too long for a batch to land."""


def _fail_if_stream_broken(settings: Settings, *, missing: int) -> None:
    from userstream.kafka.topics import end_offsets
    from userstream.streaming import control
    from userstream.streaming.health import parse_time

    state = control.last_progress(settings) or {}
    lag = control.lag_from(settings.kafka, end_offsets(settings.kafka), state)
    # Where the driver runs beside Airflow, its heartbeat is what this side can see.
    report = control.report(
        settings, state, lag, driver_elsewhere=not settings.airflow.starts_stream
    )
    if report.get("healthy"):
        return
    since = parse_time(report.get("since"))
    if since is None or (datetime.now(UTC) - since).total_seconds() < STREAM_BROKEN_S:
        return
    raise StreamBroken(
        f"{missing} users of the batch are not stored, and the stream has been unhealthy "
        f"since {report.get('since')}: {report.get('reason')}.",
        hint="Run `userstream stream status` and read the stream's log; the next run "
        "starts as usual once the stream is healthy.",
    )


def quality_checks(settings: Settings, batch: dict[str, Any]) -> dict[str, Any]:
    """Check the batch's stored rows, write ``results/quality.json``, raise when a check fails."""
    from userstream.store import session

    messages = _messages(batch)
    with session(settings, keyspace=settings.cassandra.keyspace) as cql:
        landing = quality.find_landed(cql, batch["topic"], messages)
    # Per message, not per distinct user: a user produced twice is two stored messages.
    stored, rejected = landing.counts(messages)
    report = quality.run_checks(
        landing.rows,
        run_id=batch["run_id"],
        produced=int(batch["produced"]),
        stored=stored,
        rejected=rejected,
        dead_lettered=int(batch["dead_lettered"]),
        failed=int(batch["failed"]),
        max_delay_s=settings.airflow.max_landing_delay_s,
    )
    quality.write_report(report, settings.paths.results / "quality.json")
    for check in report.checks:
        log.info("quality check=%s passed=%s %s", check.name, check.passed, check.detail)
    quality.raise_for_report(report)
    return report.to_json()


def stop_stream(settings: Settings) -> dict[str, Any]:
    from userstream.streaming import control

    if not settings.airflow.starts_stream:
        raise TerminalError(
            "Airflow does not own the stream here (airflow.starts_stream is false): its "
            "service manager does.",
            hint="Stop it there (for example `docker compose stop stream`).",
        )
    stopped = control.stop(settings)
    log.info("stream stopped=%s", stopped)
    return {"stopped": bool(stopped)}
