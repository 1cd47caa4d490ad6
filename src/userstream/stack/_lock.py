"""One start or stop of a component at a time, across processes sharing a state folder."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

from userstream.config import StatePaths


@contextmanager
def component_lock(paths: StatePaths, name: str) -> Iterator[None]:
    """Hold ``<state>/run/<name>.lock`` (blocking): two `stack up` never start two servers."""
    paths.run.mkdir(parents=True, exist_ok=True)
    with (paths.run / f"{name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
