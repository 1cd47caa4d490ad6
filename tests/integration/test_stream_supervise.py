"""`userstream stream supervise`: the supervisor as a service manager's foreground process.

Run as a Compose service or a systemd unit would run it (a command of its own, in the
foreground), it heals a SIGKILLed driver as `stream start`'s background supervisor does, and
`stream stop` ends it. With ``airflow.starts_stream`` false the DAG's ``ensure_stream`` only
checks the stream by its driver's heartbeat and never starts one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.integration.conftest import command_env
from tests.integration.conftest_stream import (
    fake_users,
    isolated,
    produce,
    stream_env,
    user_messages,
    wait_until,
)
from userstream.config import Settings
from userstream.host.net import free_ports
from userstream.orchestration import tasks
from userstream.streaming import control

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(stack: Settings, unique: str) -> Iterator[Settings]:
    with stream_env(isolated(stack, unique, max_offsets_per_trigger=200)) as s:
        yield s


def _batch_of(settings: Settings, pid: int | None) -> bool:
    state = control.last_progress(settings) or {}
    return state.get("pid") == pid and bool(state.get("last_batch"))


def test_supervise_heals_the_driver_in_the_foreground_and_stop_ends_it(
    settings: Settings, cassandra_session, tmp_path
) -> None:
    ks = settings.cassandra.keyspace
    users = fake_users(settings.kafka.topic, 600)
    before, after = users[:300], users[300:]
    produce(settings, user_messages(before))

    def stored() -> int:
        return cassandra_session.execute(f"SELECT count(*) FROM {ks}.user_profiles").one()[0]

    log = (tmp_path / "supervise.log").open("w")
    service = subprocess.Popen(
        [sys.executable, "-m", "userstream", "stream", "supervise"],
        env=command_env(settings),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until("the users sent first", lambda: stored() == len(before))
        running = control.running(settings)
        assert running is not None and running.pid == service.pid, "its pid file names it"
        first = control.driver_pid(settings)
        assert first is not None and first != service.pid

        # The Airflow side of a deployment where the service manager owns the stream: the
        # heartbeat says healthy, and nothing is started.
        checked = tasks.check_stream(settings)
        assert checked == {"started": False, "pid": first}
        # The same, where Airflow shares no state folder with the stream (Kubernetes): it
        # asks the driver's metrics port for its progress, and only that (a URL nothing
        # answers is no progress, however fresh the file here).
        metrics_url = str((control.last_progress(settings) or {})["metrics_url"])

        def reading(url: str) -> Settings:
            spark = settings.spark.model_copy(update={"progress_url": url})
            return settings.model_copy(update={"spark": spark})

        (nobody,) = free_ports(1)
        with pytest.raises(tasks.StreamNotRunning, match="is not healthy"):
            tasks.check_stream(reading(f"http://127.0.0.1:{nobody}/progress"))
        elsewhere = reading(metrics_url.replace("/metrics", "/progress"))
        assert tasks.check_stream(elsewhere) == {"started": False, "pid": first}

        assert control.kill_driver(settings) == first
        wait_until("a new driver", lambda: control.driver_pid(settings) not in (None, first))
        second = control.driver_pid(settings)
        produce(settings, user_messages(after))
        wait_until("a batch of the new driver", lambda: _batch_of(settings, second))
        wait_until("every user stored", lambda: stored() == len(users), timeout=120)
        ids = {str(r.id) for r in cassandra_session.execute(f"SELECT id FROM {ks}.user_profiles")}
        assert ids == {u["login"]["uuid"] for u in users}

        assert control.stop(settings)
        assert service.wait(timeout=60) == 0
        assert control.running(settings) is None
        assert not settings.paths.pid_file(settings.spark.job_name).exists()
        # Each driver's first micro-batch has its line (the rest sum into one a minute), and
        # Spark's line for every batch longer than the trigger interval is not there.
        said = (tmp_path / "supervise.log").read_text(errors="replace")  # its drivers' too
        assert said.count('"event": "batch_written"') == 2, said[-3000:]
        assert "falling behind" not in said
    finally:
        if service.poll() is None:
            os.killpg(service.pid, signal.SIGKILL)
            service.wait()
        log.close()

    # Nothing runs now: with starts_stream false, ensure_stream says so and starts nothing.
    checking = settings.model_copy(
        update={
            "airflow": settings.airflow.model_copy(update={"starts_stream": False}),
            "spark": settings.spark.model_copy(update={"unhealthy_after_s": 1.0}),
        }
    )
    with pytest.raises(tasks.StreamNotRunning, match="stream supervise"):
        tasks.ensure_stream(checking)
    assert control.running(settings) is None
