"""A whole-machine crash, kept tested: every process of the pipeline SIGKILLed at the same
instant while users flow (a power cut to the processes, an OOM-killed machine), then
`userstream up`. It starts cleanly over stale pid files, locks, a Kafka log and a Cassandra
commit log that were not shut down; every user acknowledged to the producer is stored
exactly once; nothing of the old run survives beside the new one (children of a killed
process included, e.g. Airflow's LocalExecutor workers); `down` leaves nothing running.

The pipeline runs in a world of its own (state folder, ports), as in the end-to-end test, so a
developer's stack beside it is never touched.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from tests.e2e.test_up import _our_processes, _run
from tests.integration.conftest import private_settings
from tests.integration.conftest_stream import Arrivals
from userstream.config import Settings, load_settings
from userstream.host.net import free_ports
from userstream.stack._airflow_env import userstream_env

pytestmark = [pytest.mark.integration, pytest.mark.faults]

RATE = 200  # users a second, from the test's own producer, through the crash
WAIT_S = 600


def _pids_of(state_dir: Path) -> list[int]:
    """Every live process whose command line or environment names the state folder."""
    return [int(line.split(":", 1)[0]) for line in _our_processes(state_dir)]


def _stored_ids(settings: Settings) -> set[str]:
    from userstream.store import session

    with session(settings, keyspace=settings.cassandra.keyspace) as cql:
        return {str(row.id) for row in cql.execute("SELECT id FROM user_profiles")}


def _rejected_keys(settings: Settings) -> set[str]:
    from userstream.store import session

    with session(settings, keyspace=settings.cassandra.keyspace) as cql:
        return {str(r.raw_key) for r in cql.execute("SELECT raw_key FROM user_profiles_rejects")}


def _born_before(pid: int, instant: float) -> bool:
    """Whether ``pid`` runs and is a process started before ``instant`` (not a reuse)."""
    try:
        return psutil.Process(pid).create_time() <= instant
    except psutil.NoSuchProcess:
        return False


def _wait_for(what: str, done: object, timeout: float = WAIT_S) -> float:
    """Poll ``done()`` every 2 s until true; the seconds it took (fails after ``timeout``)."""
    started = time.monotonic()
    while not done():  # type: ignore[operator]
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout:.0f}s"
        time.sleep(2)
    return time.monotonic() - started


def test_every_process_killed_at_once_then_up_stores_every_acknowledged_user_once(
    unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    private = private_settings(tmp_path / "state")
    airflow_port, dashboard_port, spark_metrics, spark_ui, fake_api_port = free_ports(5)
    env = {
        **userstream_env(private),  # its state folder, Kafka's and Cassandra's ports
        "USERSTREAM_KAFKA__TOPIC": f"crash_{unique}",
        "USERSTREAM_CASSANDRA__KEYSPACE": f"crash_{unique}",
        "USERSTREAM_SPARK__JOB_NAME": f"crash_stream_{unique}",
        "USERSTREAM_SPARK__METRICS_PORT": str(spark_metrics),
        "USERSTREAM_SPARK__UI_PORT": str(spark_ui),
        "USERSTREAM_AIRFLOW__INSTANCE": f"crash_airflow_{unique}",
        "USERSTREAM_AIRFLOW__PORT": str(airflow_port),
        "USERSTREAM_AIRFLOW__BATCH_SIZE": "500",
        "USERSTREAM_SOURCE__FAKE_PORT": str(fake_api_port),
        "USERSTREAM_DASHBOARD__PORT": str(dashboard_port),
        "USERSTREAM_MONITORING__PROMETHEUS_PORT": "0",
        "USERSTREAM_MONITORING__STATSD_PORT": "0",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    state = settings.paths.root
    full_env = dict(os.environ)
    try:
        up = _run(["up", "--source", "local"], full_env, timeout=1200)
        assert up.returncode == 0, up.stdout + up.stderr
        with Arrivals(settings, seed=unique, rate=RATE) as arrivals:
            _wait_for("users stored before the crash", lambda: len(_stored_ids(settings)) > 500)
            stored_at_crash = len(_stored_ids(settings))
            old = {pid: psutil.Process(pid).create_time() for pid in _pids_of(state)}
            assert len(old) >= 10, old  # Kafka, Cassandra, the registry, the stream, Airflow…
            crashed_at = time.time()
            for _ in range(3):  # a process forked meanwhile is killed on the next pass
                for pid in _pids_of(state):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        continue
                    old.setdefault(pid, crashed_at)
            _wait_for("every process gone", lambda: _pids_of(state) == [], timeout=30)
            acknowledged_before = set(arrivals.sent)

            started = time.monotonic()
            again = _run(["up", "--source", "local"], full_env, timeout=1200)
            assert again.returncode == 0, again.stdout + again.stderr
            up_s = time.monotonic() - started
            _wait_for("users flowing again", lambda: len(_stored_ids(settings)) > stored_at_crash)
            with capsys.disabled():
                print(f"\n[crash] {len(old)} processes killed; `up` took {up_s:.0f}s, new rows "
                      f"{time.monotonic() - started:.0f}s after it began")  # fmt: skip
            survivors = [pid for pid in old if _born_before(pid, crashed_at)]
            assert survivors == [], f"processes of the killed run still running: {survivors}"
        sent = set(arrivals.sent)
        assert acknowledged_before <= sent
        _wait_for("every acknowledged user stored", lambda: sent <= _stored_ids(settings))
        assert not sent & _rejected_keys(settings)
    finally:
        down = _run(["down"], full_env, timeout=600)
    assert down.returncode == 0, down.stdout + down.stderr
    assert _our_processes(state) == []
