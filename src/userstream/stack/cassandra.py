"""The local Cassandra node: one node with authentication on, from Maven Central jars.

Data lives in ``<state>/data/cassandra`` and survives ``stop_cassandra`` (SIGTERM runs the
node's drain hook, flushing memtables). Clients log in with the generated superuser kept in
``<state>/secrets/cassandra.json``; the default ``cassandra`` login is disabled on first start.
Its Prometheus metrics (``templates/cassandra-metrics.yaml``: client requests, thread pools,
compaction, dropped messages, the project's tables, the JVM) are served by the JMX exporter
agent on 127.0.0.1 (``jmx_exporter``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from userstream.config import Settings
from userstream.errors import TerminalError, TransientError
from userstream.host import process
from userstream.host.locks import component_lock
from userstream.host.net import port_open
from userstream.stack import jars, jmx_exporter
from userstream.stack._cassandra_auth import secure_configured_login as secure_configured_login
from userstream.stack._cassandra_auth import secure_node
from userstream.stack._java import require_java
from userstream.stack._ports import require_free
from userstream.stack._render import render, template_lines
from userstream.stack._wait import wait_ready

log = logging.getLogger(__name__)

NAME = "cassandra"
LABEL = "Cassandra"
MAIN_CLASS = "org.apache.cassandra.service.CassandraDaemon"
START_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 90.0
LOGIN_TIMEOUT_S = 120.0


def _home(settings: Settings) -> Path:
    return settings.paths.data / NAME


def keyspace_dir(settings: Settings, keyspace: str) -> Path:
    """Where the local node keeps ``keyspace``'s files (after a DROP, its snapshots)."""
    return _home(settings) / "data" / keyspace


def config_file(settings: Settings) -> Path:
    return _home(settings) / "conf" / "cassandra.yaml"


def address(settings: Settings) -> str:
    return f"{settings.cassandra.hosts[0]}:{settings.cassandra.port}"


def metrics_url(settings: Settings) -> str:
    return jmx_exporter.metrics_url(settings.cassandra.metrics_port)


def version(settings: Settings) -> str | None:
    """The node version, read from the fetched jar's name (None before `fetch-jars`)."""
    return jars.jar_version(settings.paths.lib, NAME, "cassandra-all")


def _render_config(settings: Settings) -> Path:
    c = settings.cassandra
    home = _home(settings)
    host = c.hosts[0]
    conf = config_file(settings)
    render("cassandra-logback.xml", conf.parent / "logback.xml", {})
    render(
        "cassandra-metrics.yaml", conf.parent / jmx_exporter.RULES_FILE, {"keyspace": c.keyspace}
    )
    return render(
        "cassandra.yaml",
        conf,
        {
            "listen_address": host,
            "rpc_address": host,
            "native_port": c.port,
            "storage_port": c.storage_port,
            "data_dir": home / "data",
            "commitlog_dir": home / "commitlog",
            "saved_caches_dir": home / "saved_caches",
            "hints_dir": home / "hints",
            "cdc_dir": home / "cdc_raw",
        },
    )


def _command(settings: Settings, java: str, conf: Path) -> list[str]:
    c = settings.cassandra
    lib = jars.lib_dir(settings.paths.lib, NAME)
    jamm = sorted(lib.glob("jamm-*.jar"))
    return [
        java,
        f"-Xms{c.heap}",
        f"-Xmx{c.heap}",
        "-Xss256k",
        *template_lines("cassandra-jvm17.options"),
        # jamm measures object sizes for memtable accounting, as bin/cassandra does.
        *([f"-javaagent:{jamm[0]}"] if jamm else []),
        jmx_exporter.agent_option(
            settings.paths.lib, c.metrics_port, conf.parent / jmx_exporter.RULES_FILE
        ),
        f"-Dcassandra.config=file://{conf}",
        "-Dcassandra-foreground=yes",
        f"-Dcassandra.storagedir={_home(settings)}",
        f"-Dcassandra.logdir={settings.paths.logs}",
        f"-Dcassandra.triggers_dir={_home(settings) / 'triggers'}",
        f"-Dlogback.configurationFile={conf.parent / 'logback.xml'}",
        # No JMX port: it would be an unauthenticated way in (README: Security). Metrics
        # come from inside the JVM (the agent above); CQL (`userstream query`) covers what
        # nodetool would.
        # One node: no one to gossip with, and the superuser is ours to create at once.
        "-Dcassandra.superuser_setup_delay_ms=0",
        "-Dcassandra.skip_wait_for_gossip_to_settle=0",
        "-Djava.net.preferIPv4Stack=true",
        "-cp",
        f"{lib}/*",
        MAIN_CLASS,
    ]


