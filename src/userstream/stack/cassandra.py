"""The local Cassandra: one node, or with ``cluster`` three, with authentication on, from
Maven Central jars.

The single node listens on ``cassandra.hosts[0]``; the cluster's nodes ``cassandra-1``…
``cassandra-3`` on 127.0.0.1, 127.0.0.2 and 127.0.0.3, each with the same ports, the first
the seed of the others. A fresh cluster's nodes join one at a time (Cassandra lets one node
bootstrap at a time); a cluster that ran before starts all at once.

Data lives in ``<state>/data/cassandra`` (``<state>/data/cassandra-cluster/cassandra-N``
for the cluster, which keeps its own) and survives ``stop`` (SIGTERM runs the
node's drain hook, flushing memtables). Clients log in with the generated superuser kept in
``<state>/secrets/cassandra.json``; the default ``cassandra`` login is disabled on first
start, and on the cluster ``system_auth`` is replicated to all three nodes first
(``_cassandra_auth``), so a login survives a lost node. Its Prometheus metrics
(``templates/cassandra-metrics.yaml``: client requests, thread pools, compaction, dropped
messages, the project's tables, the JVM) are served by the JMX exporter agent on 127.0.0.1,
a cluster node's on its own loopback address (``jmx_exporter``).
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from userstream.config import CassandraSettings, Settings
from userstream.errors import ConfigError, TerminalError, TransientError, UserstreamError
from userstream.host import process
from userstream.host.locks import component_lock
from userstream.host.net import on_this_machine, port_open
from userstream.stack import jars, jmx_exporter
from userstream.stack._cassandra_auth import secure_configured_login as secure_configured_login
from userstream.stack._cassandra_auth import secure_node
from userstream.stack._java import crash_report_option, require_java
from userstream.stack._ports import require_free_nodes
from userstream.stack._render import render, template_keys, template_lines
from userstream.stack._wait import wait_ready
from userstream.stack.server import ComponentStatus, external, node_status

log = logging.getLogger(__name__)

NAME = "cassandra"
LABEL = "Cassandra"
MAIN_CLASS = "org.apache.cassandra.service.CassandraDaemon"
START_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 90.0
LOGIN_TIMEOUT_S = 120.0

#: The local cluster's size, and the replication of its keyspaces (``system_auth`` too):
#: three copies, so reads and writes at LOCAL_QUORUM go on with a node lost.
CLUSTER_NODES = 3
DATACENTER = "datacenter1"  # SimpleSnitch's
CLUSTER_REPLICATION: dict[str, str | int] = {
    "class": "NetworkTopologyStrategy",
    DATACENTER: CLUSTER_NODES,
}


@dataclass(frozen=True)
class Node:
    """One local Cassandra process: its pid-file name, address, storage and seed."""

    name: str
    host: str
    home: Path
    #: The seed's address (``host:storage_port``); the node itself for the single node.
    seed: str
    in_cluster: bool = False

    @property
    def config_file(self) -> Path:
        return self.home / "conf" / "cassandra.yaml"

    @property
    def metrics_host(self) -> str:
        """Where its metrics agent listens: 127.0.0.1, or a cluster node's own address (the
        three share the port)."""
        return self.host if self.in_cluster else jmx_exporter.HOST

    @property
    def joined_mark(self) -> Path:
        return self.home / "joined"

    @property
    def joined(self) -> bool:
        """Whether it has answered before (``mark_joined``): it then rejoins its ring without
        bootstrapping. A node whose first start was cut short has no mark: it bootstraps
        (Cassandra resumes it), alone, like a new one."""
        return self.joined_mark.is_file()

    def mark_joined(self) -> None:
        self.joined_mark.touch()


def single_node(settings: Settings) -> Node:
    c = settings.cassandra
    return Node(NAME, c.hosts[0], settings.paths.data / NAME, f"{c.hosts[0]}:{c.storage_port}")


def cluster_nodes(settings: Settings) -> list[Node]:
    """The local cluster's nodes: ``cassandra-N`` on 127.0.0.N, the ports of ``cassandra.*``,
    the first the seed."""
    hosts = [f"127.0.0.{i}" for i in range(1, CLUSTER_NODES + 1)]
    root = settings.paths.data / "cassandra-cluster"
    seed = f"{hosts[0]}:{settings.cassandra.storage_port}"
    return [
        Node(f"{NAME}-{i}", host, root / f"{NAME}-{i}", seed, in_cluster=True)
        for i, host in enumerate(hosts, start=1)
    ]


def serves(settings: Settings) -> bool:
    """Whether the clients' contact points are the local node (single or cluster): one of
    them on this machine, or a local node made in this state folder (its pid file or its
    data). Otherwise they are the user's Cassandra (a cluster, Compose's)."""
    group = [single_node(settings), *cluster_nodes(settings)]
    return (
        any(on_this_machine(host) for host in settings.cassandra.hosts)
        or any(settings.paths.pid_file(n.name).exists() for n in group)
        or any(n.home.exists() for n in group)
    )


def nodes(settings: Settings, *, cluster: bool) -> list[Node]:
    return cluster_nodes(settings) if cluster else [single_node(settings)]


def clustered(settings: Settings) -> bool:
    """Whether the local Cassandra is the cluster (as ``kafka.clustered`` decides for Kafka)."""
    group = [n.name for n in cluster_nodes(settings)]
    return process.group_in_use(settings.paths, NAME, group)


def on_cluster(cassandra: CassandraSettings, settings: Settings) -> CassandraSettings:
    """``cassandra`` pointed at the local cluster: all three nodes as contact points (a
    client starting while one is down still connects), keyspaces with three replicas."""
    hosts = [n.host for n in cluster_nodes(settings)]
    return cassandra.model_copy(update={"hosts": hosts, "replication": CLUSTER_REPLICATION})


def keyspace_dirs(settings: Settings, keyspace: str) -> list[Path]:
    """Where each local node, single or of the cluster, keeps ``keyspace``'s files (after a
    DROP, its snapshots)."""
    return [n.home / "data" / keyspace for n in [single_node(settings), *cluster_nodes(settings)]]


def node_address(cassandra: CassandraSettings, node: Node) -> str:
    return f"{node.host}:{cassandra.port}"


def address(settings: Settings, *, cluster: bool = False) -> str:
    """The single node's address, or every node's of the cluster."""
    return ",".join(node_address(settings.cassandra, n) for n in nodes(settings, cluster=cluster))


def metrics_url(cassandra: CassandraSettings, node: Node | None = None) -> str:
    host = node.metrics_host if node is not None else jmx_exporter.HOST
    return jmx_exporter.metrics_url(cassandra.metrics_port, host=host)


def version(settings: Settings) -> str | None:
    """The node version, read from the fetched jar's name (None before `fetch-jars`)."""
    return jars.jar_version(settings.paths.lib, NAME, "cassandra-all")


