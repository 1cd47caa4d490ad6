"""`stream stop`: SIGTERM to the supervisor alone, then what it leaves of its group is ended;
`stream kill`: the whole group at once. A shell plays the supervisor, a Python child its JVM."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from userstream.config import Settings
from userstream.host import process
from userstream.streaming import control

# The "JVM": says, when it gets SIGTERM, whether its parent had exited by then.
JVM = """
import os, signal, sys, time
parent = os.getppid()
def term(signum, frame):
    with open(sys.argv[1], "w") as out:
        out.write("orphan" if os.getppid() != parent else "with its supervisor")
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
open(sys.argv[1], "w").write("ready")
while True:
    time.sleep(0.1)
"""


def _start(tmp_path: Path) -> tuple[Settings, Path, int]:
    settings = Settings(state_dir=tmp_path / "state")
    said, pid_file = tmp_path / "jvm-said", tmp_path / "jvm.pid"
    script = (
        f"{sys.executable} -c '{JVM}' {said} & echo $! > {pid_file}; "
        'trap "sleep 0.3; exit 0" TERM; wait'
    )
    process.start(settings.paths, settings.spark.job_name, ["sh", "-c", script])
    deadline = time.monotonic() + 20
    while not (said.exists() and said.read_text() == "ready"):
        assert time.monotonic() < deadline, "the stand-in JVM never started"
        time.sleep(0.05)
    return settings, said, int(pid_file.read_text())


def test_stop_signals_the_supervisor_first_then_ends_what_it_left(tmp_path: Path) -> None:
    settings, said, jvm = _start(tmp_path)
    assert control.stop(settings, timeout=10) is True
    assert said.read_text() == "orphan"
    with pytest.raises(ProcessLookupError):
        os.kill(jvm, 0)
    assert control.running(settings) is None
    assert control.stop(settings) is False


def test_kill_ends_the_whole_group_at_once(tmp_path: Path) -> None:
    settings, said, jvm = _start(tmp_path)
    assert control.kill(settings) is True
    assert said.read_text() == "ready"  # SIGKILL: no handler ran
    with pytest.raises(ProcessLookupError):
        os.kill(jvm, 0)
    assert control.kill(settings) is False
