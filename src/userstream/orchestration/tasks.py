"""The bodies of the ``streaming_pipeline`` DAG's tasks, as plain functions of ``Settings``.

The DAG file only wires these together, so each step can be called and tested without
Airflow. Everything returned is small, JSON-able and goes to XCom.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import Any

from userstream import quality
from userstream.config import Settings
from userstream.errors import TransientError

log = logging.getLogger(__name__)

#: How long ``ensure_stream`` waits for the driver's query to run (``control.start``).
ENSURE_STREAM_START_TIMEOUT_S = 240.0
#: The ``ensure_stream`` task's execution_timeout: the start wait plus preparation (jars,
#: topics, tables) and the task's own start-up.
ENSURE_STREAM_TASK_TIMEOUT_S = 360.0


def seed_for_run(run_id: str) -> str:
    """A source seed derived from the DAG run, so a retried task re-sends the same users."""
    return hashlib.sha256(run_id.encode()).hexdigest()[:16]


def check_kafka(settings: Settings, timeout_s: float = 10.0) -> int:
    """The number of brokers that answer; ``TransientError`` when none does."""
    from confluent_kafka import KafkaException

    from userstream.topics import admin_client

    try:
        metadata = admin_client(settings.kafka).list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise TransientError(
            f"Kafka at {settings.kafka.bootstrap_servers} does not answer: {exc}.",
            hint="Start the local stack with `userstream stack up`, or fix "
            "USERSTREAM_KAFKA__BOOTSTRAP_SERVERS.",
        ) from exc
    return len(metadata.brokers)


def check_cassandra(settings: Settings) -> str:
    """Cassandra's release version; the store raises a clear error when it does not answer."""
    from userstream.store import session

    with session(settings) as cql:
        row = cql.execute("SELECT release_version FROM system.local").one()
        return str(row[0])


def check_services(settings: Settings) -> dict[str, Any]:
    brokers = check_kafka(settings)
    version = check_cassandra(settings)
    log.info("services kafka_brokers=%d cassandra=%s", brokers, version)
    return {"kafka_brokers": brokers, "cassandra_version": version}


def ensure_topics_and_schema(settings: Settings) -> None:
    from userstream.schema import apply_schema
    from userstream.topics import ensure_topics

    ensure_topics(settings.kafka)
    apply_schema(settings)


def ensure_stream(settings: Settings) -> dict[str, Any]:
    """Leave a running stream alone; start it otherwise."""
    from userstream.streaming import control

    proc = control.running(settings)
    if proc is not None:
        log.info("stream already running pid=%d", proc.pid)
        return {"started": False, "pid": proc.pid}
    # Below the task's execution_timeout (ENSURE_STREAM_TASK_TIMEOUT_S in the DAG), so a
    # slow start fails as this function's TransientError (driver killed), not as Airflow
    # killing the task and leaving a half-started driver behind.
    started = control.start(settings, timeout=ENSURE_STREAM_START_TIMEOUT_S)
    pid = getattr(started, "pid", None)
    log.info("stream started pid=%s", pid)
    return {"started": True, "pid": pid}


def _text(key: object) -> str:
    return key.decode() if isinstance(key, bytes) else str(key)


def produce_batch(
    settings: Settings, *, run_id: str, batch_size: int, source_kind: str
) -> dict[str, Any]:
    """Produce ``batch_size`` users with the run's seed; what was delivered, for XCom."""
    from userstream.producer import run_producer
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


def verify_landed(settings: Settings, batch: dict[str, Any]) -> dict[str, int]:
    """Wait (bounded) until every message of the batch is stored or rejected."""
    from userstream.store import session

    messages = _messages(batch)
    with session(settings, keyspace=settings.cassandra.keyspace) as cql:
        landing = quality.wait_landed(
            cql, batch["topic"], messages, timeout_s=settings.airflow.landing_timeout_s
        )
    stored, rejected = landing.counts(messages)
    return {"stored": stored, "rejected": rejected, "users": len(landing.rows)}


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

    stopped = control.stop(settings)
    log.info("stream stopped=%s", stopped)
    return {"stopped": bool(stopped)}
