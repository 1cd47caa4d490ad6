"""Kafka + Cassandra on this machine, as one unit: up, down, status (with the local schema
registry, ``stack.schema_registry``, when no registry URL is configured); with ``cluster``, Kafka
as three nodes (``stack.kafka``: 127.0.0.1-3, three copies of every message), Cassandra as
three (``stack.cassandra``: 127.0.0.1-3, three replicas of every row), and a Spark
standalone master and workers (``stack.spark``) for the stream to run on.

``stack_up`` is idempotent (a running component is reported, not started twice) and leaves
nothing half-started: if Cassandra fails after Kafka was started by the same call, Kafka is
stopped again. ``stack_down`` keeps all data, so a later ``stack_up`` finds every message and row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from userstream.config import CLUSTER_MODE_FILE, Settings, StatePaths
from userstream.files import write_json
from userstream.host import process
from userstream.host.net import port_open
from userstream.host.state import disk_usage
from userstream.host.state import ensure_layout as ensure_layout
from userstream.stack import cassandra, housekeeper, kafka, schema_registry, spark
from userstream.stack.server import ComponentStatus, Server, external

#: The data servers the local runtime runs, through their one interface (stack/server.py).
SERVERS: tuple[Server, ...] = (kafka, cassandra)

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


def _log_progress(line: str) -> None:
    log.info("%s", line)


def stack_up(
    settings: Settings, *, cluster: bool = False, progress: Progress = _log_progress
) -> None:
    """Start Kafka (and the local registry after it) and Cassandra side by side, each only when not
    already running, ready when this returns; with ``cluster``, Kafka and Cassandra as their
    three nodes each, and then the Spark master and its workers. A Kafka or Cassandra
    cluster already running (or left from one, ``clustered``) is kept, with or without
    ``cluster``.

    ``progress`` receives one line per step (`starting…`, `ready in Ns`). Raises the
    ``UserstreamError`` of the first component that fails, after stopping the Kafka and
    Cassandra this call started (a part that fails stops what it started of itself).
    """
    ensure_layout(settings.paths)
    kafka_cluster = cluster or kafka.clustered(settings)
    cassandra_cluster = cluster or cassandra.clustered(settings)
    # A taken port is refused before anything starts (Cassandra takes ~40 s to start and as
    # long to be stopped again when Kafka then finds its port taken).
    kafka.check_ports(settings, cluster=kafka_cluster)
    cassandra.check_ports(settings, cluster=cassandra_cluster)
    if settings.registry.is_local:
        schema_registry.check_port(settings)
    started_keeper = housekeeper.start(settings)
    if started_keeper:
        h = settings.housekeeping
        progress(f"Housekeeper: started (logs rotate past {h.log_max_mb} MB, {h.log_files} kept)")
    started_kafka = started_cassandra = started_registry = False
    already = kafka.running_nodes(settings)
    already_cassandra = cassandra.running_nodes(settings)
    try:
        # Cassandra needs nothing of Kafka: it starts beside Kafka and the registry.
        with ThreadPoolExecutor(1, thread_name_prefix="cassandra-up") as beside:
            cassandra_up = beside.submit(
                _up_server, cassandra, settings, progress, cluster=cassandra_cluster
            )
            try:
                started_kafka = _up_server(kafka, settings, progress, cluster=kafka_cluster)
                if settings.registry.is_local:
                    on_kafka = _on_local_kafka(settings, cluster=kafka_cluster)
                    started_registry = _up_one(
                        "Schema registry",
                        schema_registry.process_name(settings.registry),
                        schema_registry.address(settings.registry),
                        lambda: schema_registry.start_registry(on_kafka),
                        settings,
                        progress,
                    )
            finally:
                # Whatever happened to Kafka, Cassandra's start ends first, so that what it
                # started is known (and stopped again below when Kafka's failed).
                # (``exception`` waits for it.)
                started_cassandra = cassandra_up.exception() is None and cassandra_up.result()
            started_cassandra = cassandra_up.result()  # Cassandra's error, after Kafka's
        if cluster:
            workers = settings.cluster.spark_workers
            _up_one(
                f"Spark cluster (master and {workers} workers)", spark.MASTER,
                spark.master_url(settings.cluster), lambda: spark.start_cluster(settings), settings,
                progress,
            )  # fmt: skip
            remember_cluster(settings)
    except BaseException:
        # Only what this call started; a failed stop leaves the other stop still to do.
        try:
            if started_cassandra:
                progress("Cassandra: stopping it again, because the stack did not come up")
                cassandra.stop(settings, keep=already_cassandra)
        finally:
            if started_registry:
                progress("Schema registry: stopping it again, because the stack did not come up")
                schema_registry.stop_registry(settings)
            if started_kafka:
                progress("Kafka: stopping it again, because the stack did not come up")
                kafka.stop(settings, keep=already)
            if started_keeper:
                housekeeper.stop(settings)
        raise


def _up_server(
    server: Server, settings: Settings, progress: Callable[[str], None], *, cluster: bool
) -> bool:
    """``_up_one`` for Kafka or Cassandra, one node or the local cluster of it."""
    return _up_one(
        f"{server.LABEL} cluster ({server.CLUSTER_NODES} nodes)" if cluster else server.LABEL,
        None if cluster else server.NAME,
        server.address(settings, cluster=cluster),
        lambda: server.start(settings, cluster=cluster),
        settings,
        progress,
        log_name=server.cluster_nodes(settings)[0].name if cluster else None,
    )


def cluster_settings(settings: Settings) -> dict[str, dict[str, object]]:
    """What the local cluster changes in the settings: every Kafka client on its three
    brokers (new topics with a replica on each), every Cassandra client on its three nodes
    (keyspaces with three replicas), the stream on its Spark master with half of its cores,
    so a second stream gets executors too."""
    on_cassandra = cassandra.on_cluster(settings.cassandra, settings)
    c = settings.cluster
    return {
        "kafka": {
            "bootstrap_servers": kafka.address(settings, cluster=True),
            "replication_factor": kafka.CLUSTER_NODES,
        },
        "cassandra": {"hosts": on_cassandra.hosts, "replication": on_cassandra.replication},
        "spark": {
            "master": spark.master_url(settings.cluster),
            "cores_max": max(1, c.spark_workers * c.spark_worker_cores // 2),
        },
    }


def remember_cluster(settings: Settings) -> None:
    """Write ``CLUSTER_MODE_FILE``: from now on every command of this state folder uses the
    cluster (``cluster_settings``) unless a variable says otherwise."""
    write_json(settings.paths.root / CLUSTER_MODE_FILE, cluster_settings(settings), indent=2)


def forget_cluster(paths: StatePaths) -> None:
    (paths.root / CLUSTER_MODE_FILE).unlink(missing_ok=True)


def _on_local_kafka(settings: Settings, *, cluster: bool) -> Settings:
    """``settings`` with Kafka's clients on the local node or cluster (three copies of a new
    topic there), when the clients use the local Kafka; else unchanged."""
    if not kafka.serves(settings):
        return settings
    update: dict[str, object] = {"bootstrap_servers": kafka.address(settings, cluster=cluster)}
    if cluster:
        update["replication_factor"] = kafka.CLUSTER_NODES
    return settings.model_copy(update={"kafka": settings.kafka.model_copy(update=update)})


def _up_one(
    label: str,
    name: str | None,
    address: str,
    start: Callable[[], float | None],
    settings: Settings,
    progress: Progress,
    log_name: str | None = None,
) -> bool:
    """Start one part unless ``name``'s process runs; a part of several processes (no
    ``name``; ``log_name`` is the log its progress quotes) is always asked, and its
    ``start`` returns None when all of them run."""
    running = process.running(settings.paths, name) if name is not None else None
    if running is not None and name == spark.MASTER:
        running = None  # the master alone is not the cluster: start_cluster adds workers
    if running is not None:
        progress(f"{label}: already running (pid {running.pid}) on {address}")
        if name == cassandra.NAME:
            # Cheap and idempotent: repairs a node whose first start was interrupted.
            cassandra.ensure_secured(settings)
        return False
    progress(f"{label}: starting on {address}…")
    log_file = settings.paths.log_file(log_name or name or label)
    took = process.with_ticks(start, label, log_file, progress)
    if took is None:
        progress(f"{label}: already running on {address}")
        return False
    progress(f"{label}: ready in {took:.0f}s")
    return True


def stack_down(settings: Settings, *, progress: Progress = _log_progress) -> None:
    """Stop the Spark cluster when it runs, then the schema registry, Cassandra, and Kafka:
    SIGTERM, SIGKILL after a bound. Data is kept; commands no longer use the cluster."""
    forget_cluster(settings.paths)
    stopped = spark.stop_cluster(settings)
    if stopped:
        progress(f"Spark cluster: stopped ({', '.join(stopped)})")
    # Asked even with a registry URL set: one started before it was set may still run.
    if schema_registry.stop_registry(settings):
        progress("Schema registry: stopped")
    elif settings.registry.is_local:
        progress("Schema registry: was not running")
    for server in reversed(SERVERS):  # Cassandra, then Kafka: the reverse of the start
        progress(f"{server.LABEL}: {'stopped' if server.stop(settings) else 'was not running'}")
    if housekeeper.stop(settings):
        progress("Housekeeper: stopped")


def stack_status(settings: Settings) -> list[ComponentStatus]:
    """What runs, where, which version, and whether it answers its protocol right now (the
    Spark cluster's processes too, once it was started)."""
    on_kafka, on_cassandra = SERVERS  # the registry's part goes between theirs
    parts = [*on_kafka.status(settings), *_registry_status(settings),
             *on_cassandra.status(settings), *_spark_status(settings)]  # fmt: skip
    failing = [p.name for p in parts if not p.healthy]
    return [*parts, *_housekeeping_status(settings, failing)]


def _housekeeping_status(settings: Settings, failing: list[str]) -> list[ComponentStatus]:
    """The housekeeper (when a part runs here), and the disk: the state folder's size and
    its filesystem's free space, unhealthy below ``housekeeping.min_free_disk_mb`` (before
    Kafka or Cassandra fail on a full disk); then it names the ``failing`` parts too."""
    h = settings.housekeeping
    keeper = process.running(settings.paths, housekeeper.NAME)
    sizes, free = disk_usage(settings.paths)
    enough = free >= h.min_free_disk_mb * _MB
    biggest = ", ".join(f"{name} {_size(n)}" for name, n in
                        sorted(sizes.items(), key=lambda kv: -kv[1])[:3] if name)  # fmt: skip
    said = (
        f"{_size(free)} free; the state folder holds {_size(sum(sizes.values()))} ({biggest})"
        if enough
        else f"only {_size(free)} free (less than {h.min_free_disk_mb} MB)"
        + (f"; failing now: {', '.join(failing)}" if failing else "")
        + ": free space or move USERSTREAM_STATE_DIR"
        + (", then `userstream up`" if failing else " before Kafka and Cassandra stop writing")
    )
    disk = ComponentStatus(DISK_PART, True, None, str(settings.paths.root), None, enough, said,
                           None)  # fmt: skip
    if keeper is None and not (kafka.serves(settings) or cassandra.serves(settings)):
        return [disk]  # no local part to keep the logs of: the services are the user's
    return [
        ComponentStatus(
            HOUSEKEEPER_PART, keeper is not None, keeper.pid if keeper else None,
            str(settings.paths.logs), None, keeper is not None,
            f"logs rotate past {h.log_max_mb} MB ({h.log_files} kept); Airflow's history "
            f"past {h.airflow_retention_days} days cleaned hourly" if keeper
            else "not running: logs grow unbounded (`userstream stack up` starts it)", None,
        ),
        disk,
    ]  # fmt: skip


#: The housekeeping parts in `status`.
HOUSEKEEPER_PART = "housekeeper"
DISK_PART = "disk"
_MB = 1024 * 1024


def _size(n: int) -> str:
    return f"{n / 1024**3:.1f} GB" if n >= 1024**3 else f"{n / _MB:.0f} MB"


#: The registry's part in `status` and `stack status`.
REGISTRY_PART = "schema registry"


def _registry_status(settings: Settings) -> list[ComponentStatus]:
    """The registry in use: the local process (healthy when it lists its subjects to the
    generated login), or a registry of the user's (``registry.url``), judged by its answer
    to the configured login alone."""
    address = schema_registry.address(settings.registry)
    try:
        found = schema_registry.subjects(settings)
        answer, said = True, f"answers ({len(found)} subjects)"
    except Exception as exc:  # noqa: BLE001 - any failure to answer is the health we report
        answer, said = False, f"not answering: {type(exc).__name__}: {exc}"
    if not settings.registry.is_local:
        return [external(REGISTRY_PART, address, answer, said)]
    proc = process.running(settings.paths, schema_registry.process_name(settings.registry))
    if proc is None:
        said = "not running"
    elif not answer:
        said = f"running, {said}"
    return [
        ComponentStatus(
            REGISTRY_PART, proc is not None, proc.pid if proc else None, address, None,
            proc is not None and answer, said,
            schema_registry.metrics_url(settings.registry) if proc else None,
        )
    ]  # fmt: skip


def _spark_status(settings: Settings) -> list[ComponentStatus]:
    """The master and each worker, while the cluster is up (a pid file of it remains: one
    that died shows as not running; ``down`` removes them)."""
    names = spark.names(settings.cluster)
    if not any(settings.paths.pid_file(n).exists() for n in names):
        return []
    alive = spark.alive_worker_ports(settings.cluster)
    version = spark.version()
    parts = []
    for name in names:
        proc = process.running(settings.paths, name)
        if name == spark.MASTER:
            healthy = proc is not None and port_open(spark.HOST, settings.cluster.spark_master_port)
            detail = f"{len(alive)} workers alive" if healthy else "not answering"
            address = spark.master_url(settings.cluster)
        else:
            # Healthy when the master counts this very process among its live workers.
            healthy = proc is not None and bool(spark.listening_ports(proc.pid) & alive)
            detail = "registered" if healthy else "not registered with the master"
            address = f"{spark.HOST} (worker of {spark.master_url(settings.cluster)})"
        parts.append(
            ComponentStatus(
                name,
                proc is not None,
                proc.pid if proc else None,
                address,
                version,
                healthy,
                detail if proc is not None else "not running",
                spark.ui_url(settings.cluster),
            )
        )
    return parts