def _node_options(c: CassandraSettings) -> str:
    """``cassandra.node_options`` as cassandra.yaml lines (JSON is YAML); a key the template
    sets is refused, since which of two copies a node reads is not the user's to guess."""
    taken = sorted(set(c.node_options) & template_keys("cassandra.yaml"))
    if taken:
        raise ConfigError(
            f"USERSTREAM_CASSANDRA__NODE_OPTIONS sets {', '.join(taken)}, which userstream "
            "sets itself in the local node's cassandra.yaml.",
            hint="Leave those keys out (their own settings, such as "
            "USERSTREAM_CASSANDRA__PORT, change them).",
        )
    return "".join(f"{key}: {json.dumps(value)}\n" for key, value in c.node_options.items())


def _render_config(cassandra: CassandraSettings, node: Node) -> Path:
    home = node.home
    conf = node.config_file
    render("cassandra-logback.xml", conf.parent / "logback.xml", {})
    render(
        "cassandra-metrics.yaml",
        conf.parent / jmx_exporter.RULES_FILE,
        {"keyspace": cassandra.keyspace},
    )
    return render(
        "cassandra.yaml",
        conf,
        {
            "listen_address": node.host,
            "rpc_address": node.host,
            "seeds": node.seed,
            # Tokens placed for the replication the keyspaces use: an even share per node.
            "token_replication": CLUSTER_NODES if node.in_cluster else 1,
            "native_port": cassandra.port,
            "storage_port": cassandra.storage_port,
            "data_dir": home / "data",
            "commitlog_dir": home / "commitlog",
            "saved_caches_dir": home / "saved_caches",
            "hints_dir": home / "hints",
            "cdc_dir": home / "cdc_raw",
        },
        extra=_node_options(cassandra),
    )


