"""Prometheus metrics of Kafka and Cassandra: the JMX exporter as a Java agent in their JVMs.

The agent reads the JVM's own MBeans (no JMX port is opened) and serves what a small rules
file (``templates/<component>-metrics.yaml``) selects, with the JVM's heap, GC and thread
metrics, at ``http://127.0.0.1:<port>/metrics``. That endpoint has no login, so it listens
on loopback only, whatever address the server itself is given.
"""

from __future__ import annotations

from pathlib import Path

from userstream.errors import ConfigError
from userstream.stack import jars

JAR_SET = "jmx-exporter"
HOST = "127.0.0.1"
RULES_FILE = "jmx-exporter.yaml"


def metrics_url(port: int) -> str:
    return f"http://{HOST}:{port}/metrics"


def agent_option(lib_root: Path, port: int, rules: Path) -> str:
    """The ``-javaagent:`` option serving ``rules`` on 127.0.0.1:``port``.

    Without a host the agent would listen on 0.0.0.0. Raises ``ConfigError`` when the
    agent's jar has not been fetched (``jars.ensure_jars(lib_root, JAR_SET)``).
    """
    found = sorted(jars.lib_dir(lib_root, JAR_SET).glob("jmx_prometheus_javaagent-*.jar"))
    if not found:
        raise ConfigError(
            "The Prometheus JMX exporter's agent jar is missing.",
            hint="Run `userstream fetch-jars` (or `make setup`).",
        )
    return f"-javaagent:{found[-1]}={HOST}:{port}:{rules}"
