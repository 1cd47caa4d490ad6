"""userstream_maintenance: Airflow's task logs and XCom files kept bounded (hourly).

prune_task_logs and prune_xcom_files each call ``userstream.orchestration.maintenance``:
files older than ``USERSTREAM_HOUSEKEEPING__AIRFLOW_RETENTION_DAYS`` (7) are deleted.
Unpaused at creation: it is housekeeping, not a pipeline to start by hand. The paths are
Airflow's own settings, so it prunes the same wherever this DAG runs. (The run history in
Airflow's database is cleaned by ``airflow db clean`` outside Airflow: Airflow 3 gives tasks
no database access. The local runtime's housekeeper does it; docs/operations.md says how
elsewhere.)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.configuration import conf
from airflow.sdk import dag, task

from userstream.config import load_settings
from userstream.orchestration import maintenance
from userstream.orchestration import tasks as steps


def _before() -> datetime:
    return maintenance.cutoff(load_settings().housekeeping.airflow_retention_days)


@dag(
    dag_id="userstream_maintenance",
    description="Delete Airflow's task logs and XCom files past the retention",
    schedule="@hourly",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=False,
    default_args={**steps.DEFAULT_ARGS, "execution_timeout": timedelta(minutes=15)},
    tags=["userstream"],
)
def userstream_maintenance() -> None:
    @task
    def prune_task_logs() -> dict[str, int]:
        folder = conf.get("logging", "base_log_folder")
        return maintenance.prune_files(Path(folder), _before()).as_dict()

    @task
    def prune_xcom_files() -> dict[str, Any]:
        url = conf.get("common.io", "xcom_objectstorage_path", fallback="")
        folder = maintenance.local_folder(url) if url else None
        if folder is None:
            return {"skipped": url or "no XCom files"}
        return maintenance.prune_files(folder, _before()).as_dict()

    prune_task_logs()
    prune_xcom_files()


userstream_maintenance()
