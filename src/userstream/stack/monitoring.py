"""Prometheus and the StatsD exporter on this machine, when their binaries are installed.

Neither is needed to run the pipeline (the dashboard reads every part directly), so
``userstream up`` starts each only when it finds it on the PATH, and says how to get it
when it does not:

- **Prometheus** on 127.0.0.1:``monitoring.prometheus_port``, with a configuration
  generated from the settings (every part's metrics port, so it scrapes what this stack
  runs) and the alert rules of ``monitoring/alerts.yml``, both written into
  ``<state>/monitoring/``; its data in ``<state>/data/prometheus`` (7 days).
- **The StatsD exporter** for Airflow's own metrics (scheduler heartbeats, DAG run and task
  durations, pools, executor slots). Airflow offers them as StatsD or OpenTelemetry, both
  pushed to another process; StatsD with the Prometheus project's exporter is what
  Airflow's own Helm chart runs. Airflow sends to 127.0.0.1:``monitoring.statsd_port`` (UDP)
  and the exporter serves them, named by ``monitoring/statsd-mapping.yml``, at
  127.0.0.1:``monitoring.statsd_exporter_port``/metrics.

Process names carry the port (``prometheus-9090``), like the dashboard's, so a test's
instance never stops the user's.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any

from userstream.config import MonitoringSettings, Settings
from userstream.errors import ConfigError
from userstream.files import project_file, write_private
from userstream.host import process
from userstream.host.locks import component_lock
from userstream.host.net import answers_http
from userstream.stack._ports import require_free

HOST = "127.0.0.1"
#: Upstream's binary name, then Debian's (its exporters are prefixed).
_STATSD_BINARIES = ("statsd_exporter", "prometheus-statsd-exporter")
#: Pinned like the images of docker-compose.yml (tests/unit/test_monitoring.py compares).
STATSD_EXPORTER_VERSION = "v0.28.0"
GET_PROMETHEUS = (
    "Debian/Ubuntu: `sudo apt-get install prometheus`; elsewhere a release from "
    "https://prometheus.io/download/ on the PATH"
)
GET_STATSD_EXPORTER = (
    f"`go install github.com/prometheus/statsd_exporter@{STATSD_EXPORTER_VERSION}` (and "
    "~/go/bin on the PATH), or a release from "
    "https://github.com/prometheus/statsd_exporter/releases"
)


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


def statsd_exporter_binary() -> str | None:
    return next(filter(None, map(shutil.which, _STATSD_BINARIES)), None)


def prometheus_name(monitoring: MonitoringSettings) -> str:
    return f"prometheus-{monitoring.prometheus_port}"


def statsd_exporter_name(monitoring: MonitoringSettings) -> str:
    return f"statsd-exporter-{monitoring.statsd_exporter_port}"


def prometheus_url(monitoring: MonitoringSettings) -> str:
    return f"http://{HOST}:{monitoring.prometheus_port}/"


def statsd_metrics_url(monitoring: MonitoringSettings) -> str:
    """Where Airflow's own metrics are served (by the StatsD exporter)."""
    return f"http://{HOST}:{monitoring.statsd_exporter_port}/metrics"


def scrape_targets(settings: Settings) -> dict[str, list[str]]:
    """Job name → the addresses Prometheus scrapes, for every part that serves metrics (each
    node of the local Kafka and Cassandra clusters, when it is the cluster that runs; the
    local schema registry serves its own at ``/metrics``)."""
    from userstream.stack import cassandra, kafka

    brokers = kafka.nodes(settings, cluster=kafka.clustered(settings))
    port = settings.kafka.metrics_port
    replicas = cassandra.nodes(settings, cluster=cassandra.clustered(settings))
    targets = {
        "kafka": [f"{node.metrics_host}:{port}" for node in brokers],
        "cassandra": [
            f"{node.metrics_host}:{settings.cassandra.metrics_port}" for node in replicas
        ],
        "dashboard": [f"{HOST}:{settings.dashboard.port}"],
    }
    if settings.registry.is_local:  # a registry of yours is yours to scrape
        registry = settings.registry
        host = f"[{registry.host}]" if ":" in registry.host else registry.host
        targets["registry"] = [f"{host}:{registry.port}"]
    if settings.spark.metrics_port:  # 0: any free port, which only `status` knows
        targets["stream"] = [f"{HOST}:{settings.spark.metrics_port}"]
    if settings.monitoring.statsd_port:
        targets["airflow"] = [f"{HOST}:{settings.monitoring.statsd_exporter_port}"]
    return targets


def prometheus_config(settings: Settings) -> dict[str, Any]:
    """The configuration ``up`` starts Prometheus with (the rules file sits beside it)."""
    return {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": ["alerts.yml"],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": addresses}]}
            for job, addresses in scrape_targets(settings).items()
        ],
    }


