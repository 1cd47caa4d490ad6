"""The whole path a new user takes: `userstream up` → users land → `status` → `userstream down`.

Runs the real CLI as subprocesses against real Kafka, Cassandra, Spark and Airflow, in a world
of its own: its own state folder (the fetched jars linked in) and free ports for every part,
so it runs beside a developer's pipeline — which the test starts when none runs, and finds
still running, untouched, after its own `down`.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import private_settings
from tests.unit.test_monitoring import (
    NOT_AT_START,
    alert_and_dashboard_metrics,
    family_names,
    selected_series,
)
from userstream.config import Settings, load_settings
from userstream.host import process
from userstream.host.net import free_ports
from userstream.stack import cassandra, kafka, monitoring
from userstream.stack._airflow_env import userstream_env
from userstream.stack.local import stack_down, stack_up

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "userstream"]


def _run(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _count(env: dict[str, str], keyspace: str, table: str) -> int:
    result = _run(["query", "--json", f"SELECT COUNT(*) AS n FROM {keyspace}.{table}"], env, 60)
    if result.returncode != 0:
        return -1
    return int(json.loads(result.stdout.strip().splitlines()[-1])["n"])


LOOPBACK_HEX = {"0100007F", "00000000000000000000000001000000", "0000000000000000FFFF00000100007F"}


def _listeners_beyond_loopback(pids: list[int]) -> list[str]:
    """Listening TCP sockets of ``pids`` bound to anything but 127.0.0.1 / ::1."""
    inodes: dict[str, int] = {}
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes[target[8:-1]] = pid
        except OSError:
            continue
    wide = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port = fields[1].split(":")
            if fields[3] == "0A" and fields[9] in inodes and address not in LOOPBACK_HEX:
                wide.append(f"pid {inodes[fields[9]]} listens on {address}:{int(port, 16)}")
    return wide


def _stat(pid: str) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name: [state, ppid, pgrp, session, ...]."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _our_sessions(state_dir: Path) -> set[str]:
    """Session ids of everything we started. Each component is started in a session of its
    own, and children stay in it even when they rewrite their title (Airflow does)."""
    sessions = set()
    for pid_file in (state_dir / "run").glob("*.pid"):
        try:
            sessions.add(_stat(pid_file.read_text().split()[0])[3])
        except (OSError, IndexError):
            continue
    return sessions


def _processes_in(sessions: set[str]) -> dict[int, str]:
    """Live processes of those sessions, pid → command line."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            fields = _stat(proc.name)
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and fields[3] in sessions:
            found[int(proc.name)] = cmdline[:120].decode(errors="replace")
    return found


def _our_processes(state_dir: Path) -> list[str]:
    """Every live process whose command line or environment names our state folder."""
    needle = str(state_dir).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
            state = _stat(proc.name)[0]
        except (OSError, IndexError):
            continue
        if state != "Z" and (needle in cmdline or needle in environ):
            shown = cmdline.replace(b"\0", b" ")[:120].decode(errors="replace")
            found.append(f"{proc.name}: {shown}")
    return found


