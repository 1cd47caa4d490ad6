"""The local Kafka: one KRaft node (broker + controller) from Maven Central jars, or with
``cluster`` three of them, a quorum of three voters.

The single node listens on ``kafka.host``; the cluster's nodes ``kafka-1``…``kafka-3`` on
127.0.0.1, 127.0.0.2 and 127.0.0.3 (Linux routes all of 127.0.0.0/8 to the loopback), each
with the same ports, and topics get three replicas with ``min.insync.replicas=2``: a node
may be lost without losing or refusing a write.

Data lives in ``<state>/data/kafka`` (``<state>/data/kafka-cluster/kafka-N`` for the
cluster, which keeps its own) and survives ``stop``; a node's storage is formatted
only when it has never been (no ``meta.properties``), so a restart finds every message.

Nobody gets in without a login: the client listener takes SCRAM-SHA-512 users, the
controller listener the broker's own SASL/PLAIN login, and the authorizer allows only what
an ACL allows (``topics.ensure_acls``). The logins are generated once into
``<state>/secrets/kafka.json`` (0600) before the storage is formatted; the admin user is
written into the storage at format time (through a Java argument file, never a command
line), the others are created by the admin once the broker answers.

Its Prometheus metrics (``templates/kafka-metrics.yaml``: topics, requests, replicas, KRaft,
the JVM) are served by the JMX exporter agent on 127.0.0.1, a cluster node's on its own
loopback address (``jmx_exporter``).
"""

from __future__ import annotations

import base64
import functools
import logging
import os
import subprocess
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from userstream.config import KafkaSettings, Settings, StatePaths
from userstream.errors import ConfigError, TerminalError
from userstream.files import write_private
from userstream.host import process
from userstream.host.locks import component_lock
from userstream.host.net import on_this_machine, port_open, split_address
from userstream.host.state import secrets_dir
from userstream.kafka import client_config
from userstream.stack import jars, jmx_exporter
from userstream.stack._java import crash_report_option, require_java
from userstream.stack._ports import require_free_nodes
from userstream.stack._render import render
from userstream.stack._wait import wait_ready
from userstream.stack.server import ComponentStatus, external, node_status

log = logging.getLogger(__name__)

NAME = "kafka"
LABEL = "Kafka"
MAIN_CLASS = "kafka.Kafka"
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 60.0


#: The local cluster's size: three voters survive the loss of one.
CLUSTER_NODES = 3
CLUSTER_MIN_INSYNC = 2


@dataclass(frozen=True)
class Node:
    """One local Kafka process: its pid-file name, KRaft node id, address and storage."""

    name: str
    node_id: int
    host: str
    home: Path
    #: The static quorum (``id@host:port,…``) of a cluster node; None for the single node.
    voters: str | None = None

    @property
    def config_file(self) -> Path:
        return self.home / "config" / "server.properties"

    @property
    def log_dirs(self) -> Path:
        return self.home / "kraft-logs"

    @property
    def in_cluster(self) -> bool:
        return self.voters is not None

    @property
    def data_root(self) -> Path:
        """What holds this Kafka's data: the single node's home, or the cluster's folder."""
        return self.home.parent if self.in_cluster else self.home

    @property
    def metrics_host(self) -> str:
        """Where its metrics agent listens: 127.0.0.1, or a cluster node's own address (the
        three share the port)."""
        return self.host if self.in_cluster else jmx_exporter.HOST

    @property
    def formatted(self) -> bool:
        return (self.log_dirs / "meta.properties").is_file()


def single_node(settings: Settings) -> Node:
    return Node(NAME, 1, settings.kafka.host, settings.paths.data / NAME)


def cluster_nodes(settings: Settings) -> list[Node]:
    """The local cluster's nodes: ``kafka-N`` on 127.0.0.N, the ports of ``kafka.*``."""
    hosts = {i: f"127.0.0.{i}" for i in range(1, CLUSTER_NODES + 1)}
    voters = ",".join(f"{i}@{h}:{settings.kafka.controller_port}" for i, h in hosts.items())
    root = settings.paths.data / "kafka-cluster"
    return [Node(f"{NAME}-{i}", i, h, root / f"{NAME}-{i}", voters) for i, h in hosts.items()]