def _monitoring_file(name: str) -> Path:
    found = project_file(f"monitoring/{name}")
    if found is None:
        raise ConfigError(
            f"monitoring/{name} was not found beside the package nor in the working directory.",
            hint="Run from the project's checkout.",
        )
    return found


def write_prometheus_config(settings: Settings) -> Path:
    """Write ``<state>/monitoring/prometheus.yml`` and the alert rules beside it; its path."""
    folder = settings.paths.root / "monitoring"
    write_private(folder / "alerts.yml", _monitoring_file("alerts.yml").read_text())
    # JSON is YAML too; a comment says where it comes from.
    header = "# Generated by `userstream up` from the settings: edit those, not this file.\n"
    config = folder / "prometheus.yml"
    write_private(config, header + json.dumps(prometheus_config(settings), indent=2) + "\n")
    return config


def start_prometheus(settings: Settings) -> str:
    """Start Prometheus unless it runs; one line saying what happened (for ``up``).

    Raises ``ConfigError`` for a taken port, ``TransientError`` when it does not start.
    """
    m = settings.monitoring
    port = m.prometheus_port
    binary = prometheus_binary()
    if not port:
        return "prometheus: off (USERSTREAM_MONITORING__PROMETHEUS_PORT=0)"
    if binary is None:
        return f"prometheus: not installed, skipped (to have it: {GET_PROMETHEUS})"
    name, url = prometheus_name(m), prometheus_url(m)
    with component_lock(settings.paths, name):
        running = process.running(settings.paths, name)
        if running is not None:
            # The settings may have moved a port: rewrite, and SIGHUP makes it reload.
            write_prometheus_config(settings)
            os.kill(running.pid, signal.SIGHUP)
            return f"prometheus: already running on {url} (configuration reloaded)"
        require_free("Prometheus", HOST, [port], "USERSTREAM_MONITORING__PROMETHEUS_PORT")
        config = write_prometheus_config(settings)
        proc = process.start_until(
            settings.paths,
            name,
            [binary, f"--config.file={config}",
             f"--storage.tsdb.path={settings.paths.data / 'prometheus'}",
             "--storage.tsdb.retention.time=7d", "--storage.tsdb.retention.size=1GB",
             f"--web.listen-address={HOST}:{port}"],
            lambda: answers_http(f"{url}-/ready"),
            what=f"Prometheus on {url}",
            hint=f"Its log: {settings.paths.log_file(name)}.",
            timeout=60,
        )  # fmt: skip
    return f"prometheus: started on {url} (pid {proc.pid})"


def start_statsd_exporter(settings: Settings) -> str:
    """Start the StatsD exporter unless it runs; one line saying what happened (for ``up``).

    Raises ``ConfigError`` for a taken port, ``TransientError`` when it does not start.
    """
    m = settings.monitoring
    binary = statsd_exporter_binary()
    if not m.statsd_port:
        return "airflow metrics: off (USERSTREAM_MONITORING__STATSD_PORT=0)"
    if binary is None:
        return f"airflow metrics: no StatsD exporter, skipped (to have it: {GET_STATSD_EXPORTER})"
    name, url = statsd_exporter_name(m), statsd_metrics_url(m)
    with component_lock(settings.paths, name):
        if process.running(settings.paths, name) is not None:
            return f"airflow metrics: already served on {url}"
        require_free(
            "The StatsD exporter", HOST, [m.statsd_exporter_port, m.statsd_port],
            "USERSTREAM_MONITORING__STATSD_EXPORTER_PORT or USERSTREAM_MONITORING__STATSD_PORT",
        )  # fmt: skip
        proc = process.start_until(
            settings.paths,
            name,
            [binary, f"--web.listen-address={HOST}:{m.statsd_exporter_port}",
             f"--statsd.listen-udp={HOST}:{m.statsd_port}",
             f"--statsd.listen-tcp={HOST}:{m.statsd_port}",
             f"--statsd.mapping-config={_monitoring_file('statsd-mapping.yml')}"],
            lambda: answers_http(url),
            what=f"The StatsD exporter on {url}",
            hint=f"Its log: {settings.paths.log_file(name)}.",
        )  # fmt: skip
    return f"airflow metrics: served on {url} (pid {proc.pid})"


def stop_all(settings: Settings) -> list[str]:
    """Stop Prometheus and the StatsD exporter; the names of those that were running."""
    m = settings.monitoring
    stopped = []
    for name in (prometheus_name(m), statsd_exporter_name(m)):
        with component_lock(settings.paths, name):
            if process.stop(settings.paths, name):
                stopped.append(name)
    return stopped
