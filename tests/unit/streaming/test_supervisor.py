"""The supervisor: restarts a dead driver with a capped backoff, stops it on request, holds the
checkpoint's lock. A tiny Python child stands in for the Spark driver."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from userstream.config import Settings
from userstream.errors import UserstreamError
from userstream.host import process
from userstream.streaming import supervisor
from userstream.streaming.supervisor import Backoff, Supervisor, checkpoint_lock

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")


def child(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def restart_delays(caplog: pytest.LogCaptureFixture) -> list[float]:
    return [
        float(r.getMessage().rsplit("restarting_in_s=", 1)[1])
        for r in caplog.records
        if r.getMessage().startswith("driver_exited")
    ]


def wait_for(what: str, check: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def test_the_backoff_restarts_at_once_then_doubles_up_to_its_cap_and_resets():
    backoff = Backoff(first_s=1, max_s=15)
    assert [backoff.next_delay() for _ in range(7)] == [0, 1, 2, 4, 8, 15, 15]
    backoff.reset()
    assert backoff.next_delay() == 0


def test_a_crashing_driver_is_restarted_with_a_growing_delay_and_each_exit_is_recorded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger=supervisor.__name__)
    state = tmp_path / "sup.json"
    runs = tmp_path / "runs"
    sup = Supervisor(
        child(f"open({str(runs)!r}, 'a').write('x'); raise SystemExit(3)"),
        state_path=state,
        job="t",
        healthy=lambda pid: False,
        backoff=Backoff(first_s=0.02, max_s=0.05),
    )
    assert sup.run(max_restarts=4) == 0
    assert runs.read_text() == "xxxxx"
    assert restart_delays(caplog) == [0, 0.02, 0.04, 0.05]
    assert "driver_exited code=3 signal=None" in caplog.text
    saved = read(state)
    assert saved["pid"] == os.getpid()
    assert saved["job"] == "t"
    assert saved["restarts"] == 4
    assert saved["state"] == "stopped"
    assert saved["driver_pid"] is None
    assert saved["started_at"] and saved["driver_started_at"]
    assert saved["last_exit"]["code"] == 3
    assert saved["last_exit"]["signal"] is None
    assert saved["last_exit"]["at"]


def test_a_driver_killed_by_a_signal_is_recorded_by_the_signal_name(tmp_path: Path):
    state = tmp_path / "sup.json"
    sup = Supervisor(
        child("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"),
        state_path=state,
        backoff=Backoff(first_s=0.01),
    )
    sup.run(max_restarts=1)
    assert read(state)["last_exit"]["signal"] == "SIGKILL"
    assert read(state)["last_exit"]["code"] is None


def test_a_driver_that_ran_healthily_for_a_while_is_restarted_at_once_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger=supervisor.__name__)
    sup = Supervisor(
        child("import time; time.sleep(0.6)"),
        state_path=tmp_path / "sup.json",
        healthy=lambda pid: True,
        healthy_run_s=0.1,
        backoff=Backoff(first_s=5, max_s=15),
    )
    sup.run(max_restarts=3)
    assert restart_delays(caplog) == [0, 0, 0]


SUPERVISE = """
import sys
from pathlib import Path
from userstream.streaming.supervisor import Backoff, Supervisor
sup = Supervisor(
    [sys.executable, "-c", sys.argv[2]],
    state_path=Path(sys.argv[1]),
    backoff=Backoff(first_s=0.05),
)
sup.install_signals()
sys.exit(sup.run())
"""

# Writes TERM when asked to stop, finishes its "micro-batch", exits 0.
GRACEFUL_DRIVER = """
import signal, sys, time
from pathlib import Path
marker = Path(sys.argv[1])
def stop(signum, frame):
    marker.write_text("TERM")
    time.sleep(0.3)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
marker.write_text("ready")
while True:
    time.sleep(0.1)
"""


def start_supervisor(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path, Path]:
    state, marker = tmp_path / "sup.json", tmp_path / "driver-got"
    driver = GRACEFUL_DRIVER.replace("sys.argv[1]", repr(str(marker)))
    proc = subprocess.Popen([sys.executable, "-c", SUPERVISE, str(state), driver])
    wait_for("the driver", lambda: marker.exists() and marker.read_text() == "ready")
    return proc, state, marker


def test_sigterm_is_forwarded_to_the_driver_which_stops_and_is_not_restarted(tmp_path: Path):
    proc, state, marker = start_supervisor(tmp_path)
    driver = read(state)["driver_pid"]
    # Its start time too, so a pid reused after the driver is gone never passes for it.
    assert read(state)["driver_identity"] == process.identity(driver)
    try:
        assert os.getpgid(driver) == os.getpgid(proc.pid), "the driver is in the same group"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
    assert marker.read_text() == "TERM"
    saved = read(state)
    assert saved["state"] == "stopped"
    assert saved["restarts"] == 0
    assert saved["last_exit"] is None
    assert saved["driver_identity"] is None
    wait_for("the driver to be gone", lambda: not Path(f"/proc/{driver}").exists())


@linux_only
def test_a_supervisor_killed_with_sigkill_takes_its_driver_with_it(tmp_path: Path):
    proc, state, marker = start_supervisor(tmp_path)
    driver = read(state)["driver_pid"]
    proc.kill()
    proc.wait()
    wait_for("SIGTERM to reach the orphaned driver", lambda: marker.read_text() == "TERM")
    wait_for("the driver to exit", lambda: not Path(f"/proc/{driver}").exists())


def test_a_second_holder_of_the_checkpoint_lock_is_refused_while_a_child_keeps_it(
    tmp_path: Path,
):
    settings = Settings(state_dir=tmp_path)
    with checkpoint_lock(settings) as fd:
        assert os.stat(fd).st_mode & 0o777 == 0o600  # it names the holder: ours to read
        holder = subprocess.Popen(["sleep", "60"], pass_fds=(fd,))
        refused = pytest.raises(UserstreamError, match="Another driver is using the checkpoint")
        with refused, checkpoint_lock(settings):
            pass
    try:
        # This process let go; the child still holds it.
        names_holder = pytest.raises(UserstreamError, match=f"pid {os.getpid()}")
        with names_holder, checkpoint_lock(settings, wait_s=0.3):
            pass
    finally:
        holder.kill()
        holder.wait()
    with checkpoint_lock(settings):
        pass


def test_the_lock_is_per_checkpoint_whatever_the_job_name(tmp_path: Path):
    one = Settings(state_dir=tmp_path)
    other = one.model_copy(update={"spark": one.spark.model_copy(update={"job_name": "x"})})
    elsewhere = one.model_copy(update={"kafka": one.kafka.model_copy(update={"topic": "t2"})})
    assert supervisor.lock_file(one) == supervisor.lock_file(other)
    assert supervisor.lock_file(one) != supervisor.lock_file(elsewhere)
