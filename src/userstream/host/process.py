"""Background processes with a pid file and a log file in the state folder.

Every long-running part of the local runtime (Kafka, Cassandra, the Spark job, Airflow, the
stand-in API) is started through here, so `status` and `down` find them all the same way.
Each runs in a session of its own (its pid is its process group's id) with umask 077, so
what it writes into the state folder is private from its first byte.

A pid file names one process for good: ``<pid> <start time> <boot id>`` on its first line,
then the state folder and name it belongs to. The start time (in clock ticks since boot, as
psutil reports it: on Linux field 22 of ``/proc/<pid>/stat``) and the boot's id tell our
process from any other that had or will have its pid, so a pid file whose process is gone or
is another one is stale, and ``stop``/``kill`` signal nothing. Processes are read through
psutil, so this works on Linux and macOS; elsewhere (no POSIX process groups) the functions
here refuse with a clear error rather than guess.

Pid files of older releases (a pid, then a word of the command line) are still honoured
with their own check, so a stack started before an upgrade can be stopped after it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psutil

from userstream.config import StatePaths
from userstream.errors import ConfigError, TerminalError, TransientError
from userstream.host.state import PRIVATE_UMASK, ensure_root, write_private

log = logging.getLogger(__name__)
T = TypeVar("T")
#: POSIX sessions and process groups, which ``spawn`` and ``stop`` rely on (a variable, so
#: tests can take them away).
_POSIX = os.name == "posix"
#: The unit of a start time (Linux's /proc counts in it too).
_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if _POSIX else 100
#: Linux names each boot; elsewhere the boot's time stands for it.
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@dataclass(frozen=True)
class Proc:
    name: str
    pid: int
    log: Path


def _require_posix() -> None:
    if not _POSIX:
        raise ConfigError(
            "userstream runs its local processes in POSIX sessions and process groups, "
            "which this system does not have.",
            hint="Run the local runtime on Linux or macOS (or `docker compose up`).",
        )


@functools.cache
def _boot_id() -> str:
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return f"boot-{psutil.boot_time():.0f}"


def identity(pid: int) -> str | None:
    """``"<start time> <boot id>"`` of process ``pid``; None when there is no such process.

    Two processes never share it, even when one reuses the other's pid. On Linux the start
    time counts clock ticks from the boot, as /proc does, so setting the clock does not
    change it; elsewhere it follows the wall clock, and a clock step makes pid files stale
    (``down`` then stops nothing: stop the processes by hand).
    """
    _require_posix()
    try:
        started = psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    ticks = round((started - psutil.boot_time()) * _TICKS_PER_S)
    return f"{ticks} {_boot_id()}"


def _alive(pid: int) -> bool:
    """True while ``pid`` runs: a zombie (exited, not yet reaped) does not."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def alive(pid: int, marker: str | None = None) -> bool:
    """True when ``pid`` runs (a zombie does not) and its command line holds ``marker``.

    Says what kind of process a verified pid is (e.g. the stream's supervisor); it is not
    an identity: use ``same`` for that.
    """
    return _alive(pid) and (not marker or marker in _cmdline(pid))


def same(pid: int, recorded: str | None) -> bool:
    """True when ``pid`` runs and is the process whose ``identity`` was ``recorded``."""
    return recorded is not None and identity(pid) == recorded and _alive(pid)


def _cmdline(pid: int) -> str:
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return ""


def children() -> list[int]:
    """This process's running children (zombies left out)."""
    found = []
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            if child.status() != psutil.STATUS_ZOMBIE:
                found.append(child.pid)
    return found


def _owner(paths: StatePaths, name: str) -> str:
    return f"{name} in {paths.root.resolve()}"


def write_pid_file(paths: StatePaths, name: str, pid: int) -> None:
    """Record ``pid`` as this state folder's process ``name`` (for ``running``, ``stop``)."""
    recorded = identity(pid)
    if recorded is None:
        raise TransientError(f"Process {pid} ({name}) exited before it could be recorded.")
    ensure_root(paths)
    paths.run.mkdir(exist_ok=True, mode=0o700)
    write_private(paths.pid_file(name), f"{pid} {recorded}\n{_owner(paths, name)}\n")


def _read_pid_file(paths: StatePaths, name: str) -> tuple[int, str | None, str] | None:
    try:
        first, _, rest = paths.pid_file(name).read_text().partition("\n")
        pid, _, recorded = first.strip().partition(" ")
        return int(pid), recorded or None, rest.strip()
    except (OSError, ValueError):
        return None