def nodes(settings: Settings, *, cluster: bool) -> list[Node]:
    return cluster_nodes(settings) if cluster else [single_node(settings)]


def clustered(settings: Settings) -> bool:
    """Whether the local Kafka is the cluster, for `up`, `stack up` and `status` alike
    (``process.group_in_use``)."""
    return process.group_in_use(settings.paths, NAME, [n.name for n in cluster_nodes(settings)])


def broker_secrets(paths: StatePaths) -> Path:
    """The folder of the broker's own passwords, one file each (0600), which its config names
    (``${dir:<folder>:<file>}``) instead of holding them. Every node reads the same."""
    folder = secrets_dir(paths) / "kafka-broker"
    folder.mkdir(exist_ok=True, mode=0o700)
    return folder


def node_address(kafka: KafkaSettings, node: Node) -> str:
    return f"{node.host}:{kafka.port}"


def serves(settings: Settings) -> bool:
    """Whether the clients' bootstrap servers name the local broker (single or cluster):
    this machine at its port. Elsewhere is the user's Kafka (a cluster, Compose's)."""
    for entry in settings.kafka.bootstrap_servers.split(","):
        host, port = split_address(entry)
        if on_this_machine(host) and port == settings.kafka.port:
            return True
    return False


def address(settings: Settings, *, cluster: bool = False) -> str:
    """The bootstrap servers of the single node, or of every node of the cluster."""
    return ",".join(node_address(settings.kafka, n) for n in nodes(settings, cluster=cluster))


def metrics_url(kafka: KafkaSettings, node: Node | None = None) -> str:
    host = node.metrics_host if node is not None else jmx_exporter.HOST
    return jmx_exporter.metrics_url(kafka.metrics_port, host=host)


def version(settings: Settings) -> str | None:
    """The broker version, read from the fetched jar's name (None before `fetch-jars`)."""
    return jars.jar_version(settings.paths.lib, NAME, "kafka_2.13")


def cluster_id() -> str:
    """A new cluster id in Kafka's Uuid text form: 16 random bytes, URL-safe base64 without
    padding. Like Kafka's own Uuid.randomUuid, never one that starts with "-": the storage
    tool would read it as an option (one id in 64 did, and failed the format)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


def _jvm_base(settings: Settings, node: Node, java: str) -> list[str]:
    conf = node.config_file.parent
    lib = jars.lib_dir(settings.paths.lib, NAME)
    return [
        java,
        f"-Xms{settings.kafka.heap}",
        f"-Xmx{settings.kafka.heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:+ExplicitGCInvokesConcurrent",
        crash_report_option(settings.paths.logs),
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={conf / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={settings.paths.logs}",
        "-cp",
        # A classpath wildcard keeps the command line (and `ps`) short.
        f"{lib}/*",
    ]


def _ensure_logins(
    settings: Settings, group: list[Node] | None = None
) -> dict[str, client_config.Login]:
    """The broker's logins, generated on first use (before the storage is formatted)."""
    logins = client_config.local_logins(settings.kafka)
    if logins is not None:
        return logins
    if client_config.operator_managed(settings.kafka):
        raise TerminalError(
            "USERSTREAM_KAFKA__CLIENT_CONFIG sets security.protocol, but the local broker "
            "uses its own generated logins.",
            hint="Unset USERSTREAM_KAFKA__CLIENT_CONFIG for the local stack (it is for a "
            "cluster of your own).",
        )
    group = group or [single_node(settings)]
    formatted = [n for n in group if n.formatted]
    if formatted:
        home = formatted[0].data_root
        raise TerminalError(
            f"The Kafka data in {home} was formatted without the logins this userstream "
            f"keeps in {settings.kafka.logins_file} (an older userstream, or that file was "
            "removed); its broker's users are written only when the storage is first "
            "formatted.",
            hint="Stop the stack, drain or give up what the topics still hold, remove "
            f"{home}, and run `userstream stack up` again (Cassandra's data is not "
            "affected; the stream's checkpoint then refuses the new Kafka: give it another "
            "one, or remove it to read the new topic from its beginning).",
        )
    logins = client_config.generate_logins(settings.kafka)
    log.info("kafka logins generated file=%s", settings.kafka.logins_file)
    return logins


