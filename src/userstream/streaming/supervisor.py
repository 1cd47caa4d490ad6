"""Keeps the stream's driver running: ``python -m userstream.streaming.supervisor --settings F``.

``control.start`` runs this detached (its pid is the stream's pid file); it runs the driver
(``python -m userstream.streaming.job``) as its child and restarts it whenever it exits
without being asked to — SIGKILL, a crash, the driver giving up after repeated failures:
at once the first time, then after 1, 2, 4, 8, 15, 15 … s, back to "at once" after the
driver has been running its query for ``HEALTHY_RUN_S``. It never gives up: a streaming
service heals itself, and ``status`` says it is unhealthy meanwhile.

SIGTERM/SIGINT are forwarded to the driver, which finishes its micro-batch and stops;
the supervisor waits for it and exits. The driver stays in the supervisor's process
group, so ``control.stop``/``kill`` reach both, and it gets ``PR_SET_PDEATHSIG=SIGTERM``
(Linux), so a supervisor killed with SIGKILL leaves no driver running unsupervised.

Two drivers never share a checkpoint: the supervisor holds an exclusive ``flock`` on
``<state>/run/checkpoint-<hash>.lock`` and passes the descriptor to its driver, so the
lock lives while either lives (``control.run`` and ``control.drain`` take it as well).
A driver's orphans (its JVM, when the driver was killed) are re-parented to the
supervisor (``PR_SET_CHILD_SUBREAPER``) and waited for before the next driver starts.

State for ``status``: ``<state>/results/<job_name>_supervisor.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime as dt
import fcntl
import hashlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from userstream.config import Settings
from userstream.errors import UserstreamError
from userstream.files import write_json
from userstream.host import process
from userstream.streaming import progress_file
from userstream.streaming.health import iso

log = logging.getLogger(__name__)

DRIVER_MODULE = "userstream.streaming.job"
MODULE = "userstream.streaming.supervisor"
#: Running its query this long makes the driver's next restart immediate again.
HEALTHY_RUN_S = 60.0
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 15.0
#: How long a stop waits for the driver (its micro-batch, then the query) before SIGKILL.
STOP_WAIT_S = 120.0
#: How long a driver's orphans (its JVM) get to exit before they are killed.
ORPHAN_WAIT_S = 30.0
#: How long a starting supervisor waits for a previous driver to release the checkpoint.
LOCK_WAIT_S = 120.0
POLL_S = 0.25

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def state_file(settings: Settings) -> Path:
    return settings.paths.results / f"{settings.spark.job_name}_supervisor.json"


def read_state(settings: Settings) -> dict[str, Any] | None:
    """The supervisor's last state (pid, driver_pid, restarts, last_exit …), or None."""
    return progress_file.read_json(state_file(settings))


def command(settings_path: Path) -> list[str]:
    """The supervisor's command line for a settings file of ``driver_settings.dump_settings``."""
    return [sys.executable, "-m", MODULE, "--settings", str(settings_path)]


def driver_command(settings_path: Path) -> list[str]:
    return [sys.executable, "-m", DRIVER_MODULE, "--settings", str(settings_path)]


class Backoff:
    """Restart delays: 0 the first time, then ``first_s`` doubling up to ``max_s``."""

    def __init__(self, first_s: float = BACKOFF_FIRST_S, max_s: float = BACKOFF_MAX_S) -> None:
        self.first_s = first_s
        self.max_s = max_s
        self.failures = 0

    def next_delay(self) -> float:
        delay = 0.0 if self.failures == 0 else self.first_s * 2.0 ** (self.failures - 1)
        self.failures += 1
        return min(self.max_s, delay)

    def reset(self) -> None:
        self.failures = 0


# --- the checkpoint lock ------------------------------------------------------------------


def lock_file(settings: Settings) -> Path:
    """One lock per checkpoint, whatever job name uses it (a local folder by its resolved
    path, a remote one by its URI: drivers sharing a remote checkpoint share this machine)."""
    local = settings.checkpoint_is_local()
    checkpoint = (
        str(settings.checkpoint_dir().resolve()) if local else settings.checkpoint_location()
    )
    digest = hashlib.sha256(checkpoint.encode()).hexdigest()[:16]
    return settings.paths.run / f"checkpoint-{digest}.lock"


def _holder(path: Path) -> str:
    with contextlib.suppress(OSError):
        return path.read_text().strip() or "unknown"
    return "unknown"


