"""What the maintenance DAG deletes: files older than the retention, folders left empty;
nothing newer, never the folder itself."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from userstream.orchestration.maintenance import cutoff, local_folder, prune_files

NOW = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)


def _file(path: Path, days_old: float, size: int = 10) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    stamp = (NOW - dt.timedelta(days=days_old)).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def test_files_older_than_the_retention_go_and_their_empty_folders_with_them(
    tmp_path: Path,
) -> None:
    logs = tmp_path / "logs"
    old_run = _file(logs / "dag_id=p" / "run_id=old" / "task_id=t" / "attempt=1.log", 9, 100)
    new_run = _file(logs / "dag_id=p" / "run_id=new" / "task_id=t" / "attempt=1.log", 1)
    old_beside_new = _file(new_run.parent / "attempt=0.log", 8, 50)
    pruned = prune_files(logs, cutoff(7, NOW))
    assert (pruned.files, pruned.bytes) == (2, 150)
    assert not old_run.exists() and not old_beside_new.exists()
    assert not (logs / "dag_id=p" / "run_id=old").exists()
    assert new_run.exists()
    assert prune_files(logs, cutoff(7, NOW)).files == 0  # again: nothing left to do


def test_the_folder_itself_stays_and_a_missing_one_prunes_nothing(tmp_path: Path) -> None:
    _file(tmp_path / "xcom" / "a", 30)
    assert prune_files(tmp_path / "xcom", cutoff(7, NOW)).files == 1
    assert (tmp_path / "xcom").is_dir()
    assert prune_files(tmp_path / "absent", cutoff(7, NOW)).files == 0


def test_only_a_local_xcom_location_is_pruned_here() -> None:
    assert local_folder("file:///srv/airflow/xcom") == Path("/srv/airflow/xcom")
    assert local_folder("/srv/airflow/xcom") == Path("/srv/airflow/xcom")
    assert local_folder("s3://bucket/xcom") is None