def running(paths: StatePaths, name: str) -> Proc | None:
    """The process named ``name`` when it runs and is the one its pid file recorded, else None."""
    record = _read_pid_file(paths, name)
    if record is None:
        return None
    pid, recorded, owner = record
    _require_posix()
    if recorded is None:
        # An older release's pid file: ``owner`` is a word of the process's command line.
        ours = bool(owner) and alive(pid, owner)
    else:
        ours = owner == _owner(paths, name) and same(pid, recorded)
    return Proc(name, pid, paths.log_file(name)) if ours else None


def group_in_use(paths: StatePaths, single: str, group: Sequence[str]) -> bool:
    """Whether a local part that runs either as the process ``single`` or as the processes
    ``group`` (a cluster) is the group: one of them runs; else ``single`` does not run and a
    pid file of the group is left (the group was up and died: `stack up` starts it again;
    `down` removes the files)."""
    if any(running(paths, name) for name in group):
        return True
    if running(paths, single) is not None:
        return False
    return any(paths.pid_file(name).exists() for name in group)


def spawn(
    cmd: Sequence[str],
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    pass_fds: Sequence[int] = (),
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in a session of its own with umask 077, output appended to ``log``
    after a ``START_MARK`` line (so ``tail`` quotes only what this start wrote)."""
    _require_posix()
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        os.write(out, f"{START_MARK} {Path(cmd[0]).name} at {started}\n".encode())
        return subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
            pass_fds=tuple(pass_fds),
            umask=PRIVATE_UMASK,
        )
    finally:
        os.close(out)


def start(
    paths: StatePaths,
    name: str,
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Proc:
    """Start ``cmd`` detached (``spawn``) as ``name``: log ``logs/<name>.log``, pid file.
    What a dead earlier ``name`` left of its group is ended first (``end_orphans``)."""
    ensure_root(paths)
    for folder in (paths.run, paths.logs):
        folder.mkdir(exist_ok=True, mode=0o700)
    end_orphans(paths, name)
    log = paths.log_file(name)
    child = spawn(cmd, log=log, env=env, cwd=cwd)
    write_pid_file(paths, name, child.pid)
    return Proc(name, child.pid, log)


def start_until(
    paths: StatePaths,
    name: str,
    cmd: Sequence[str],
    ready: Callable[[], bool],
    *,
    what: str,
    hint: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> Proc:
    """``start`` ``cmd`` as ``name`` and wait until ``ready()`` is true.

    When the process exits first, or ``timeout`` passes, it is stopped again and a
    ``TransientError`` says that ``what`` did not start, quoting the process's own last lines.
    """
    proc = start(paths, name, cmd, env=env)
    deadline = time.monotonic() + timeout
    while not ready():
        if running(paths, name) is None or time.monotonic() > deadline:
            stop(paths, name)
            raise TransientError(
                f"{what} did not start: {tail(proc.log, 5)}", hint=hint, log=proc.log
            )
        time.sleep(0.3)
    return proc


def end_orphans(paths: StatePaths, name: str, *, grace: float = 2.0) -> list[int]:
    """End what a process ``name`` that died (SIGKILLed, OOM-killed, a crash of the machine's
    processes) left of its group: its children, e.g. Airflow's LocalExecutor workers of a
    killed scheduler, which would otherwise run on beside the next start. The pids ended.

    Only when its pid file is this state folder's and its leader no longer runs: the group
    then keeps the leader's pid as its id, which no new process can take while the group has
    members, and only members started after the leader (in this boot) are ended. SIGTERM,
    then SIGKILL after ``grace`` s.
    """
    record = _read_pid_file(paths, name)
    if record is None or record[1] is None or record[2] != _owner(paths, name):
        return []
    pgid, recorded = record[0], str(record[1])
    ticks, _, boot = recorded.partition(" ")
    if boot != _boot_id() or _alive(pgid):
        return []
    members = []
    for candidate in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(candidate.pid) != pgid or candidate.pid == os.getpid():
                continue
            started = identity(candidate.pid)
            if started is not None and int(started.split()[0]) >= int(ticks):
                members.append(candidate.pid)
    if members:
        log.warning("orphans_ended name=%s group=%d pids=%s", name, pgid, members)
        end_group(pgid, grace=grace)
    return members


def stop_all(paths: StatePaths, names: Sequence[str], *, timeout: float = 30.0) -> list[str]:
    """``stop`` each of ``names`` at once (the nodes of a cluster: one by one, the last
    would wait out the timeout for peers that had already left); the names that ran."""
    if not names:
        return []
    with ThreadPoolExecutor(len(names)) as pool:
        done = list(pool.map(lambda name: stop(paths, name, timeout=timeout), names))
    return [name for name, was in zip(names, done, strict=True) if was]


def stop(paths: StatePaths, name: str, *, timeout: float = 30.0, leader_only: bool = False) -> bool:
    """Stop the process ``name`` and its group; True when it was running.

    SIGTERM goes to the whole group, or with ``leader_only`` to the leader alone (one that
    stops its own children, like the stream's supervisor); SIGKILL to the group when the
    leader still runs after ``timeout`` s. What is left of the group then is ended too
    (``end_group``). A stale pid file is removed and nothing is signalled.
    """
    proc = running(paths, name)
    if proc is None:
        end_orphans(paths, name)
        paths.pid_file(name).unlink(missing_ok=True)
        return False
    if leader_only:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
    else:
        _signal_group(proc.pid, signal.SIGTERM)
    if not _wait_dead(proc.pid, timeout):
        log.warning("stop_timeout name=%s pid=%d timeout_s=%g (killing)", name, proc.pid, timeout)
        _kill_leader(proc)
    end_group(proc.pid)
    paths.pid_file(name).unlink(missing_ok=True)
    return True


def kill(paths: StatePaths, name: str) -> bool:
    """SIGKILL the process ``name`` and its group at once (fault tests, failed starts).

    True when it was running; returns once the whole group is gone.
    """
    proc = running(paths, name)
    if proc is None:
        return False
    _kill_leader(proc)
    end_group(proc.pid, grace=0.0)
    paths.pid_file(name).unlink(missing_ok=True)
    return True


def end_group(pgid: int, *, grace: float = 5.0) -> None:
    """End what is left of process group ``pgid`` once its leader has exited.

    SIGTERM, then SIGKILL after ``grace`` s; returns when the group is empty (or after a
    bound). Only for a group whose leader was just verified: a group's id stays taken
    while it has members, so no other process can own it meanwhile.
    """
    kill_at = time.monotonic() + grace
    deadline = kill_at + 10.0
    sig: int = signal.SIGTERM
    while time.monotonic() < deadline:
        _reap(pgid)  # a zombie leader keeps the group alive
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return
        sig = signal.SIGKILL if time.monotonic() >= kill_at else 0  # 0: is it still there?
        time.sleep(0.1)


def _kill_leader(proc: Proc) -> None:
    _signal_group(proc.pid, signal.SIGKILL)
    if not _wait_dead(proc.pid, 10.0):
        raise TerminalError(f"Process {proc.pid} ({proc.name}) did not exit after SIGKILL.")


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the group ``pid`` leads, or ``pid`` alone when it leads none (``stream run``)."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _wait_dead(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` s for ``pid`` to exit (reaping our own child); True when it did."""
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.1)
    _reap(pid)
    return not _alive(pid)


def _reap(pid: int) -> None:
    """Collect the exit status when the process is our own child, so no zombie is left."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


#: The line ``spawn`` writes into a log before the process starts.
START_MARK = "==== userstream: started"


def tail(log: Path, lines: int = 20) -> str:
    """The last lines of a log file that its latest start wrote, for error messages: what
    an earlier run of the process (or another process) left in the log is never quoted."""
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    starts = [i for i, line in enumerate(text) if line.startswith(START_MARK)]
    if starts:
        mark, text = text[starts[-1]], text[starts[-1] + 1 :]
        if not text:
            return f"(nothing written since the line {mark!r})"
    return "\n".join(text[-lines:])


#: While a component starts, ``up`` says how long it has waited and its log's last line
#: this often.
TICK_S = 10.0


def with_ticks(
    start: Callable[[], T],
    label: str,
    log_file: Path,
    progress: Callable[[str], None],
    *,
    detail: Callable[[], str] | None = None,
) -> T:
    """Run ``start`` and, every ``TICK_S`` until it returns, tell ``progress`` how long it
    has taken and ``detail()`` (default: the last line its process wrote to ``log_file``):
    a first start of Cassandra takes a minute or more, and the user sees it move.
    ``start``'s result or exception, unchanged."""
    done = threading.Event()
    began = time.monotonic()

    def last_line() -> str:
        last = tail(log_file, 1).strip()
        return "" if last.startswith("(nothing") else last[:120]

    def tick() -> None:
        while not done.wait(TICK_S):
            said = (detail or last_line)()
            said = f": {said}" if said else ""
            progress(f"{label}: still starting, {time.monotonic() - began:.0f}s{said}")

    ticker = threading.Thread(target=tick, name=f"{label}-ticks", daemon=True)
    ticker.start()
    try:
        return start()
    finally:
        done.set()
        ticker.join()