def _command(settings: Settings, java: str, node: Node) -> list[str]:
    c = settings.cassandra
    conf = node.config_file
    lib = jars.lib_dir(settings.paths.lib, NAME)
    jamm = sorted(lib.glob("jamm-*.jar"))
    return [
        java,
        f"-Xms{c.heap}",
        f"-Xmx{c.heap}",
        "-Xss256k",
        *template_lines("cassandra-jvm17.options"),
        crash_report_option(settings.paths.logs),
        # jamm measures object sizes for memtable accounting, as bin/cassandra does.
        *([f"-javaagent:{jamm[0]}"] if jamm else []),
        jmx_exporter.agent_option(
            settings.paths.lib,
            c.metrics_port,
            conf.parent / jmx_exporter.RULES_FILE,
            host=node.metrics_host,
        ),
        f"-Dcassandra.config=file://{conf}",
        "-Dcassandra-foreground=yes",
        f"-Dcassandra.storagedir={node.home}",
        f"-Dcassandra.logdir={settings.paths.logs}",
        f"-Dcassandra.triggers_dir={node.home / 'triggers'}",
        f"-Dlogback.configurationFile={conf.parent / 'logback.xml'}",
        # No JMX port: it would be an unauthenticated way in (docs/security.md). Metrics
        # come from inside the JVM (the agent above); CQL (`userstream query`) covers what
        # nodetool would.
        # The superuser is ours to create at once; the local nodes need no time for gossip
        # to settle (they find each other on the loopback in well under a second).
        "-Dcassandra.superuser_setup_delay_ms=0",
        "-Dcassandra.skip_wait_for_gossip_to_settle=0",
        f"-Dcassandra.ring_delay_ms={RING_DELAY_MS if node.in_cluster else SINGLE_RING_DELAY_MS}",
        "-Djava.net.preferIPv4Stack=true",
        "-cp",
        f"{lib}/*",
        MAIN_CLASS,
    ]


#: How long a joining cluster node waits to learn the ring (30 s by default): the local
#: nodes gossip over the loopback.
RING_DELAY_MS = 5000
#: The single node has no ring to learn, but its first start waited the whole 30 s default
#: before choosing its tokens (half of a fresh `up`).
SINGLE_RING_DELAY_MS = 1000


def on_local(settings: Settings, *, cluster: bool) -> Settings:
    """``settings`` with the clients on the cluster (``on_cluster``), or as they are."""
    if not cluster:
        return settings
    return settings.model_copy(update={"cassandra": on_cluster(settings.cassandra, settings)})


def _alone(settings: Settings, node: Node) -> Settings:
    """``settings`` with ``node`` as the only contact point."""
    return settings.model_copy(
        update={"cassandra": settings.cassandra.model_copy(update={"hosts": [node.host]})}
    )


def start(settings: Settings, *, cluster: bool = False) -> float | None:
    """Start the single node, or with ``cluster`` the cluster's three, secure it, and wait
    until the project's login works; return the seconds it took.

    Returns None when every node already runs (it is then only checked to be secured).
    Raises ``ConfigError`` for a taken port, a missing Java/Maven or the other kind of
    Cassandra still running, ``TerminalError`` when a node dies while starting,
    ``TransientError`` when one does not answer in time; on any error the nodes this call
    started are stopped again.
    """
    with component_lock(settings.paths, NAME):
        return _start_cassandra(settings, cluster=cluster)


def check_ports(settings: Settings, *, cluster: bool = False) -> None:
    """``ConfigError`` naming a port that a node not running yet needs and another program
    holds (before anything starts: ``stack_up`` asks every server first)."""
    c = settings.cassandra
    require_free_nodes(
        settings.paths,
        LABEL,
        nodes(settings, cluster=cluster),
        ([c.port, c.storage_port], "USERSTREAM_CASSANDRA__PORT"),
        (c.metrics_port, "USERSTREAM_CASSANDRA__METRICS_PORT"),
    )


