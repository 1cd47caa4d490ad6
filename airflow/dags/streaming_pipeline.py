"""streaming_pipeline: produce one batch of users and prove it landed, cleanly.

check_services → ensure_topics_and_schema → ensure_stream → produce_batch → verify_landed
→ quality_checks. Each task calls one function of ``userstream.orchestration.tasks``;
this file only wires them. Transient failures (a service briefly away) are retried with
exponential backoff; terminal ones (bad data, bad configuration) fail at once, because a
retry would only repeat them. The source seed derives from the run id, so a retried
``produce_batch`` re-sends the same users and the upserts converge.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from userstream.config import Settings, load_settings
from userstream.errors import TerminalError
from userstream.orchestration import tasks as steps

T = TypeVar("T")
SETTINGS = load_settings()


def _schedule(text: str) -> str | None:
    # "none" (or empty) makes the DAG manual-only, e.g. for tests.
    return None if text.strip().lower() in ("", "none", "@none") else text


def _settings() -> Settings:
    # Read at run time, so a task sees the environment it runs in, not the parser's.
    return load_settings()


def _fail_fast_on_terminal(func: Callable[..., T]) -> Callable[..., T]:
    """Turn a TerminalError into AirflowFailException: no retry for what cannot heal."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return func(*args, **kwargs)
        except TerminalError as exc:
            raise AirflowFailException(str(exc)) from exc

    return wrapper


DEFAULT_ARGS = {
    "owner": "userstream",
    "retries": 2,
    "retry_delay": timedelta(seconds=20),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=5),
    "execution_timeout": timedelta(minutes=5),
}


@dag(
    dag_id="streaming_pipeline",
    description="Random User API → Kafka → Spark → Cassandra, one verified batch per run",
    schedule=_schedule(SETTINGS.airflow.schedule),
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={
        "batch_size": Param(SETTINGS.airflow.batch_size, type="integer", minimum=1),
        "source": Param(SETTINGS.source.kind, type="string"),
    },
    tags=["userstream"],
)
def streaming_pipeline() -> None:
    @task(execution_timeout=timedelta(minutes=2))
    @_fail_fast_on_terminal
    def check_services() -> dict[str, Any]:
        return steps.check_services(_settings())

    @task(execution_timeout=timedelta(minutes=3))
    @_fail_fast_on_terminal
    def ensure_topics_and_schema() -> None:
        steps.ensure_topics_and_schema(_settings())

    # Longer than the start wait inside (steps.ENSURE_STREAM_START_TIMEOUT_S) plus preparation.
    @task(execution_timeout=timedelta(seconds=steps.ENSURE_STREAM_TASK_TIMEOUT_S))
    @_fail_fast_on_terminal
    def ensure_stream() -> dict[str, Any]:
        return steps.ensure_stream(_settings())

    @task(execution_timeout=timedelta(minutes=10))
    @_fail_fast_on_terminal
    def produce_batch() -> dict[str, Any]:
        context = get_current_context()
        params = context["params"]
        return steps.produce_batch(
            _settings(),
            run_id=context["dag_run"].run_id,
            batch_size=int(params["batch_size"]),
            source_kind=str(params["source"]),
        )

    @task(
        execution_timeout=timedelta(seconds=SETTINGS.airflow.landing_timeout_s + 120),
        retries=1,
    )
    @_fail_fast_on_terminal
    def verify_landed(batch: dict[str, Any]) -> dict[str, int]:
        return steps.verify_landed(_settings(), batch)

    @task(execution_timeout=timedelta(minutes=3))
    @_fail_fast_on_terminal
    def quality_checks(batch: dict[str, Any], landed: dict[str, int]) -> dict[str, Any]:
        return steps.quality_checks(_settings(), batch)

    checked = check_services()
    ready = ensure_topics_and_schema()
    stream = ensure_stream()
    batch = produce_batch()
    landed = verify_landed(batch)
    checked >> ready >> stream >> batch
    quality_checks(batch, landed)


streaming_pipeline()
