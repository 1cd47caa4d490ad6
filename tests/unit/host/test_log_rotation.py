"""Logs bounded by size: a log over the limit is copied to ``.1`` and truncated in place, a
bounded number of copies kept; the process writing it (appending, as ``process.spawn``
opens it) goes on into the same file from its start, with no hole and nothing reordered."""

from __future__ import annotations

import errno
import sys
import threading
import time
from pathlib import Path

import pytest

from userstream.config import load_settings
from userstream.host import log_rotation, process
from userstream.host.log_rotation import rotate, rotate_all
from userstream.stack import housekeeper


def _logs(tmp_path: Path) -> Path:
    logs = tmp_path / "logs"
    logs.mkdir()
    return logs


def test_a_log_is_copied_to_one_and_truncated_and_older_copies_shift(tmp_path: Path) -> None:
    log = _logs(tmp_path) / "kafka.log"
    for generation in "abcd":
        log.write_text(generation * 10)
        assert rotate(log, keep=2)
    assert log.read_text() == ""
    assert sorted(p.name for p in log.parent.iterdir()) == ["kafka.log", "kafka.log.1",
                                                           "kafka.log.2"]  # fmt: skip
    assert (log.parent / "kafka.log.1").read_text() == "d" * 10
    assert (log.parent / "kafka.log.2").read_text() == "c" * 10


def test_a_line_still_being_written_is_left_out_of_the_copy(tmp_path: Path) -> None:
    # What a copy meets when the writer's last write has reached the file only in part.
    log = tmp_path / "x.log"
    log.write_bytes(b"one\ntwo\nthr")
    assert rotate(log, keep=2)
    assert (tmp_path / "x.log.1").read_bytes() == b"one\ntwo\n"
    assert log.read_bytes() == b""


def test_only_logs_over_the_limit_are_rotated(tmp_path: Path) -> None:
    logs = _logs(tmp_path)
    (logs / "big.log").write_bytes(b"x" * 2048)
    (logs / "small.log").write_bytes(b"x" * 100)
    (logs / "big.log.1").write_bytes(b"x" * 4096)  # a copy is never rotated again
    assert rotate_all(logs, max_bytes=1024, keep=3) == [logs / "big.log"]
    assert (logs / "small.log").stat().st_size == 100
    assert rotate_all(logs, max_bytes=1024, keep=3) == []


def test_with_no_copies_kept_the_log_is_only_truncated(tmp_path: Path) -> None:
    log = _logs(tmp_path) / "a.log"
    log.write_text("x" * 50)
    assert rotate(log, keep=0)
    assert sorted(p.name for p in log.parent.iterdir()) == ["a.log"]


def test_a_disk_too_full_for_the_copy_still_gets_its_space_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _logs(tmp_path) / "a.log"
    log.write_text("x" * 50)

    def full(source: object, target: Path) -> None:
        target.write_text("partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(log_rotation, "_copy_to_end", full)
    assert rotate(log, keep=2)
    assert log.read_text() == ""
    assert not (log.parent / "a.log.1").exists()


WRITER = """
import sys, time
n = 0
while True:
    n += 1
    sys.stdout.write(f"line {n:08d} " + "y" * 100 + "\\n")
    sys.stdout.flush()
    if n % 50 == 0:
        time.sleep(0.001)
"""


def test_a_process_writing_all_along_keeps_writing_whole_lines_in_order(
    tmp_path: Path,
) -> None:
    """The housekeeper's loop, looking every 50 ms, against a real process writing fast."""
    settings = load_settings(state_dir=tmp_path, housekeeping={"log_max_mb": 1, "log_files": 3})
    paths = settings.paths
    logs = paths.logs
    logs.mkdir(parents=True)
    proc = process.start(paths, "writer", [sys.executable, "-c", WRITER])
    stop = threading.Event()
    keeper = threading.Thread(
        target=housekeeper.run, args=(settings, stop), kwargs={"every_s": 0.05}
    )
    keeper.start()
    try:
        deadline = time.monotonic() + 60
        while not (logs / "writer.log.3").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.stop(paths, "writer")
        stop.set()
        keeper.join()
    assert proc.log == logs / "writer.log"
    assert sorted(p.name for p in logs.iterdir()) == [
        "writer.log", "writer.log.1", "writer.log.2", "writer.log.3"
    ]  # fmt: skip
    numbers = []
    for name in ("writer.log.3", "writer.log.2", "writer.log.1", "writer.log"):
        data = (logs / name).read_bytes()
        assert b"\0" not in data, f"{name} has a hole: the writer did not append"
        for line in data.decode().splitlines():
            if line.startswith("line "):
                assert line.endswith("y" * 100), f"a cut line in {name}: {line[:40]}"
                numbers.append(int(line.split()[1]))
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    # Each copy holds about the limit: the keeper looked often enough to bound it.
    assert max((logs / f"writer.log.{n}").stat().st_size for n in (1, 2, 3)) < 3 * 1024 * 1024
