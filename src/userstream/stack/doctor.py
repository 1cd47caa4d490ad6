"""`userstream doctor`: is this machine ready to run the local stack, and what to fix if not."""

from __future__ import annotations

import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from userstream.config import Settings, StatePaths
from userstream.errors import ConfigError
from userstream.extras import PYSPARK_MISSING_HINT, pyspark_installed
from userstream.host import process
from userstream.host.net import listener_pids, port_free, process_group
from userstream.stack import jmx_exporter, monitoring
from userstream.stack._java import MIN_JAVA, java_executable, java_version

MIN_FREE_DISK_GB = 5.0
#: platform.system() of the systems the local runtime supports, and their names.
SUPPORTED_SYSTEMS = {"Linux": "Linux", "Darwin": "macOS"}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in the order a user would fix them; none raises."""
    return [
        _system(), _java(), _maven(), _pyspark(), *_monitoring_tools(), *_ports(settings),
        _disk(settings.paths),
    ]  # fmt: skip


def _system() -> Check:
    """The local runtime runs its processes in POSIX sessions and groups (``host.process``,
    through psutil): Linux and macOS."""
    name = platform.system()
    if name in SUPPORTED_SYSTEMS:
        return Check("system", True, f"{name} {platform.release()}: the local runtime is supported")
    return Check(
        "system",
        False,
        f"{name}: the local runtime (Kafka, Cassandra, Spark, Airflow as processes of this "
        f"machine) supports {' and '.join(SUPPORTED_SYSTEMS.values())} only",
        "Run the pipeline with `docker compose up --build`, or on a Linux or macOS machine.",
    )


def _monitoring_tools() -> list[Check]:
    """Optional: `up` starts them when found, and the pipeline runs the same without them."""
    found = (
        ("prometheus", monitoring.prometheus_binary(), monitoring.GET_PROMETHEUS,
         "scrapes every part, evaluates the alerts"),
        ("statsd exporter", monitoring.statsd_exporter_binary(), monitoring.GET_STATSD_EXPORTER,
         "serves Airflow's own metrics"),
    )  # fmt: skip
    return [
        Check(name, True, f"{path} ({role})")
        if path
        else Check(name, True, f"not installed, optional ({role}); to have it: {how}")
        for name, path, how, role in found
    ]


def _pyspark() -> Check:
    if not pyspark_installed():
        return Check("pyspark", False, "pyspark is not installed: no Spark stream",
                     PYSPARK_MISSING_HINT)  # fmt: skip
    from importlib.metadata import version

    return Check("pyspark", True, f"pyspark {version('pyspark')}")


def _java() -> Check:
    try:
        java = java_executable()
        version = java_version(java)
    except ConfigError as exc:
        return Check("java", False, exc.message, exc.hint or "")
    if version < MIN_JAVA:
        return Check(
            "java",
            False,
            f"Java {version} at {java}",
            f"Install a JDK {MIN_JAVA}+ and set JAVA_HOME.",
        )
    return Check("java", True, f"Java {version} at {java}")


def _maven() -> Check:
    mvn = shutil.which("mvn")
    fix = "Install Maven (Debian/Ubuntu: `sudo apt-get install maven`)."
    if mvn is None:
        return Check("maven", False, "mvn is not on PATH", fix)
    out = subprocess.run([mvn, "-v"], capture_output=True, text=True, check=False, timeout=120)
    first = out.stdout.splitlines()[0] if out.stdout else ""
    if out.returncode != 0:
        return Check("maven", False, f"`mvn -v` failed (exit {out.returncode})", fix)
    # Strip ANSI colour codes Maven adds on some terminals.
    return Check("maven", True, first.replace("\x1b[1m", "").replace("\x1b[m", "").strip())


def _our_groups(paths: StatePaths) -> dict[int, str]:
    """Process groups of everything we started (each is its own session leader)."""
    groups: dict[int, str] = {}
    run = paths.run
    for pid_file in run.glob("*.pid") if run.is_dir() else []:
        proc = process.running(paths, pid_file.stem)
        if proc is not None:
            groups[proc.pid] = proc.name
    return groups


def _ports(settings: Settings) -> list[Check]:
    k, c, a = settings.kafka, settings.cassandra, settings.airflow
    metrics = jmx_exporter.HOST
    wanted = [
        ("Kafka", k.host, k.port, "USERSTREAM_KAFKA__PORT"),
        ("Kafka controller", k.host, k.controller_port, "USERSTREAM_KAFKA__CONTROLLER_PORT"),
        ("Cassandra CQL", c.hosts[0], c.port, "USERSTREAM_CASSANDRA__PORT"),
        ("Cassandra storage", c.hosts[0], c.storage_port, "USERSTREAM_CASSANDRA__STORAGE_PORT"),
        ("Kafka metrics", metrics, k.metrics_port, "USERSTREAM_KAFKA__METRICS_PORT"),
        ("Cassandra metrics", metrics, c.metrics_port, "USERSTREAM_CASSANDRA__METRICS_PORT"),
        ("Airflow", a.host, a.port, "USERSTREAM_AIRFLOW__PORT"),
        ("Dashboard", settings.dashboard.host, settings.dashboard.port,
         "USERSTREAM_DASHBOARD__PORT"),
    ]  # fmt: skip
    m = settings.monitoring
    if m.prometheus_port and monitoring.prometheus_binary():
        wanted.append((
            "Prometheus", monitoring.HOST, m.prometheus_port,
            "USERSTREAM_MONITORING__PROMETHEUS_PORT",
        ))  # fmt: skip
    if m.statsd_port and monitoring.statsd_exporter_binary():
        wanted.append((
            "StatsD exporter", monitoring.HOST, m.statsd_exporter_port,
            "USERSTREAM_MONITORING__STATSD_EXPORTER_PORT",
        ))  # fmt: skip
    ours = _our_groups(settings.paths)
    checks = []
    for label, host, port, env in wanted:
        name = f"port {port}"
        if port_free(host, port):
            checks.append(Check(name, True, f"{label}: {host}:{port} is free"))
            continue
        holders = listener_pids(port)
        owners = {ours[g] for p in holders if (g := process_group(p)) in ours}
        if owners:
            checks.append(Check(name, True, f"{label}: in use by our {', '.join(sorted(owners))}"))
            continue
        who = f" by pid {', '.join(map(str, sorted(holders)))}" if holders else ""
        checks.append(
            Check(
                name,
                False,
                f"{label}: {host}:{port} is in use{who}",
                f"Stop that program, or set {env} to a free port.",
            )
        )
    return checks


def _disk(paths: StatePaths) -> Check:
    folder: Path = paths.root
    while not folder.exists():
        folder = folder.parent
    free_gb = shutil.disk_usage(folder).free / 1e9
    detail = f"{free_gb:.1f} GB free for {paths.root}"
    if free_gb < MIN_FREE_DISK_GB:
        return Check(
            "disk",
            False,
            detail,
            f"Free at least {MIN_FREE_DISK_GB:.0f} GB (jars, Kafka logs, Cassandra data), or "
            "set USERSTREAM_STATE_DIR to a bigger disk.",
        )
    return Check("disk", True, detail)
