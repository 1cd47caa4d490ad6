"""Waiting, with a bound, for a server we started to answer its protocol."""

from __future__ import annotations

import time
from collections.abc import Callable

from userstream.config import StatePaths
from userstream.errors import TerminalError, TransientError
from userstream.host import process


def _still_alive(paths: StatePaths, name: str) -> bool:
    """True while the pid in the pid file lives: /proc/<pid>/cmdline can read empty for a
    moment (exec, exit), which must not be taken for a death before the log is complete."""
    try:
        pid = int(paths.pid_file(name).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    return process.alive(pid)


def died_error(paths: StatePaths, name: str, label: str) -> TerminalError:
    log = paths.log_file(name)
    return TerminalError(
        f"{label} exited while starting.",
        hint=f"The last lines of its log:\n{process.tail(log, 25)}\n"
        "Fix the cause shown there, then run `userstream stack up` again.",
        log=log,
    )


def wait_ready(
    paths: StatePaths,
    name: str,
    label: str,
    check: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 1.0,
) -> float:
    """Call ``check`` until it returns True; return the seconds it took.

    Raises ``TerminalError`` (with the log's tail) as soon as the process is gone, and
    ``TransientError`` when ``timeout`` passes with the process alive but not answering.
    The caller stops the process on either.
    """
    started = time.monotonic()
    while True:
        if process.running(paths, name) is None and not _still_alive(paths, name):
            raise died_error(paths, name, label)
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            log = paths.log_file(name)
            raise TransientError(
                f"{label} did not answer within {timeout:.0f} s, so it was stopped again.",
                hint=f"The last lines of its log:\n{process.tail(log, 15)}\n"
                "The machine may be overloaded; try `userstream stack up` again.",
                log=log,
            )
        time.sleep(interval)