@contextlib.contextmanager
def checkpoint_lock(settings: Settings, *, wait_s: float = 0.0) -> Iterator[int]:
    """Hold the checkpoint's exclusive lock; yield its descriptor (to pass to a driver).

    Waits up to ``wait_s`` for a previous holder to let go; raises ``UserstreamError``
    naming the holder otherwise. A child given the descriptor keeps the lock alive after
    this block ends, until it exits too.
    """
    path = lock_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait_s
        waiting_logged = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise UserstreamError(
                        f"Another driver is using the checkpoint {settings.checkpoint_location()} "
                        f"({_holder(path)}).",
                        hint="Stop it first (`userstream stream stop`); two drivers on one "
                        "checkpoint would corrupt it.",
                    ) from None
                if not waiting_logged:
                    log.info("waiting_for_checkpoint_lock holder=%r", _holder(path))
                    waiting_logged = True
                time.sleep(POLL_S)
        os.ftruncate(fd, 0)
        os.pwrite(
            fd, f"pid {os.getpid()}, checkpoint {settings.checkpoint_location()}\n".encode(), 0
        )
        yield fd
    finally:
        os.close(fd)


# --- Linux process ties ----------------------------------------------------------------------


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    fn = getattr(libc, "prctl", None)
    return fn if callable(fn) else None


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when this process dies (Linux)."""
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _become_subreaper() -> bool:
    prctl = _prctl()
    return prctl is not None and prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def _reap_orphans(timeout: float) -> None:
    """Wait for every remaining child to exit (SIGKILL after ``timeout``), reaping them."""
    deadline = time.monotonic() + timeout
    killed = False
    while True:
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            return  # no child left
        # Our children other than the driver: a killed driver's JVM, re-parented to us.
        left = process.children()
        if not left:
            return
        if time.monotonic() >= deadline and not killed:
            log.warning("driver_orphans_killed pids=%s", ",".join(map(str, left)))
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            killed = True
        time.sleep(POLL_S)


def _describe(code: int) -> dict[str, Any]:
    """Popen's returncode as {code, signal}: a negative code is the signal that ended it."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return {"code": None, "signal": signal.Signals(-code).name}
        return {"code": None, "signal": str(-code)}
    return {"code": code, "signal": None}


def _driver_is_running(settings: Settings) -> Callable[[int], bool]:
    """Whether the driver ``pid`` reports its query running (in its progress file)."""

    def probe(pid: int) -> bool:
        state = progress_file.read(settings) or {}
        return state.get("pid") == pid and state.get("state") == "running"

    return probe


