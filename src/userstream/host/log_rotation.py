"""Every log of the state folder bounded by size: ``logs/*.log`` rotated, a bounded number
kept (``housekeeping.log_max_mb``, ``housekeeping.log_files``).

The local runtime's processes write their output to ``logs/<name>.log``, opened for
appending (``process.spawn``): Kafka's and Cassandra's JVMs, the Spark driver, Airflow's
processes, Prometheus and the exporters alike, so one keeper bounds them all. A file over
the limit is rotated the way logrotate's ``copytruncate`` does it: its content is copied to
``<name>.log.1`` (older copies move to ``.2`` … and the last is deleted), then the file is
truncated in place. The process keeps its descriptor and, appending, starts the file anew
with its next line; nothing is restarted. A line written between the end of the copy and
the truncation (microseconds) is lost: copytruncate's known cost. When the disk is too full
for the copy, the file is truncated anyway, to give the space back.

The housekeeper (``stack.housekeeper``) calls :func:`rotate_all` every few seconds.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

_COPY_CHUNK = 1 << 20
#: How far back from a copy's end its last line break is looked for.
_TAIL = 1 << 16


def rotate(path: Path, keep: int) -> bool:
    """Rotate ``path`` now (copy to ``.1``, truncate); ``keep`` copies at most. False when
    there was nothing to rotate."""
    try:
        source = open(path, "rb")  # noqa: SIM115 - closed below, after the truncation
    except FileNotFoundError:
        return False
    with source:
        if os.fstat(source.fileno()).st_size == 0:
            return False
        try:
            _shift(path, keep)
            if keep > 0:
                _copy_to_end(source, path.with_name(f"{path.name}.1"))
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            path.with_name(f"{path.name}.1").unlink(missing_ok=True)
            log.warning("log_truncated_without_copy file=%s error=disk full", path)
        os.truncate(path, 0)
    return True


def _shift(path: Path, keep: int) -> None:
    """``.keep`` deleted, then ``.n`` → ``.n+1`` from the oldest down."""
    if keep > 0:
        path.with_name(f"{path.name}.{keep}").unlink(missing_ok=True)
    for n in range(keep - 1, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists():
            older.replace(path.with_name(f"{path.name}.{n + 1}"))


def _copy_to_end(source: BinaryIO, target: Path) -> None:
    """Copy ``source`` to ``target`` until a read finds its end, lines the writer appends
    meanwhile included, so the truncation follows the last read closely. The copy ends
    with a whole line: a read can meet a line the writer is still appending (its write
    crossing a page), and that line's end is lost with the truncation anyway."""
    fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w+b") as out:
        shutil.copyfileobj(source, out, _COPY_CHUNK)
        end = out.tell()
        out.seek(max(0, end - _TAIL))
        tail = out.read()
        cut = tail.rfind(b"\n")
        if cut >= 0 and cut < len(tail) - 1:
            out.truncate(end - len(tail) + cut + 1)


def rotate_all(logs: Path, max_bytes: int, keep: int) -> list[Path]:
    """Rotate each ``logs/*.log`` larger than ``max_bytes``; the files rotated."""
    rotated = []
    for path in sorted(logs.glob("*.log")):
        try:
            big = path.stat().st_size > max_bytes
        except FileNotFoundError:
            continue
        if big and rotate(path, keep):
            rotated.append(path)
    return rotated
