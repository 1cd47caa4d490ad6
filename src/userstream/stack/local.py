"""Kafka + Cassandra on this machine, as one unit: up, down, status; with ``cluster``, also
a Spark standalone master and workers (``stack.spark``) for the stream to run on.

``stack_up`` is idempotent (a running component is reported, not started twice) and leaves
nothing half-started: if Cassandra fails after Kafka was started by the same call, Kafka is
stopped again. ``stack_down`` keeps all data, so a later ``stack_up`` finds every message and row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from userstream.config import Settings
from userstream.errors import UserstreamError
from userstream.host import process
from userstream.host.net import port_open
from userstream.host.state import ensure_layout as ensure_layout
from userstream.stack import cassandra, kafka, spark

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


def _log_progress(line: str) -> None:
    log.info("%s", line)


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    running: bool
    pid: int | None
    address: str
    version: str | None
    healthy: bool
    detail: str
    #: Where its Prometheus metrics are served (when it runs).
    metrics_url: str


def stack_up(
    settings: Settings, *, cluster: bool = False, progress: Progress = _log_progress
) -> None:
    """Start Kafka, then Cassandra (each only when not already running), ready when this
    returns; with ``cluster``, then the Spark master and its workers.

    ``progress`` receives one line per step (`starting…`, `ready in Ns`). Raises the
    ``UserstreamError`` of the first component that fails, after stopping what this call started.
    """
    ensure_layout(settings.paths)
    started_kafka = False
    try:
        started_kafka = _up_one(
            "Kafka", kafka.NAME, kafka.address(settings), lambda: kafka.start_kafka(settings),
            settings, progress,
        )  # fmt: skip
        _up_one(
            "Cassandra", cassandra.NAME, cassandra.address(settings),
            lambda: cassandra.start_cassandra(settings), settings, progress,
        )  # fmt: skip
        if cluster:
            workers = settings.cluster.spark_workers
            _up_one(
                f"Spark cluster (master and {workers} workers)", spark.MASTER,
                spark.master_url(settings), lambda: spark.start_cluster(settings), settings,
                progress,
            )  # fmt: skip
    except BaseException:
        if started_kafka:
            progress("Kafka: stopping it again, because the stack did not come up")
            kafka.stop_kafka(settings)
        raise


def _up_one(
    label: str,
    name: str,
    address: str,
    start: Callable[[], float | None],
    settings: Settings,
    progress: Progress,
) -> bool:
    running = process.running(settings.paths, name)
    if running is not None and name == spark.MASTER:
        running = None  # the master alone is not the cluster: start_cluster adds workers
    if running is not None:
        progress(f"{label}: already running (pid {running.pid}) on {address}")
        if name == cassandra.NAME:
            # Cheap and idempotent: repairs a node whose first start was interrupted.
            cassandra.ensure_secured(settings)
        return False
    progress(f"{label}: starting on {address}…")
    took = process.with_ticks(start, label, settings.paths.log_file(name), progress)
    if took is None:
        progress(f"{label}: already running on {address}")
        return False
    progress(f"{label}: ready in {took:.0f}s")
    return True


def stack_down(settings: Settings, *, progress: Progress = _log_progress) -> None:
    """Stop the Spark cluster when it runs, then Cassandra, then Kafka: SIGTERM, SIGKILL after
    a bound. Data is kept."""
    stopped = spark.stop_cluster(settings)
    if stopped:
        progress(f"Spark cluster: stopped ({', '.join(stopped)})")
    for label, stop in (
        ("Cassandra", lambda: cassandra.stop_cassandra(settings)),
        ("Kafka", lambda: kafka.stop_kafka(settings)),
    ):
        progress(f"{label}: {'stopped' if stop() else 'was not running'}")


def stack_status(settings: Settings) -> list[ComponentStatus]:
    """What runs, where, which version, and whether it answers its protocol right now (the
    Spark cluster's processes too, once it was started)."""
    return [_kafka_status(settings), _cassandra_status(settings), *_spark_status(settings)]


def _spark_status(settings: Settings) -> list[ComponentStatus]:
    """The master and each worker, while the cluster is up (a pid file of it remains: one
    that died shows as not running; ``down`` removes them)."""
    names = spark.names(settings)
    if not any(settings.paths.pid_file(n).exists() for n in names):
        return []
    alive = spark.alive_worker_ports(settings)
    version = spark.version()
    parts = []
    for name in names:
        proc = process.running(settings.paths, name)
        if name == spark.MASTER:
            healthy = proc is not None and port_open(spark.HOST, settings.cluster.spark_master_port)
            detail = f"{len(alive)} workers alive" if healthy else "not answering"
            address = spark.master_url(settings)
        else:
            # Healthy when the master counts this very process among its live workers.
            healthy = proc is not None and bool(spark.listening_ports(proc.pid) & alive)
            detail = "registered" if healthy else "not registered with the master"
            address = f"{spark.HOST} (worker of {spark.master_url(settings)})"
        parts.append(
            ComponentStatus(
                name,
                proc is not None,
                proc.pid if proc else None,
                address,
                version,
                healthy,
                detail if proc is not None else "not running",
                spark.ui_url(settings),
            )
        )
    return parts


def _kafka_status(settings: Settings) -> ComponentStatus:
    proc = process.running(settings.paths, kafka.NAME)
    address = kafka.address(settings)
    healthy = False
    detail = "not running"
    if proc is not None:
        healthy = port_open(settings.kafka.host, settings.kafka.port) and kafka.broker_answers(
            settings.kafka.model_copy(update={"bootstrap_servers": address})
        )
        detail = "answers (topics listed)" if healthy else "running, not answering"
    return ComponentStatus(
        "kafka", proc is not None, proc.pid if proc else None, address,
        kafka.version(settings), healthy, detail, kafka.metrics_url(settings),
    )  # fmt: skip


def _cassandra_status(settings: Settings) -> ComponentStatus:
    from userstream import store
    from userstream.store import queries

    proc = process.running(settings.paths, cassandra.NAME)
    address = cassandra.address(settings)
    version = cassandra.version(settings)
    healthy = False
    detail = "not running"
    if proc is not None:
        try:
            with store.session(settings) as sess:
                version = queries.release_version(sess)
            healthy = True
            detail = "answers (CQL login ok)"
        except UserstreamError as exc:
            detail = f"running, not answering: {exc.message}"
    return ComponentStatus(
        "cassandra", proc is not None, proc.pid if proc else None, address,
        version, healthy, detail, cassandra.metrics_url(settings),
    )  # fmt: skip