def _generated_secrets(state_dir: Path) -> dict[str, str]:
    """Every secret the pipeline generated: the string values in ``<state>/secrets``
    (user names excepted), by where they were found."""
    found: dict[str, str] = {}

    def walk(value: object, where: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key not in ("username", "user"):
                    walk(inner, f"{where}.{key}")
        elif isinstance(value, str) and len(value) >= 12:
            found[where] = value

    for path in sorted((state_dir / "secrets").rglob("*")):
        where = str(path.relative_to(state_dir / "secrets"))
        if path.is_dir():
            continue
        if path.suffix == ".cfg":  # Airflow's keys, an ini file
            keys = configparser.ConfigParser(interpolation=None)
            keys.read(path)
            walk({s: dict(keys[s]) for s in keys.sections()}, where)
        elif path.suffix == ".json":
            walk(json.loads(path.read_text()), where)
        elif path.suffix == ".conf":  # Spark's, "key value" lines
            walk(dict(line.split(" ", 1) for line in path.read_text().splitlines()), where)
        else:  # one secret a file (the broker's, read by Kafka's DirectoryConfigProvider)
            walk(path.read_text(), where)
    return found


def _secret_leaks(secrets: dict[str, str], state_dir: Path) -> list[str]:
    """Where a generated secret shows: any process's command line on this machine, or any
    log the pipeline's processes wrote (ours, Kafka's, Cassandra's, Spark's, Airflow's)."""
    places: list[tuple[str, bytes]] = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                places.append((f"command line of pid {proc.name}", (proc / "cmdline").read_bytes()))
    for folder in (state_dir / "logs", state_dir / "airflow" / "logs"):
        for path in folder.rglob("*") if folder.is_dir() else ():
            if path.is_file():
                places.append((f"log {path.relative_to(state_dir)}", path.read_bytes()))
    return [
        f"{name} in the {place}"
        for name, secret in secrets.items()
        for place, content in places
        if secret.encode() in content
    ]


def _exposed_names(urls: list[str]) -> set[str]:
    """Every metric name the parts serve right now: sample names, and the names of families
    that have no sample yet (a labelled counter before its first label set is counted) with
    the suffixes of their type."""
    names: set[str] = set()
    for url in urls:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=30) as reply:
            for family in text_string_to_metric_families(reply.read().decode()):
                names |= family_names(family)
    return names


def _served_from_the_start(env: dict[str, str]) -> None:
    """The series the alerts and the Grafana dashboard select on the project's own metrics
    are served by the stream's driver and the dashboard as soon as `up` returns, so they read
    0, not "no data", before users flow. Their presence is checked, not their value: the first
    DAG run `up` triggered may have produced already. Waited for, bounded: the driver serves
    once its Spark session is up."""
    deadline = time.monotonic() + 180
    while True:
        status = _run(["status", "--json"], env, timeout=180)
        parts: dict[str, dict[str, object]] = {}
        with contextlib.suppress(ValueError):
            parts = {p["name"]: p for p in json.loads(status.stdout)["parts"]}
        urls = {
            name: parts.get(name, {}).get("metrics_url") for name in ("spark stream", "dashboard")
        }
        texts = {}
        for name, url in urls.items():
            if not url:  # the driver has not served yet
                continue
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(str(url), timeout=30) as reply,
            ):
                texts[f"{name} {url}"] = reply.read().decode()
        missing = [
            f"{selector} (in {owner or 'neither'})"
            for selector, (owner, values) in selected_series(texts).items()
            if not values and selector.split(": ", 1)[1].split("{")[0] not in NOT_AT_START
        ]
        if (len(texts) == 2 and not missing) or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert len(texts) == 2, f"metrics not served after `up`: {urls}"
    assert not missing, "not served before users flow:\n" + "\n".join(missing)


def _targets_health(prometheus: str) -> dict[str, str]:
    with (
        contextlib.suppress(OSError),
        urllib.request.urlopen(f"{prometheus}api/v1/targets", timeout=10) as reply,
    ):
        targets = json.load(reply)["data"]["activeTargets"]
        return {t["labels"]["job"]: t["health"] for t in targets}
    return {}


def _check_monitoring(report: dict[str, object], prometheus: str) -> None:
    """Prometheus (started by `up`) finds every part up, and every metric the alerts and the
    Grafana dashboard use is one the running parts serve (so neither can drift from the code).

    Some names appear only once something happened (a DAG run ended, a task finished):
    waited for, bounded."""
    parts = {p["name"]: p for p in report["parts"]}  # type: ignore[attr-defined]
    assert parts["prometheus"]["healthy"] and parts["airflow metrics"]["healthy"], parts
    assert parts["airflow"]["metrics_url"] == parts["airflow metrics"]["metrics_url"], parts
    urls = [p["metrics_url"] for p in parts.values() if p.get("metrics_url")]
    # kafka, cassandra, the schema registry, stream, dashboard (the producer's counts),
    # airflow, prometheus
    assert len(set(urls)) == 7, urls
    used = alert_and_dashboard_metrics()
    deadline = time.monotonic() + 420
    while True:
        health = _targets_health(prometheus)
        missing = {n: w for n, w in used.items() if n not in _exposed_names(urls) | {"up"}}
        done = not missing and set(health.values()) == {"up"} and len(health) == 6
        if done or time.monotonic() > deadline:
            break
        time.sleep(10)
    assert set(health) == {"kafka", "cassandra", "registry", "stream", "dashboard", "airflow"}, (
        health
    )
    assert set(health.values()) == {"up"}, health
    assert not missing, f"used but not served: {missing}"


