"""What the ``userstream_maintenance`` DAG does every hour: Airflow's task logs (``[logging]
base_log_folder``, the DAG processor's logs below it) and the XCom files of the
object-storage backend (``[common.io] xcom_objectstorage_path``, when it is a local folder)
older than ``housekeeping.airflow_retention_days`` are deleted (:func:`prune_files`).
Idempotent: a retried or overlapping run deletes nothing twice. Airflow's run history in its
database is the housekeeper's (``stack.housekeeper``): Airflow 3 gives tasks no database
access.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pruned:
    files: int
    bytes: int

    def as_dict(self) -> dict[str, int]:
        return {"files": self.files, "bytes": self.bytes}


def cutoff(retention_days: int, now: dt.datetime | None = None) -> dt.datetime:
    """The instant before which history goes (UTC)."""
    return (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=retention_days)


def prune_files(folder: Path, before: dt.datetime) -> Pruned:
    """Delete the files under ``folder`` last written before ``before``, then the folders
    left empty (not ``folder`` itself). A missing folder prunes nothing."""
    limit = before.timestamp()
    files = size = 0
    for top, _dirs, names in os.walk(folder, topdown=False):
        for name in names:
            path = os.path.join(top, name)
            try:
                info = os.lstat(path)
                if info.st_mtime < limit:
                    os.unlink(path)
                    files, size = files + 1, size + info.st_size
            except FileNotFoundError:
                continue  # removed meanwhile: by an overlapping run
        if top != str(folder) and not os.listdir(top):
            try:
                os.rmdir(top)
            except OSError:
                continue  # a task wrote into it meanwhile
    return Pruned(files, size)


def local_folder(url: str) -> Path | None:
    """The folder of a ``file://`` (or plain path) XCom location; None for object storage,
    whose own lifecycle rules bound it."""
    if url.startswith("file://"):
        return Path(url.removeprefix("file://"))
    return Path(url) if url.startswith("/") else None