def _start_cassandra(settings: Settings, *, cluster: bool = False) -> float | None:
    paths = settings.paths
    group = nodes(settings, cluster=cluster)
    if any(process.running(paths, n.name) for n in nodes(settings, cluster=not cluster)):
        raise ConfigError(
            f"The local Cassandra runs as {'one node' if cluster else 'a cluster'}; it cannot "
            f"also run as {'a cluster' if cluster else 'one node'}.",
            hint="Stop it first with `userstream stack down` (its data is kept), then run "
            f"`userstream stack up{' --cluster' if cluster else ''}`. The cluster keeps its "
            "own data: it does not see the single node's keyspaces, nor they its.",
        )
    pending = [n for n in group if process.running(paths, n.name) is None]
    if not pending:
        ensure_secured(settings, cluster=cluster)  # cheap; repairs a start cut short
        return None
    check_ports(settings, cluster=cluster)
    java = require_java()
    jars.ensure_jars(paths.lib, NAME, log_dir=paths.logs)
    jars.ensure_jars(paths.lib, jmx_exporter.JAR_SET, log_dir=paths.logs)
    started = time.monotonic()
    deadline = started + START_TIMEOUT_S  # for all the nodes together
    # A new node joins the ring alone (Cassandra refuses two bootstraps at once) and needs
    # the seed up: with one to join, each starts once the one before answers.
    one_by_one = cluster and any(not n.joined for n in pending)
    new_cluster = cluster and not group[0].joined
    try:
        for node in pending:
            _render_config(settings.cassandra, node)
            (node.home / "triggers").mkdir(parents=True, exist_ok=True)
            proc = process.start(paths, node.name, _command(settings, java, node))
            log.info("cassandra starting node=%s pid=%s address=%s", node.name, proc.pid,
                     node_address(settings.cassandra, node))  # fmt: skip
            if one_by_one:
                _wait_answers(settings, node, deadline)
                if new_cluster and node is group[0]:
                    # Secured alone, before anyone joins: each node streams the roles as it
                    # bootstraps (``_cassandra_auth``).
                    _wait_secured(_alone(settings, node), node.name, cluster=True)
                node.mark_joined()
        for node in pending:
            _wait_answers(settings, node, deadline)
            node.mark_joined()
        took = time.monotonic() - started
        took += _wait_secured(on_local(settings, cluster=cluster), group[0].name, cluster=cluster)
    except BaseException:
        for node in pending:
            process.stop(paths, node.name, timeout=STOP_TIMEOUT_S)
        raise
    log.info("cassandra ready nodes=%d seconds=%.1f", len(pending), took)
    return took


def _wait_answers(settings: Settings, node: Node, deadline: float) -> None:
    label = f"{LABEL} ({node.name})" if node.in_cluster else LABEL
    ready = functools.partial(port_open, node.host, settings.cassandra.port)
    wait_ready(settings.paths, node.name, label, ready,
               timeout=max(1.0, deadline - time.monotonic()))  # fmt: skip


def _wait_secured(settings: Settings, name: str, *, cluster: bool) -> float:
    """Seconds until the node (the cluster, through ``name``'s log) is secured."""
    refusals: list[TerminalError] = []
    try:
        return wait_ready(
            settings.paths,
            name,
            LABEL,
            lambda: _secured(settings, refusals, cluster=cluster),
            timeout=LOGIN_TIMEOUT_S,
            interval=2.0,
        )
    except TransientError:
        # A refusal that lasted the whole wait is the real error (e.g. a secrets file
        # that belongs to another data folder), not the timeout.
        if refusals:
            raise refusals[-1] from None
        raise


def _secured(settings: Settings, refusals: list[TerminalError], *, cluster: bool) -> bool:
    """One attempt at securing the node; False while its auth tables are not ready yet.

    A refused login is retried (right after the port opens the default role may not exist
    yet, and a crash between writing the secrets file and creating the role is repaired
    once it does); it is recorded in ``refusals`` so the caller can raise it, rather than
    a bare timeout, when the refusal lasts.
    """
    try:
        secure_node(settings, auth_replication=CLUSTER_REPLICATION if cluster else None)
    except TransientError as exc:
        log.debug("cassandra not ready yet: %s", exc.message)
        return False
    except TerminalError as exc:
        log.debug("cassandra login refused, retrying: %s", exc.message)
        refusals.append(exc)
        return False
    return True