@pytest.fixture
def developers_stack() -> Iterator[dict[str, int]]:
    """The pipeline's own Kafka and Cassandra (the default state folder) running, as they
    are while a developer's `make run` runs: their pids. Started here when not running, and
    then stopped again at the end."""
    shared = load_settings()
    already = {name: process.running(shared.paths, name) for name in (kafka.NAME, cassandra.NAME)}
    if not all(already.values()):
        stack_up(shared, progress=lambda _line: None)
    pids = {name: proc.pid for name in already if (proc := process.running(shared.paths, name))}
    try:
        yield pids
    finally:
        if not all(already.values()):
            stack_down(shared, progress=lambda _line: None)


def test_up_lands_users_status_reports_them_and_down_stops_everything(
    unique: str,
    tmp_path: Path,
    developers_stack: dict[str, int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A state folder and ports of its own for every part: the developer's pipeline (default
    # state folder and ports) must be neither reused nor stopped by this test.
    settings: Settings = private_settings(tmp_path / "state")
    keyspace, topic = f"e2e_{unique}", f"e2e_{unique}"
    airflow_port, dashboard_port, prometheus_port, spark_metrics, spark_ui, *more = free_ports(8)
    fake_api_port, statsd_port, statsd_exporter_port = more
    env = {
        **os.environ,
        **userstream_env(settings),  # its state folder, Kafka's and Cassandra's ports
        "USERSTREAM_SPARK__METRICS_PORT": str(spark_metrics),
        "USERSTREAM_SPARK__UI_PORT": str(spark_ui),
        "USERSTREAM_KAFKA__TOPIC": topic,
        "USERSTREAM_CASSANDRA__KEYSPACE": keyspace,
        "USERSTREAM_AIRFLOW__BATCH_SIZE": "500",
        "USERSTREAM_SPARK__JOB_NAME": f"e2e_stream_{unique}",
        "USERSTREAM_AIRFLOW__INSTANCE": f"e2e_airflow_{unique}",
        "USERSTREAM_AIRFLOW__PORT": str(airflow_port),
        "USERSTREAM_SOURCE__FAKE_PORT": str(fake_api_port),
        "USERSTREAM_DASHBOARD__PORT": str(dashboard_port),
        "USERSTREAM_MONITORING__PROMETHEUS_PORT": str(prometheus_port),
        "USERSTREAM_MONITORING__STATSD_PORT": str(statsd_port),
        "USERSTREAM_MONITORING__STATSD_EXPORTER_PORT": str(statsd_exporter_port),
    }
    watched = monitoring.prometheus_binary() and monitoring.statsd_exporter_binary()
    if not watched and os.geteuid() == 0:  # CI (root) installs both: .ci/run
        pytest.fail(f"install Prometheus and the StatsD exporter: {monitoring.GET_PROMETHEUS}; "
                    f"{monitoring.GET_STATSD_EXPORTER}")  # fmt: skip
    started = time.monotonic()
    sessions: set[str] = set()
    try:
        up = _run(["up", "--source", "local"], env, timeout=1200)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "userstream is up" in up.stdout
        assert "local stand-in" in up.stdout
        assert f"127.0.0.1:{airflow_port}" in up.stdout
        dashboard_url = f"http://127.0.0.1:{dashboard_port}/"
        assert dashboard_url in up.stdout
        assert "Spark UI       http://127.0.0.1:" in up.stdout, up.stdout
        _served_from_the_start(env)

        stored = 0
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline and stored <= 0:
            time.sleep(10)
            stored = _count(env, keyspace, "user_profiles")
        first_rows = time.monotonic() - started
        assert stored > 0, "no user reached Cassandra after `userstream up`"
        with capsys.disabled():
            print(f"\n[e2e] first users in Cassandra {first_rows:.0f}s after `userstream up`")

        sessions = _our_sessions(settings.paths.root)
        ours = _processes_in(sessions)
        assert any("airflow" in cmd for cmd in ours.values()), ours
        wide = _listeners_beyond_loopback(list(ours))
        assert wide == [], f"listeners beyond 127.0.0.1: {wide}"
        secrets = _generated_secrets(settings.paths.root)
        # Cassandra's superuser, the Kafka logins (4), Airflow's password and keys (3).
        assert len(secrets) >= 9, sorted(secrets)
        leaks = _secret_leaks(secrets, settings.paths.root)
        assert leaks == [], f"generated secrets visible: {leaks}"

        status = _run(["status", "--json"], env, timeout=180)
        report = json.loads(status.stdout)
        parts = {p["name"]: p for p in report["parts"]}
        assert status.returncode == 0 and report["healthy"], status.stdout + status.stderr
        wanted = {"spark stream", "airflow", "source", "dashboard", "housekeeper", "disk"}
        assert wanted <= set(parts)
        assert report["dashboard_url"] == dashboard_url
        for name in ("kafka", "cassandra"):  # the JMX exporter agents answer
            url = parts[name]["metrics_url"]
            assert url.startswith("http://127.0.0.1:"), parts[name]
            with urllib.request.urlopen(url, timeout=30) as reply:
                assert b"jvm_memory" in reply.read(), url
        assert report["rows_stored"] >= stored
        # Spark's UI, on 127.0.0.1 (the listener check above covers every interface).
        ui = parts["spark stream"]["ui_url"]
        assert ui and ui.startswith("http://127.0.0.1:"), parts["spark stream"]
        with urllib.request.urlopen(f"{ui}/api/v1/applications", timeout=30) as reply:
            assert [a["name"] for a in json.load(reply)] == [settings.spark.app_name]
        # The producer runs of the DAG's tasks, served by the dashboard for Prometheus.
        with urllib.request.urlopen(f"{dashboard_url}metrics", timeout=30) as reply:
            produced = {
                s.labels["topic"]: s.value
                for family in text_string_to_metric_families(reply.read().decode())
                for s in family.samples
                if s.name == "userstream_producer_users_total" and s.labels["outcome"] == "produced"
            }
        assert produced.get(topic, 0) > 0, produced
        assert report["topics"][topic], "status shows no end offsets for the topic"
        assert sum(report["topics"][topic].values()) >= report["rows_stored"]
        if watched:
            assert f"prometheus: started on http://127.0.0.1:{prometheus_port}/" in up.stdout
            status = _run(["status", "--json"], env, timeout=180)
            _check_monitoring(json.loads(status.stdout), f"http://127.0.0.1:{prometheus_port}/")
        else:
            assert "prometheus: not installed" in up.stdout, up.stdout
    finally:
        down = _run(["down"], env, timeout=600)
    assert down.returncode == 0, down.stdout + down.stderr
    leftover = _our_processes(settings.paths.root)
    assert leftover == [], f"still running after `userstream down`: {leftover}"
    stragglers = _processes_in(sessions)
    assert stragglers == {}, f"still running after `userstream down`: {stragglers}"
    # The developer's stack ran beside it all along, and still does.
    shared = load_settings()
    assert {
        name: proc.pid for name in developers_stack if (proc := process.running(shared.paths, name))
    } == developers_stack
    assert kafka.broker_answers(shared.kafka), "the developer's Kafka stopped answering"
    after = _run(["status", "--json"], env, timeout=180)
    assert after.returncode != 0 and not json.loads(after.stdout)["healthy"]