def _render_config(
    settings: Settings, logins: dict[str, client_config.Login], node: Node | None = None
) -> Path:
    k = settings.kafka
    node = node or single_node(settings)
    conf = node.config_file
    render("kafka-log4j2.properties", conf.parent / "log4j2.properties", {})
    render("kafka-metrics.yaml", conf.parent / jmx_exporter.RULES_FILE, {})
    controller, admin = logins[client_config.CONTROLLER], logins["admin"]
    passwords = broker_secrets(settings.paths)
    write_private(passwords / "controller_password", controller.password)
    write_private(passwords / "admin_password", admin.password)
    if not node.in_cluster:
        quorum, replication, min_isr = (
            f"controller.quorum.bootstrap.servers={node.host}:{k.controller_port}",
            1,
            1,
        )
    else:
        quorum, replication, min_isr = (
            f"controller.quorum.voters={node.voters}",
            CLUSTER_NODES,
            CLUSTER_MIN_INSYNC,
        )
    return render(
        "kafka-server.properties",
        conf,
        {
            "node_id": node.node_id,
            "quorum": quorum,
            "host": node.host,
            "port": k.port,
            "controller_port": k.controller_port,
            "log_dirs": node.log_dirs,
            "partitions": k.partitions,
            "replication": replication,
            "min_isr": min_isr,
            "controller_user": controller.username,
            "admin_user": admin.username,
            "secrets_dir": passwords,
        },
        extra="".join(f"{key}={value}\n" for key, value in k.broker_properties.items()),
    )


def _command(settings: Settings, node: Node, java: str) -> list[str]:
    """The broker's command line: the JVM, the metrics agent (not in the format tool's JVM:
    it would take the port), the main class and its config."""
    conf = node.config_file
    agent = jmx_exporter.agent_option(
        settings.paths.lib,
        settings.kafka.metrics_port,
        conf.parent / jmx_exporter.RULES_FILE,
        host=node.metrics_host,
    )
    return [*_jvm_base(settings, node, java), agent, MAIN_CLASS, str(conf)]


def _cluster_id(group: list[Node]) -> str:
    """The id the nodes of ``group`` share: a formatted node's (a start interrupted between
    two formats), else a new one."""
    for node in group:
        if node.formatted:
            for line in (node.log_dirs / "meta.properties").read_text().splitlines():
                if line.startswith("cluster.id="):
                    return line.removeprefix("cluster.id=").strip()
    return cluster_id()


