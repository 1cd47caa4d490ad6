"""Background processes with a pid file and a log file in the state folder.

Every long-running part of the local runtime (Kafka, Cassandra, the Spark job, Airflow)
is started through here, so `status` and `down` find them all the same way. A pid file
also records the command line's first words so a recycled pid of an unrelated process is
never mistaken for ours.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from userstream.config import StatePaths
from userstream.errors import UserstreamError


@dataclass(frozen=True)
class Proc:
    name: str
    pid: int
    log: Path


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); it is not running.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def alive(pid: int, marker: str | None = None) -> bool:
    """True when ``pid`` runs (a zombie does not) and its command line holds ``marker``.

    The marker guards against a recycled pid: an unrelated process never has it.
    """
    return _alive(pid) and (not marker or marker in _cmdline(pid))


def running(paths: StatePaths, name: str) -> Proc | None:
    """The process named ``name`` when it is alive and is the one we started, else None."""
    pid_file = paths.pid_file(name)
    try:
        pid_text, _, marker = pid_file.read_text().partition("\n")
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    if not alive(pid, marker.strip()):
        return None
    return Proc(name, pid, paths.log_file(name))


def start(
    paths: StatePaths,
    name: str,
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    marker: str | None = None,
) -> Proc:
    """Start ``cmd`` detached (own session), output appended to ``logs/<name>.log``.

    ``marker`` is a string that must appear in the process's command line for the pid
    file to count as ours later (defaults to the program's name).
    """
    for folder in (paths.run, paths.logs):
        folder.mkdir(parents=True, exist_ok=True)
    log = paths.log_file(name)
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    with log.open("ab") as out:
        child = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
        )
    paths.pid_file(name).write_text(f"{child.pid}\n{marker or Path(cmd[0]).name}\n")
    return Proc(name, child.pid, log)


def stop(paths: StatePaths, name: str, *, timeout: float = 30.0) -> bool:
    """SIGTERM the process group, SIGKILL after ``timeout``. True when something was stopped."""
    proc = running(paths, name)
    paths_pid = paths.pid_file(name)
    if proc is None:
        paths_pid.unlink(missing_ok=True)
        return False
    _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(proc.pid):
            break
        time.sleep(0.2)
    else:
        _signal_group(proc.pid, signal.SIGKILL)
        _wait_dead(proc.pid, 10.0)
    _reap(proc.pid)
    paths_pid.unlink(missing_ok=True)
    return True


def kill(paths: StatePaths, name: str) -> bool:
    """SIGKILL at once (for fault tests and for cleaning up a failed start)."""
    proc = running(paths, name)
    if proc is None:
        return False
    _signal_group(proc.pid, signal.SIGKILL)
    _wait_dead(proc.pid, 10.0)
    paths.pid_file(name).unlink(missing_ok=True)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _wait_dead(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    if _alive(pid):
        raise UserstreamError(f"Process {pid} did not exit after SIGKILL.")
    _reap(pid)


def _reap(pid: int) -> None:
    """Collect the exit status when the process is our own child, so no zombie is left."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def tail(log: Path, lines: int = 20) -> str:
    """The last lines of a log file, for error messages."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
