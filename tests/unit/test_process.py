"""Background processes: start, running, stop, kill, and a recycled pid is not ours."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from userstream.config import StatePaths
from userstream.stack import process


def _wait_for_text(log: Path, text: str) -> None:
    deadline = time.monotonic() + 60
    while text not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, f"{text!r} never appeared in {log}"
        time.sleep(0.05)


@pytest.fixture
def paths(tmp_path: Path) -> StatePaths:
    return StatePaths(tmp_path / "state")


def test_start_running_stop(paths: StatePaths) -> None:
    proc = process.start(paths, "sleeper", ["sleep", "300"])
    try:
        found = process.running(paths, "sleeper")
        assert found is not None
        assert found.pid == proc.pid
        assert paths.pid_file("sleeper").is_file()
        assert process.stop(paths, "sleeper", timeout=10) is True
        assert process.running(paths, "sleeper") is None
        assert not paths.pid_file("sleeper").exists()
    finally:
        process.kill(paths, "sleeper")


def test_stop_when_not_running_is_false(paths: StatePaths) -> None:
    assert process.stop(paths, "nothing") is False
    assert process.kill(paths, "nothing") is False


def test_kill_is_immediate(paths: StatePaths) -> None:
    # A process that ignores SIGTERM: only SIGKILL ends it.
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"
    proc = process.start(paths, "stubborn", [sys.executable, "-c", code], marker="SIG_IGN")
    assert process.kill(paths, "stubborn") is True
    assert process.running(paths, "stubborn") is None
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)


def test_stop_escalates_to_sigkill(paths: StatePaths) -> None:
    code = (
        "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(300)"
    )
    process.start(paths, "stubborn", [sys.executable, "-c", code], marker="SIG_IGN")
    _wait_for_text(paths.log_file("stubborn"), "ready")  # the handler is installed by then
    assert process.stop(paths, "stubborn", timeout=1.0) is True
    assert process.running(paths, "stubborn") is None


def test_output_goes_to_the_log(paths: StatePaths) -> None:
    process.start(paths, "echo", ["sh", "-c", "echo hello-from-child; sleep 300"], marker="sh")
    try:
        _wait_for_text(paths.log_file("echo"), "hello-from-child")
        assert "hello-from-child" in process.tail(paths.log_file("echo"))
    finally:
        process.stop(paths, "echo", timeout=10)


def test_recycled_pid_is_not_ours(paths: StatePaths) -> None:
    # An unrelated live process whose pid lands in our pid file must not count as ours.
    other = subprocess.Popen(["sleep", "300"])
    try:
        paths.run.mkdir(parents=True, exist_ok=True)
        paths.pid_file("kafka").write_text(f"{other.pid}\nkafka.Kafka\n")
        assert process.running(paths, "kafka") is None
        # And stop() leaves it alone.
        assert process.stop(paths, "kafka", timeout=1) is False
        assert other.poll() is None
        # With the right marker it would be ours.
        paths.pid_file("kafka").write_text(f"{other.pid}\nsleep\n")
        assert process.running(paths, "kafka") is not None
    finally:
        other.send_signal(signal.SIGKILL)
        other.wait()


def test_dead_pid_is_not_running(paths: StatePaths) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    paths.run.mkdir(parents=True, exist_ok=True)
    paths.pid_file("x").write_text(f"{gone.pid}\ntrue\n")
    assert process.running(paths, "x") is None


def test_garbage_pid_file_is_not_running(paths: StatePaths) -> None:
    paths.run.mkdir(parents=True, exist_ok=True)
    paths.pid_file("x").write_text("not a pid\n")
    assert process.running(paths, "x") is None