def _format_storage(
    settings: Settings,
    java: str,
    admin: client_config.Login,
    node: Node | None = None,
    cluster: str | None = None,
) -> None:
    """Format a node's KRaft storage once, with the admin's SCRAM login in it; a formatted
    log dir is never touched again. The single node is a quorum of one (``--standalone``);
    a cluster node names its voters in its config and shares ``cluster``, the cluster id."""
    node = node or single_node(settings)
    if node.formatted:
        return
    out_log = settings.paths.log_file(f"{node.name}-format")
    out_log.parent.mkdir(parents=True, exist_ok=True)
    scram = f"{client_config.MECHANISM}=[name={admin.username},password={admin.password}]"
    tool_args = [
        "kafka.tools.StorageTool",
        "format",
        *([] if node.in_cluster else ["--standalone"]),
        f"--cluster-id={cluster or cluster_id()}",
        "-c",
        str(node.config_file),
        "--add-scram",
        scram,
    ]
    # The password goes in a Java argument file (0600, removed after), not on the command
    # line that `ps` shows; the launcher reads the main class and its arguments from it.
    argfile = secrets_dir(settings.paths) / f"{node.name}-format.args"
    argfile.unlink(missing_ok=True)
    with os.fdopen(os.open(argfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write("\n".join(f'"{arg}"' for arg in tool_args) + "\n")
    cmd = [*_jvm_base(settings, node, java), f"@{argfile}"]
    out_log.unlink(missing_ok=True)  # private (0600) like every log, a rerun's too
    try:
        with os.fdopen(os.open(out_log, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            result = subprocess.run(
                cmd, stdout=out, stderr=subprocess.STDOUT, check=False, timeout=300, umask=0o077
            )
    finally:
        argfile.unlink(missing_ok=True)
    if result.returncode != 0:
        raise TerminalError(
            f"Formatting Kafka's storage in {node.log_dirs} failed (exit {result.returncode}).",
            hint=f"The last lines of its output:\n{process.tail(out_log, 15)}",
            log=out_log,
        )
    log.info("kafka storage formatted dir=%s", node.log_dirs)


def _local(settings: Settings, *, cluster: bool = False) -> KafkaSettings:
    """The Kafka settings pointed at the local node's (or cluster's) own address."""
    return settings.kafka.model_copy(
        update={"bootstrap_servers": address(settings, cluster=cluster)}
    )


def node_answers(kafka: KafkaSettings, node: Node, *, brokers: int = 1) -> bool:
    """True when ``node`` alone answers the admin role and its metadata lists ``brokers``
    brokers (a cluster node answers before its peers have joined)."""
    if not port_open(node.host, kafka.port):
        return False
    alone = kafka.model_copy(update={"bootstrap_servers": node_address(kafka, node)})
    return broker_answers(alone, timeout=5.0, brokers=brokers)


def broker_answers(kafka: KafkaSettings, timeout: float = 5.0, *, brokers: int = 1) -> bool:
    """True when the admin role can list the cluster's topics within ``timeout``, and the
    metadata lists at least ``brokers`` brokers."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({**client_config.config(kafka, "admin"), "socket.timeout.ms": 5000})
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException:
        return False
    return len(metadata.brokers) >= brokers


def _ensure_users(
    settings: Settings, logins: dict[str, client_config.Login], *, cluster: bool = False
) -> None:
    """Create (or re-set) the SCRAM users of the roles other than admin. Idempotent."""
    others = [role for role in client_config.ROLES if role != "admin"]
    config = client_config.config(_local(settings, cluster=cluster), "admin")
    client_config.ensure_users(config, logins, others)


def start(settings: Settings, *, cluster: bool = False) -> float | None:
    """Start the single node, or with ``cluster`` the cluster's three, and wait until every
    node answers (a cluster node: once it sees all three); return the seconds it took.

    Returns None when they already run (nothing is started twice). Raises ``ConfigError``
    for a taken port, a missing Java/Maven or the other kind of Kafka still running,
    ``TerminalError`` when a node dies while starting, ``TransientError`` when one does not
    answer in time; on any error the nodes this call started are stopped again, so nothing
    is left half-started.
    """
    with component_lock(settings.paths, NAME):
        return _start_kafka(settings, cluster=cluster)


def check_ports(settings: Settings, *, cluster: bool = False) -> None:
    """``ConfigError`` naming a port that a node not running yet needs and another program
    holds (before anything starts: ``stack_up`` asks every server first)."""
    k = settings.kafka
    require_free_nodes(
        settings.paths,
        LABEL,
        nodes(settings, cluster=cluster),
        ([k.port, k.controller_port], "USERSTREAM_KAFKA__PORT"),
        (k.metrics_port, "USERSTREAM_KAFKA__METRICS_PORT"),
    )


def _start_kafka(settings: Settings, *, cluster: bool) -> float | None:
    paths = settings.paths
    group = nodes(settings, cluster=cluster)
    other = nodes(settings, cluster=not cluster)
    if any(process.running(paths, n.name) for n in other):
        raise ConfigError(
            f"The local Kafka runs as {'one node' if cluster else 'a cluster'}; it cannot "
            f"also run as {'a cluster' if cluster else 'one node'}.",
            hint="Stop it first with `userstream stack down` (its data is kept), then run "
            f"`userstream stack up{' --cluster' if cluster else ''}`. The cluster keeps its "
            "own data: it does not see the single node's topics, nor they its.",
        )
    pending = [n for n in group if process.running(paths, n.name) is None]
    if not pending:
        return None
    check_ports(settings, cluster=cluster)
    java = require_java()
    jars.ensure_jars(paths.lib, NAME, log_dir=paths.logs)
    jars.ensure_jars(paths.lib, jmx_exporter.JAR_SET, log_dir=paths.logs)
    logins = _ensure_logins(settings, group)
    shared_id = _cluster_id(group) if cluster else None
    for node in pending:
        _render_config(settings, logins, node)
        _format_storage(settings, java, logins["admin"], node, shared_id)
    started = time.monotonic()
    deadline = started + START_TIMEOUT_S  # for all the nodes together
    try:
        for node in pending:
            proc = process.start(paths, node.name, _command(settings, node, java))
            log.info("kafka starting node=%s pid=%s address=%s", node.name, proc.pid,
                     node_address(settings.kafka, node))  # fmt: skip
        for node in pending:
            label = f"{LABEL} ({node.name})" if cluster else LABEL
            ready = functools.partial(node_answers, settings.kafka, node, brokers=len(group))
            left = max(1.0, deadline - time.monotonic())
            wait_ready(paths, node.name, label, ready, timeout=left)
        _ensure_users(settings, logins, cluster=cluster)
    except BaseException:
        for node in pending:
            process.stop(paths, node.name, timeout=STOP_TIMEOUT_S)
        raise
    took = time.monotonic() - started
    log.info("kafka ready nodes=%d seconds=%.1f", len(pending), took)
    return took


def running_nodes(settings: Settings) -> set[str]:
    """The names of the local Kafka nodes that run, single or cluster."""
    every = [single_node(settings), *cluster_nodes(settings)]
    return {n.name for n in every if process.running(settings.paths, n.name)}


def stop(settings: Settings, *, keep: Collection[str] = ()) -> bool:
    """Stop every local Kafka node that runs, single or cluster, but those named in ``keep``
    (SIGTERM; SIGKILL after a bound). Data is kept. True when one was stopped."""
    every = [n.name for n in [single_node(settings), *cluster_nodes(settings)]]
    with component_lock(settings.paths, NAME):
        # All at once: one by one, the last nodes would wait out the timeout for a quorum
        # that had already left, to shut down in order.
        stopped = process.stop_all(
            settings.paths, [n for n in every if n not in keep], timeout=STOP_TIMEOUT_S
        )
    if stopped:
        log.info("kafka stopped nodes=%s", ",".join(stopped))
    return bool(stopped)


def status(settings: Settings) -> list[ComponentStatus]:
    """The single node, or each node of the cluster (``clustered``: one that died
    shows as not running); brokers that are not the local one (``serves``) are the
    user's own, judged by whether they answer."""
    if not serves(settings):
        k = settings.kafka
        answers = broker_answers(k)
        detail = "answers (topics listed)" if answers else "not answering"
        return [external("kafka", k.bootstrap_servers, answers, detail)]
    group = nodes(settings, cluster=clustered(settings))
    parts = []
    for node in group:
        proc = process.running(settings.paths, node.name)
        healthy = proc is not None and node_answers(settings.kafka, node)
        parts.append(
            node_status(
                node.name,
                proc.pid if proc else None,
                node_address(settings.kafka, node),
                version(settings),
                healthy,
                "answers (topics listed)" if healthy else "running, not answering",
                metrics_url(settings.kafka, node),
            )
        )
    return parts
