"""stop_stream: stop the Spark stream cleanly (manual only).

The stream commits its Kafka offsets in its checkpoint, so stopping it loses nothing: the
next ``streaming_pipeline`` run (or ``userstream stream start``) resumes where it stopped.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task

from userstream.config import load_settings
from userstream.orchestration import tasks as steps


@dag(
    dag_id="stop_stream",
    description="Stop the Spark stream gracefully",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={**steps.DEFAULT_ARGS, "retry_delay": timedelta(seconds=10)},
    tags=["userstream"],
)
def stop_stream() -> None:
    @task(execution_timeout=timedelta(minutes=3))
    def stop() -> dict[str, Any]:
        return steps.stop_stream(load_settings())

    stop()


stop_stream()