def ensure_secured(settings: Settings, *, cluster: bool = False) -> None:
    """For a node (cluster) already running: make sure it is secured (no-op once it is)."""
    local = on_local(settings, cluster=cluster)
    secure_node(local, auth_replication=CLUSTER_REPLICATION if cluster else None)


def running_nodes(settings: Settings) -> set[str]:
    """The names of the local Cassandra nodes that run, single or cluster."""
    every = [single_node(settings), *cluster_nodes(settings)]
    return {n.name for n in every if process.running(settings.paths, n.name)}


def stop(settings: Settings, *, keep: Collection[str] = ()) -> bool:
    """Stop every local Cassandra node that runs, single or cluster, but those named in
    ``keep`` (SIGTERM drains a node; SIGKILL after a bound). Data is kept. True when one
    was stopped."""
    every = [n.name for n in [single_node(settings), *cluster_nodes(settings)]]
    with component_lock(settings.paths, NAME):
        stopped = process.stop_all(
            settings.paths, [n for n in every if n not in keep], timeout=STOP_TIMEOUT_S
        )
    if stopped:
        log.info("cassandra stopped nodes=%s", ",".join(stopped))
    return bool(stopped)


def status(settings: Settings) -> list[ComponentStatus]:
    """The single node, or each node of the cluster (``clustered``): healthy when the project's
    login works and the node itself answers a query. Nodes that are not the local one
    (``serves``) are the user's own: healthy when the login works."""
    from userstream import store
    from userstream.store import queries

    if not serves(settings):
        c = settings.cassandra
        address = ",".join(f"{host}:{c.port}" for host in c.hosts)
        try:
            with store.session(settings) as sess:
                release = queries.release_version(sess)
        except UserstreamError as exc:
            return [external("cassandra", address, False, exc.message)]
        return [external("cassandra", address, True, f"answers (CQL login ok), {release}")]
    cluster = clustered(settings)
    group = nodes(settings, cluster=cluster)
    procs = {n.name: process.running(settings.paths, n.name) for n in group}
    answers = _node_versions(settings, group, cluster=cluster, procs=procs)
    parts = []
    for node in group:
        proc = procs[node.name]
        node_version, why = answers.get(node.host, (None, "no answer to a query"))
        detail = "answers (CQL login ok)" if node_version else f"running, not answering: {why}"
        parts.append(
            node_status(
                node.name,
                proc.pid if proc else None,
                node_address(settings.cassandra, node),
                node_version or version(settings),
                node_version is not None,
                detail,
                metrics_url(settings.cassandra, node),
            )
        )
    return parts


#: A node's own answer is asked up to this many times, a second apart: a session's pool to a
#: node that has just started may still be opening.
NODE_ATTEMPTS = 3


def _node_versions(
    settings: Settings,
    group: list[Node],
    *,
    cluster: bool,
    procs: dict[str, process.Proc | None],
) -> dict[str, tuple[str | None, str]]:
    """Each running node's release version (or None) and why not, by address, asked of that
    node alone through one session of the project's login."""
    from userstream import store
    from userstream.store import queries

    running = [n for n in group if procs[n.name] is not None]
    if not running:
        return {}
    answers: dict[str, tuple[str | None, str]] = {}
    try:
        with store.session(on_local(settings, cluster=cluster)) as sess:
            if not cluster:  # one node, however its address is spelled
                return {group[0].host: (queries.release_version(sess), "")}
            hosts = {h.address: h for h in sess.cluster.metadata.all_hosts()}
            for node in running:
                host = hosts.get(node.host)
                if host is None:
                    answers[node.host] = (None, "not in the cluster's ring")
                    continue
                for attempt in range(1, NODE_ATTEMPTS + 1):
                    try:
                        answers[node.host] = (queries.release_version(sess, host=host), "")
                        break
                    except Exception as exc:  # noqa: BLE001 - a node that fails to answer is unhealthy
                        answers[node.host] = (None, f"{type(exc).__name__}: {exc}")
                        if attempt < NODE_ATTEMPTS:
                            time.sleep(1)
    except UserstreamError as exc:
        return {n.host: (None, exc.message) for n in running}
    return answers
