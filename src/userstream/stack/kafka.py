"""The local Kafka broker: one KRaft node (broker + controller) from Maven Central jars.

Data lives in ``<state>/data/kafka`` and survives ``stop_kafka``; the storage is formatted
only when it has never been (no ``meta.properties``), so a restart finds every message.

Nobody gets in without a login: the client listener takes SCRAM-SHA-512 users, the
controller listener the broker's own SASL/PLAIN login, and the authorizer allows only what
an ACL allows (``topics.ensure_acls``). The logins are generated once into
``<state>/secrets/kafka.json`` (0600) before the storage is formatted; the admin user is
written into the storage at format time (through a Java argument file, never a command
line), the others are created by the admin once the broker answers.

Its Prometheus metrics (``templates/kafka-metrics.yaml``: topics, requests, replicas, KRaft,
the JVM) are served by the JMX exporter agent on 127.0.0.1 (``jmx_exporter``).
"""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import uuid
from pathlib import Path

from userstream import kafka_client
from userstream.config import KafkaSettings, Settings
from userstream.errors import TerminalError
from userstream.files import write_private
from userstream.host import process
from userstream.host.locks import component_lock
from userstream.host.net import port_open
from userstream.host.state import secrets_dir
from userstream.stack import jars, jmx_exporter
from userstream.stack._java import require_java
from userstream.stack._ports import require_free
from userstream.stack._render import render
from userstream.stack._wait import wait_ready

log = logging.getLogger(__name__)

NAME = "kafka"
LABEL = "Kafka"
MAIN_CLASS = "kafka.Kafka"
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 60.0


def _home(settings: Settings) -> Path:
    return settings.paths.data / NAME


def config_file(settings: Settings) -> Path:
    return _home(settings) / "config" / "server.properties"


def broker_secrets(settings: Settings) -> Path:
    """The folder of the broker's own passwords, one file each (0600), which its config names
    (``${dir:<folder>:<file>}``) instead of holding them."""
    folder = secrets_dir(settings.paths) / "kafka-broker"
    folder.mkdir(exist_ok=True, mode=0o700)
    return folder


def log_dirs(settings: Settings) -> Path:
    return _home(settings) / "kraft-logs"


def address(settings: Settings) -> str:
    return f"{settings.kafka.host}:{settings.kafka.port}"


def metrics_url(settings: Settings) -> str:
    return jmx_exporter.metrics_url(settings.kafka.metrics_port)


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