def start_cassandra(settings: Settings) -> float | None:
    """Start the node, secure it, and wait until the project's login works.

    Returns the seconds it took, or None when our node is already running (it is then only
    checked to be secured). Raises ``ConfigError`` for a taken port or missing Java/Maven,
    ``TerminalError`` when the node dies while starting, ``TransientError`` when it does not
    answer in time; on any error the node is stopped again.
    """
    with component_lock(settings.paths, NAME):
        return _start_cassandra(settings)


def _start_cassandra(settings: Settings) -> float | None:
    paths = settings.paths
    if process.running(paths, NAME) is not None:
        return None
    c = settings.cassandra
    host = c.hosts[0]
    require_free(LABEL, host, [c.port, c.storage_port], "USERSTREAM_CASSANDRA__PORT")
    require_free(LABEL, jmx_exporter.HOST, [c.metrics_port], "USERSTREAM_CASSANDRA__METRICS_PORT")
    java = require_java()
    jars.ensure_jars(paths.lib, NAME, log_dir=paths.logs)
    jars.ensure_jars(paths.lib, jmx_exporter.JAR_SET, log_dir=paths.logs)
    conf = _render_config(settings)
    (_home(settings) / "triggers").mkdir(parents=True, exist_ok=True)
    proc = process.start(paths, NAME, _command(settings, java, conf))
    log.info("cassandra starting pid=%s address=%s", proc.pid, address(settings))
    try:
        took = wait_ready(
            paths, NAME, LABEL, lambda: port_open(host, c.port), timeout=START_TIMEOUT_S
        )
        refusals: list[TerminalError] = []
        try:
            took += wait_ready(
                paths,
                NAME,
                LABEL,
                lambda: _secured(settings, refusals),
                timeout=LOGIN_TIMEOUT_S,
                interval=2.0,
            )
        except TransientError:
            # A refusal that lasted the whole wait is the real error (e.g. a secrets file
            # that belongs to another data folder), not the timeout.
            if refusals:
                raise refusals[-1] from None
            raise
    except BaseException:
        process.stop(paths, NAME, timeout=STOP_TIMEOUT_S)
        raise
    log.info("cassandra ready pid=%s seconds=%.1f", proc.pid, took)
    return took


def _secured(settings: Settings, refusals: list[TerminalError]) -> bool:
    """One attempt at securing the node; False while its auth tables are not ready yet.

    A refused login is retried (right after the port opens the default role may not exist
    yet, and a crash between writing the secrets file and creating the role is repaired
    once it does); it is recorded in ``refusals`` so the caller can raise it, rather than
    a bare timeout, when the refusal lasts.
    """
    try:
        secure_node(settings)
    except TransientError as exc:
        log.debug("cassandra not ready yet: %s", exc.message)
        return False
    except TerminalError as exc:
        log.debug("cassandra login refused, retrying: %s", exc.message)
        refusals.append(exc)
        return False
    return True


def ensure_secured(settings: Settings) -> None:
    """For a node already running: make sure it is secured (no-op once it is)."""
    secure_node(settings)


def stop_cassandra(settings: Settings) -> bool:
    """Stop the node gracefully (SIGTERM drains it; SIGKILL after a bound). Data is kept.

    True when a running node was stopped.
    """
    with component_lock(settings.paths, NAME):
        stopped = process.stop(settings.paths, NAME, timeout=STOP_TIMEOUT_S)
    if stopped:
        log.info("cassandra stopped")
    return stopped
