"""The state folder is 0700 and what is written into it private, from the first write."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from userstream.config import StatePaths
from userstream.host import process
from userstream.host.locks import component_lock
from userstream.host.state import ensure_layout


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    """The usual umask (022), so only our own doing can make anything private."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


@pytest.fixture
def paths(tmp_path: Path) -> StatePaths:
    return StatePaths(tmp_path / "state")


def test_a_started_process_writes_private_files_into_a_0700_state_folder(
    paths: StatePaths,
) -> None:
    made = paths.root / "data" / "made"
    script = f'mkdir -p "{made}/sub" && echo x > "{made}/sub/file" && echo done; exec sleep 300'
    with component_lock(paths, "writer"):
        proc = process.start(paths, "writer", ["sh", "-c", script])
    try:
        deadline = time.monotonic() + 20
        while "done" not in process.tail(proc.log):
            assert time.monotonic() < deadline, process.tail(proc.log)
            time.sleep(0.05)
        umask = Path(f"/proc/{proc.pid}/status").read_text().split("Umask:")[1].split()[0]
        assert umask == "0077"
        assert mode(paths.root) == 0o700
        for folder in (paths.run, paths.logs, made, made / "sub"):
            assert mode(folder) == 0o700, folder
        for file in (
            made / "sub" / "file",
            paths.pid_file("writer"),
            paths.log_file("writer"),
            paths.run / "writer.lock",
        ):
            assert mode(file) == 0o600, file
    finally:
        process.stop(paths, "writer", timeout=10)


def test_an_open_state_folder_of_an_older_release_is_tightened(paths: StatePaths) -> None:
    paths.root.mkdir(parents=True, mode=0o755)
    os.chmod(paths.root, 0o755)
    ensure_layout(paths)  # what `stack up` does first
    assert mode(paths.root) == 0o700
    assert mode(paths.root / "VERSION") == 0o600
    os.chmod(paths.root, 0o755)
    with component_lock(paths, "airflow"):  # what every other start does first
        assert mode(paths.root) == 0o700