def _jvm_base(settings: Settings, java: str) -> list[str]:
    conf = config_file(settings).parent
    lib = jars.lib_dir(settings.paths.lib, NAME)
    return [
        java,
        f"-Xms{settings.kafka.heap}",
        f"-Xmx{settings.kafka.heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:+ExplicitGCInvokesConcurrent",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={conf / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={settings.paths.logs}",
        "-cp",
        # A classpath wildcard keeps the command line (and `ps`) short.
        f"{lib}/*",
    ]


def _formatted(settings: Settings) -> bool:
    return (log_dirs(settings) / "meta.properties").is_file()


def _ensure_logins(settings: Settings) -> dict[str, kafka_client.Login]:
    """The broker's logins, generated on first use (before the storage is formatted)."""
    logins = kafka_client.local_logins(settings.kafka)
    if logins is not None:
        return logins
    if kafka_client.operator_managed(settings.kafka):
        raise TerminalError(
            "USERSTREAM_KAFKA__CLIENT_CONFIG sets security.protocol, but the local broker "
            "uses its own generated logins.",
            hint="Unset USERSTREAM_KAFKA__CLIENT_CONFIG for the local stack (it is for a "
            "cluster of your own).",
        )
    if _formatted(settings):
        raise TerminalError(
            f"The Kafka data in {log_dirs(settings)} was created by an older userstream, "
            "without logins; this one needs the broker's users written when the storage is "
            "first formatted.",
            hint="Stop the stack, drain or give up what the topics still hold, remove "
            f"{_home(settings)}, and run `userstream stack up` again (Cassandra's data and "
            "the stream's checkpoints are not affected; the stream then starts from the new "
            "topic's beginning).",
        )
    logins = kafka_client.generate_logins(settings.kafka)
    log.info("kafka logins generated file=%s", settings.kafka.logins_file)
    return logins


def _render_config(settings: Settings, logins: dict[str, kafka_client.Login]) -> Path:
    k = settings.kafka
    conf = config_file(settings)
    render("kafka-log4j2.properties", conf.parent / "log4j2.properties", {})
    render("kafka-metrics.yaml", conf.parent / jmx_exporter.RULES_FILE, {})
    controller, admin = logins[kafka_client.CONTROLLER], logins["admin"]
    passwords = broker_secrets(settings)
    write_private(passwords / "controller_password", controller.password)
    write_private(passwords / "admin_password", admin.password)
    return render(
        "kafka-server.properties",
        conf,
        {
            "host": k.host,
            "port": k.port,
            "controller_port": k.controller_port,
            "log_dirs": log_dirs(settings),
            "partitions": k.partitions,
            "controller_user": controller.username,
            "admin_user": admin.username,
            "secrets_dir": passwords,
        },
    )


def _command(settings: Settings, java: str, conf: Path) -> list[str]:
    """The broker's command line: the JVM, the metrics agent (not in the format tool's JVM:
    it would take the port), the main class and its config."""
    agent = jmx_exporter.agent_option(
        settings.paths.lib, settings.kafka.metrics_port, conf.parent / jmx_exporter.RULES_FILE
    )
    return [*_jvm_base(settings, java), agent, MAIN_CLASS, str(conf)]


def _format_storage(settings: Settings, java: str, admin: kafka_client.Login) -> None:
    """Format the KRaft storage once, with the admin's SCRAM login in it; a formatted log
    dir is never touched again."""
    if _formatted(settings):
        return
    out_log = settings.paths.log_file("kafka-format")
    out_log.parent.mkdir(parents=True, exist_ok=True)
    scram = f"{kafka_client.MECHANISM}=[name={admin.username},password={admin.password}]"
    tool_args = [
        "kafka.tools.StorageTool",
        "format",
        "--standalone",
        f"--cluster-id={cluster_id()}",
        "-c",
        str(config_file(settings)),
        "--add-scram",
        scram,
    ]
    # The password goes in a Java argument file (0600, removed after), not on the command
    # line that `ps` shows; the launcher reads the main class and its arguments from it.
    argfile = secrets_dir(settings.paths) / "kafka-format.args"
    argfile.unlink(missing_ok=True)
    with os.fdopen(os.open(argfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write("\n".join(f'"{arg}"' for arg in tool_args) + "\n")
    cmd = [*_jvm_base(settings, java), f"@{argfile}"]
    try:
        with out_log.open("w") as out:
            result = subprocess.run(
                cmd, stdout=out, stderr=subprocess.STDOUT, check=False, timeout=300, umask=0o077
            )
    finally:
        argfile.unlink(missing_ok=True)
    if result.returncode != 0:
        raise TerminalError(
            f"Formatting Kafka's storage in {log_dirs(settings)} failed "
            f"(exit {result.returncode}).",
            hint=f"The last lines of its output:\n{process.tail(out_log, 15)}",
            log=out_log,
        )
    log.info("kafka storage formatted dir=%s", log_dirs(settings))


def _local(settings: Settings) -> KafkaSettings:
    """The Kafka settings pointed at the local broker's own address."""
    return settings.kafka.model_copy(update={"bootstrap_servers": address(settings)})


def _answers(settings: Settings) -> bool:
    if not port_open(settings.kafka.host, settings.kafka.port):
        return False
    return broker_answers(_local(settings), timeout=5.0)


def broker_answers(kafka: KafkaSettings, timeout: float = 5.0) -> bool:
    """True when the admin role can list the cluster's topics within ``timeout``."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({**kafka_client.config(kafka, "admin"), "socket.timeout.ms": 5000})
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException:
        return False
    return True


def _ensure_users(settings: Settings, logins: dict[str, kafka_client.Login]) -> None:
    """Create (or re-set) the SCRAM users of the roles other than admin. Idempotent."""
    others = [role for role in kafka_client.ROLES if role != "admin"]
    kafka_client.ensure_users(kafka_client.config(_local(settings), "admin"), logins, others)


def start_kafka(settings: Settings) -> float | None:
    """Start the broker and wait until it answers; return the seconds it took.

    Returns None when our broker is already running (nothing is started twice). Raises
    ``ConfigError`` for a taken port or a missing Java/Maven, ``TerminalError`` when the
    broker dies while starting, ``TransientError`` when it does not answer in time; on
    any error the broker is stopped again, so nothing is left half-started.
    """
    with component_lock(settings.paths, NAME):
        return _start_kafka(settings)


def _start_kafka(settings: Settings) -> float | None:
    paths = settings.paths
    if process.running(paths, NAME) is not None:
        return None
    k = settings.kafka
    require_free(LABEL, k.host, [k.port, k.controller_port], "USERSTREAM_KAFKA__PORT")
    require_free(LABEL, jmx_exporter.HOST, [k.metrics_port], "USERSTREAM_KAFKA__METRICS_PORT")
    java = require_java()
    jars.ensure_jars(paths.lib, NAME, log_dir=paths.logs)
    jars.ensure_jars(paths.lib, jmx_exporter.JAR_SET, log_dir=paths.logs)
    logins = _ensure_logins(settings)
    conf = _render_config(settings, logins)
    _format_storage(settings, java, logins["admin"])
    proc = process.start(paths, NAME, _command(settings, java, conf))
    log.info("kafka starting pid=%s address=%s", proc.pid, address(settings))
    try:
        took = wait_ready(paths, NAME, LABEL, lambda: _answers(settings), timeout=START_TIMEOUT_S)
        _ensure_users(settings, logins)
    except BaseException:
        process.stop(paths, NAME, timeout=STOP_TIMEOUT_S)
        raise
    log.info("kafka ready pid=%s seconds=%.1f", proc.pid, took)
    return took


def stop_kafka(settings: Settings) -> bool:
    """Stop the broker gracefully (SIGTERM; SIGKILL after a bound). Data is kept.

    True when a running broker was stopped.
    """
    with component_lock(settings.paths, NAME):
        stopped = process.stop(settings.paths, NAME, timeout=STOP_TIMEOUT_S)
    if stopped:
        log.info("kafka stopped")
    return stopped