class Supervisor:
    """Runs ``command`` as a child and restarts it until asked to stop.

    ``healthy(pid)`` says whether the child is doing its job; once it has been for
    ``healthy_run_s``, the backoff starts over. ``run(max_restarts=…)`` bounds a run for
    tests. State goes to ``state_path`` (JSON, atomic) on every change. ``reap_orphans``:
    this process is a subreaper, so the next child starts only once the previous one's
    children are gone too.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        state_path: Path,
        job: str = "stream",
        healthy: Callable[[int], bool] = lambda pid: True,
        healthy_run_s: float = HEALTHY_RUN_S,
        backoff: Backoff | None = None,
        pass_fds: Sequence[int] = (),
        stop_wait_s: float = STOP_WAIT_S,
        reap_orphans: bool = False,
    ) -> None:
        self.command = list(command)
        self.state_path = state_path
        self.healthy = healthy
        self.healthy_run_s = healthy_run_s
        self.backoff = backoff or Backoff()
        self.pass_fds = tuple(pass_fds)
        self.stop_wait_s = stop_wait_s
        # Only for a subreaper: every child but the driver is then a driver's orphan.
        self.reap_orphans = reap_orphans
        self.stop_requested = False
        self.child: subprocess.Popen[bytes] | None = None
        self.state: dict[str, Any] = {
            "job": job,
            "pid": os.getpid(),
            "state": "starting",
            "started_at": progress_file.now_iso(),
            "driver_pid": None,
            "driver_identity": None,
            "driver_started_at": None,
            "restarts": 0,
            "last_exit": None,
            "next_restart_at": None,
        }

    # Signals only set a flag; the loop acts on it between polls.
    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if not self.stop_requested:
            log.info("supervisor_stop_requested signal=%s", signal.Signals(signum).name)
        self.stop_requested = True

    def install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _publish(self, **changes: Any) -> None:
        self.state.update(changes, updated_at=progress_file.now_iso())
        write_json(self.state_path, self.state, indent=2, durable=False)

    def _spawn(self) -> subprocess.Popen[bytes]:
        child = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            pass_fds=self.pass_fds,
            # preexec_fn is safe here: the supervisor runs one thread.
            preexec_fn=_die_with_parent(),
        )
        self._publish(
            state="running",
            driver_pid=child.pid,
            # So a pid reused after the driver is gone is never taken for it.
            driver_identity=process.identity(child.pid),
            driver_started_at=progress_file.now_iso(),
            next_restart_at=None,
        )
        log.info("driver_started pid=%d restarts=%d", child.pid, self.state["restarts"])
        return child

    def _watch(self, child: subprocess.Popen[bytes]) -> int | None:
        """Wait for the child to exit; None when a stop request ended it instead."""
        started = time.monotonic()
        healthy_since: float | None = None
        while True:
            try:
                return self._exited(child.wait(timeout=POLL_S), started)
            except subprocess.TimeoutExpired:
                pass
            if self.stop_requested:
                self._stop_child(child)
                return None
            if self.healthy(child.pid):
                healthy_since = healthy_since or time.monotonic()
                if time.monotonic() - healthy_since >= self.healthy_run_s:
                    self.backoff.reset()
            else:
                healthy_since = None

    def _exited(self, code: int, started: float) -> int:
        if self.stop_requested:
            return code
        ran_s = round(time.monotonic() - started, 1)
        last_exit = {**_describe(code), "at": progress_file.now_iso(), "ran_s": ran_s}
        self._publish(driver_pid=None, driver_identity=None, last_exit=last_exit)
        return code

    def _stop_child(self, child: subprocess.Popen[bytes]) -> None:
        self._publish(state="stopping")
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=self.stop_wait_s)
        except subprocess.TimeoutExpired:
            log.warning("driver_stop_timeout pid=%d timeout_s=%g (killing)", child.pid,
                        self.stop_wait_s)  # fmt: skip
            child.kill()
            child.wait()

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.stop_requested and time.monotonic() < end:
            time.sleep(min(POLL_S, max(0.0, end - time.monotonic())))

    def run(self, *, max_restarts: int | None = None) -> int:
        """Supervise until asked to stop (or after ``max_restarts``); return the exit code."""
        try:
            while not self.stop_requested:
                self.child = self._spawn()
                code = self._watch(self.child)
                if self.reap_orphans:
                    _reap_orphans(ORPHAN_WAIT_S)
                if code is None or self.stop_requested:
                    break
                if max_restarts is not None and self.state["restarts"] >= max_restarts:
                    return 0
                delay = self.backoff.next_delay()
                how = self.state["last_exit"]
                restart_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay)
                log.warning(
                    "driver_exited code=%s signal=%s ran_s=%s restarts=%d restarting_in_s=%g",
                    how["code"],
                    how["signal"],
                    how["ran_s"],
                    self.state["restarts"],
                    delay,
                )
                self._publish(
                    state="restarting",
                    restarts=self.state["restarts"] + 1,
                    next_restart_at=iso(restart_at),
                )
                self._sleep(delay)
            return 0
        finally:
            self._publish(
                state="stopped", driver_pid=None, driver_identity=None, next_restart_at=None
            )
            log.info("supervisor_stopped restarts=%d", self.state["restarts"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}")
    parser.add_argument("--settings", type=Path, required=True, help="JSON from dump_settings")
    args = parser.parse_args(argv)
    from userstream import logs

    logs.setup(logging.INFO)
    settings = Settings.model_validate_json(args.settings.read_text())
    supervisor = Supervisor(
        driver_command(args.settings),
        state_path=state_file(settings),
        job=settings.spark.job_name,
        healthy=_driver_is_running(settings),
        reap_orphans=_become_subreaper(),
    )
    try:
        # SIGTERM while waiting for the lock ends this process at once: nothing to clean up.
        with checkpoint_lock(settings, wait_s=LOCK_WAIT_S) as fd:
            supervisor.install_signals()
            supervisor.pass_fds = (fd,)
            return supervisor.run()
    except UserstreamError as exc:
        log.error("supervisor_exit error=%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
