"""Prometheus metrics of Kafka and Cassandra (and of Compose's schema registry): the JMX exporter
as a Java agent in their JVMs.

The agent reads the JVM's own MBeans (no JMX port is opened) and serves what a small rules
file (``templates/<component>-metrics.yaml``) selects, with the JVM's heap, GC and thread
metrics, at ``http://127.0.0.1:<port>/metrics``. That endpoint has no login, so it listens
on loopback only, whatever address the server itself is given (a local Kafka cluster's
nodes each on their own loopback address: 127.0.0.1-3).

For JVMs we do not start (docker-compose.yml's ``kafka``, ``cassandra`` and ``schema-registry``
services, from the official images), ``export`` copies the agent's jar and renders their rules
files into a folder those containers mount (``userstream stack metrics-agent``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from userstream.errors import ConfigError
from userstream.stack import jars
from userstream.stack._render import render

JAR_SET = "jmx-exporter"
HOST = "127.0.0.1"
RULES_FILE = "jmx-exporter.yaml"
#: What ``export`` writes: the jar under a name without its version (the containers'
#: ``-javaagent`` options stay the same across upgrades), and each component's rules under
#: its template's name.
EXPORTED_JAR = "jmx_prometheus_javaagent.jar"
RULES_TEMPLATES = {
    "kafka": "kafka-metrics.yaml",
    "cassandra": "cassandra-metrics.yaml",
    "registry": "schema-registry-metrics.yaml",
}


def metrics_url(port: int, *, host: str = HOST) -> str:
    return f"http://{host}:{port}/metrics"


def agent_option(lib_root: Path, port: int, rules: Path, *, host: str = HOST) -> str:
    """The ``-javaagent:`` option serving ``rules`` on ``host`` (127.0.0.1, or a local
    cluster node's own loopback address):``port``.

    Without a host the agent would listen on 0.0.0.0. Raises ``ConfigError`` when the
    agent's jar has not been fetched (``jars.ensure_jars(lib_root, JAR_SET)``).
    """
    return f"-javaagent:{agent_jar(lib_root)}={host}:{port}:{rules}"


def agent_jar(lib_root: Path) -> Path:
    """The agent's jar as ``fetch-jars`` left it; ``ConfigError`` when it is missing."""
    found = sorted(jars.lib_dir(lib_root, JAR_SET).glob("jmx_prometheus_javaagent-*.jar"))
    if not found:
        raise ConfigError(
            "The Prometheus JMX exporter's agent jar is missing.",
            hint="Run `userstream fetch-jars` (or `make setup`).",
        )
    return found[-1]


def export(lib_root: Path, target: Path, *, keyspace: str) -> list[Path]:
    """Write ``EXPORTED_JAR`` and the rules of ``RULES_TEMPLATES`` into ``target``; their paths.

    For JVMs of other users (containers): the folder is 0755 and the files 0644 whatever the
    umask, since nothing in them is secret. Each file is replaced whole (written beside it,
    then renamed); run it before those JVMs start. The Cassandra rules select the tables of
    ``keyspace``. Raises ``ConfigError`` when the jar has not been fetched.
    """
    jar = agent_jar(lib_root)  # before anything is written
    target.mkdir(parents=True, exist_ok=True)
    target.chmod(0o755)
    written = [_copy(jar, target / EXPORTED_JAR)]
    values: dict[str, dict[str, object]] = {
        "kafka": {},
        "cassandra": {"keyspace": keyspace},
        "registry": {},
    }
    for component, template in RULES_TEMPLATES.items():
        written.append(render(template, target / template, values[component]))
    for path in written:
        path.chmod(0o644)
    return written


def _copy(source: Path, target: Path) -> Path:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
