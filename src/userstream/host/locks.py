"""One start or stop of a component at a time, across processes sharing a state folder."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from userstream.config import StatePaths
from userstream.host.state import ensure_root


@contextmanager
def component_lock(paths: StatePaths, name: str) -> Iterator[None]:
    """Hold ``<state>/run/<name>.lock`` (blocking): two `stack up` never start two servers.

    Not re-entrant: a process that holds it must not take it again (``flock`` locks each
    open file, so a second open in the same process waits for ever).
    """
    ensure_root(paths)
    paths.run.mkdir(exist_ok=True, mode=0o700)
    fd = os.open(paths.run / f"{name}.lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
