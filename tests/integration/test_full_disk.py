"""A full disk (issue 28): the state folder on a small filesystem of its own (a size-capped
tmpfs, which only root can mount: CI runs as root), filled while users flow. Nothing
acknowledged is lost or corrupted; `status` says the disk is full and which parts fail; once
space is freed, what the supervision does not heal by itself comes back by the documented
`userstream up` (here its two steps for these parts: the stack, then the stream), and every
user acknowledged meanwhile is stored exactly once."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import private_settings
from tests.integration.conftest_stream import Arrivals, isolated, wait_until
from userstream.config import Settings
from userstream.stack.local import DISK_PART, stack_down, stack_status, stack_up
from userstream.store import session
from userstream.streaming import control

pytestmark = [pytest.mark.integration, pytest.mark.faults]

RATE = 200  # users a second
#: The filesystem: room for the parts and their first minutes, small enough to fill at once.
SIZE_MB = 1536
FILLER_CHUNK = b"\0" * (1 << 20)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root (CI runs as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m,mode=0700", "tmpfs",
                    str(mount)], check=True)  # fmt: skip
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=False)


@pytest.fixture
def stack_on_it(small_disk: Path, unique: str) -> Iterator[Settings]:
    """A private Kafka and Cassandra with their state on ``small_disk``, and this test's topic
    and tables. Nothing is cleaned up but the processes: the filesystem goes with the test."""
    from userstream.kafka.topics import ensure_topics
    from userstream.store.schema import apply_schema

    stack = private_settings(small_disk / "state")
    settings = isolated(stack, unique)
    try:
        stack_up(stack, progress=lambda _line: None)
        ensure_topics(settings.kafka)
        apply_schema(settings)
        yield settings
    finally:
        with contextlib.suppress(Exception):
            control.kill(settings)
        stack_down(stack, progress=lambda _line: None)


def _fill(folder: Path) -> Path:
    """Write a file into ``folder`` until the filesystem refuses another byte."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(FILLER_CHUNK)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    with contextlib.suppress(OSError), filler.open("ab", buffering=0) as out:
        while True:  # the last bytes, below a chunk
            out.write(b"\0" * 4096)
    return filler


def _ids(settings: Settings, query: str) -> set[str]:
    with session(settings, keyspace=settings.cassandra.keyspace) as cql:
        return {str(row[0]) for row in cql.execute(query, timeout=60)}


def _stored(settings: Settings) -> set[str]:
    try:
        return _ids(settings, "SELECT id FROM user_profiles")
    except Exception:  # Cassandra may be the part the full disk stopped
        return set()


def test_a_full_disk_loses_nothing_acknowledged_and_up_recovers(
    stack_on_it: Settings, unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = stack_on_it
    control.start(settings)
    with Arrivals(settings, seed=unique, rate=RATE) as arrivals:
        wait_until("users stored before the disk fills", lambda: len(_stored(settings)) > 300)
        before = _stored(settings)
        filler = _fill(settings.paths.root)
        filled = time.monotonic()

        def disk_line() -> tuple[bool, str, list[str]]:
            parts = stack_status(settings)
            disk = next(p for p in parts if p.name == DISK_PART)
            return disk.healthy, disk.detail, [p.name for p in parts if not p.healthy]

        wait_until("status to name a part the full disk stopped",
                   lambda: "failing now:" in disk_line()[1])  # fmt: skip
        healthy, said, failing = disk_line()
        assert not healthy
        assert said.startswith("only ") and "free" in said, said
        assert all(name in said for name in failing if name != DISK_PART), (said, failing)
        failed_after = time.monotonic() - filled
        time.sleep(20)  # users keep arriving at a broken pipeline (the producer retries)

        filler.unlink()
        freed = time.monotonic()
        stack_up(settings, progress=lambda _line: None)  # what `userstream up` does for them
        control.start(settings)
        wait_until("users stored again", lambda: len(_stored(settings) - before) > 0)
        with capsys.disabled():
            print(f"\n[full disk] failing {failed_after:.0f}s after the disk filled: {failing}; "
                  f"new rows {time.monotonic() - freed:.0f}s after space was freed")  # fmt: skip
    sent = set(arrivals.sent)
    assert before <= sent
    wait_until("every acknowledged user stored", lambda: sent <= _stored(settings))
    stored = _stored(settings)
    assert before <= stored  # nothing stored before the disk filled was lost
    # Nothing but what was produced: acknowledged, or appended before its ack was lost.
    assert stored <= sent | {key for key, _ in arrivals.errors}
    rejected = _ids(settings, "SELECT raw_key FROM user_profiles_rejects")
    assert not rejected & sent
