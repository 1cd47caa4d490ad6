"""streaming_pipeline: produce one batch of users and prove it landed, cleanly.

prepare_services (Kafka and Cassandra answer; topics, schema and tables exist) →
ensure_stream and produce_batch side by side (producing needs the topics, not the stream:
the stream reads from the earliest offset) → verify_landed (after both) → quality_checks.
Each task calls one function of ``userstream.orchestration.tasks``; this file only wires
them. Transient failures (a service briefly away) are retried with exponential backoff;
terminal ones (bad data, bad configuration, a stream broken for minutes) fail at once,
because a retry would only repeat them. The source seed derives from the run id, so a
retried ``produce_batch`` re-sends the same users and the upserts converge.

Written the way Airflow's docs ("Best Practices": top-level code, idempotent tasks, XComs
for small data; "Deferrable Operators & Triggers" / sensors in reschedule mode) and
Astronomer's guides ("DAG writing best practices", "Sensors", "Passing data between
tasks", "Assets", "Error notifications") advise:

- The file does no work when parsed: settings only; every task body is a tested function.
- ``verify_landed`` is a sensor in ``reschedule`` mode: each look holds a worker slot for
  ``steps.LOOK_S`` at most, then gives it back until the next poke; it fails at once when
  the stream has been broken for minutes, so runs do not queue behind it.
- What a task hands on is small: the batch's message list goes to the XCom object-storage
  backend that `userstream up` configures (``<airflow home>/xcom``), the database keeps a
  reference.
- ``verify_landed`` updates the Asset ``<keyspace>.user_profiles``: a downstream DAG can
  be scheduled on it.
- Every task's failure is logged by ``steps.on_task_failure``: which task of which run,
  why, and where to look.
- The stream is not owned by a task: its supervisor runs outside Airflow (``userstream up``
  starts it; a service manager may run ``userstream stream supervise``). ``ensure_stream``
  starts one only as the local runtime's last resort; with ``airflow.starts_stream`` false
  (Compose, any multi-worker executor) it only checks the driver's heartbeat.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from airflow.sdk import Asset, Param, PokeReturnValue, dag, get_current_context, task
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


#: The table every landed batch updates: named for the keyspace and table, its URI naming this
#: stack's Cassandra too. (One name per keyspace: Airflow keeps a name's first URI active, so a
#: keyspace changed under one name would leave the new asset inactive and the runs failing.)
USER_PROFILES = Asset(
    name=f"{SETTINGS.cassandra.keyspace}.user_profiles",
    uri=(
        f"cassandra://{SETTINGS.cassandra.hosts[0]}:{SETTINGS.cassandra.port}/"
        f"{SETTINGS.cassandra.keyspace}/user_profiles"
    ),
)


@dag(
    dag_id="streaming_pipeline",
    description="Random User API → Kafka → Spark → Cassandra, one verified batch per run",
    schedule=_schedule(SETTINGS.airflow.schedule),
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=steps.DEFAULT_ARGS,
    params={
        "batch_size": Param(SETTINGS.airflow.batch_size, type="integer", minimum=1),
        "source": Param(SETTINGS.source.kind, type="string"),
    },
    tags=["userstream"],
)
def streaming_pipeline() -> None:
    @task(execution_timeout=timedelta(minutes=3))
    @_fail_fast_on_terminal
    def prepare_services() -> dict[str, Any]:
        return steps.prepare_services(_settings())

    # Longer than the start wait inside (steps.ENSURE_STREAM_START_TIMEOUT_S) plus preparation.
    @task(execution_timeout=timedelta(seconds=steps.ENSURE_STREAM_TASK_TIMEOUT_S))
    @_fail_fast_on_terminal
    def ensure_stream() -> dict[str, Any]:
        return steps.ensure_stream(_settings())

    # Its return value holds the batch's message list: not written into the logs (task's and
    # scheduler's, ~50 KB a run of 1,000 users), only to XCom.
    @task(execution_timeout=timedelta(minutes=10), show_return_value_in_logs=False)
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

    # A backstop only: check_landed fails the task once landing_timeout_s has passed.
    @task.sensor(
        mode="reschedule",
        poke_interval=steps.POKE_S,
        timeout=SETTINGS.airflow.landing_timeout_s + 120,
        execution_timeout=timedelta(seconds=steps.LOOK_S + 120),
        retries=1,
        outlets=[USER_PROFILES],
    )
    @_fail_fast_on_terminal
    def verify_landed(batch: dict[str, Any]) -> PokeReturnValue:
        landed = steps.check_landed(_settings(), batch)
        return PokeReturnValue(is_done=landed is not None, xcom_value=landed)

    @task(execution_timeout=timedelta(minutes=3))
    @_fail_fast_on_terminal
    def quality_checks(batch: dict[str, Any], landed: dict[str, int]) -> dict[str, Any]:
        return steps.quality_checks(_settings(), batch)

    ready = prepare_services()
    stream = ensure_stream()
    batch = produce_batch()
    landed = verify_landed(batch)
    ready >> [stream, batch]
    stream >> landed
    quality_checks(batch, landed)


streaming_pipeline()
