"""DAG runs through the local Airflow's REST API: trigger one and wait for it, saying what each
task did, why a failed one failed (its own log's error lines) and which run a queued one
waits behind."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from userstream.config import Settings
from userstream.errors import ConfigError, TransientError, UserstreamError
from userstream.stack._airflow_api import TERMINAL_RUN_STATES, AirflowApi
from userstream.stack._airflow_env import (
    base_url as base_url,
)
from userstream.stack.airflow_credentials import credentials

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskOutcome:
    task_id: str
    state: str | None
    try_number: int
    duration_s: float | None


@dataclass(frozen=True)
class RunResult:
    dag_id: str
    run_id: str
    state: str
    tasks: list[TaskOutcome]
    failed_task: str | None = None
    failure: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.state == "success"


def api(settings: Settings) -> AirflowApi:
    """An authenticated REST client for the local Airflow."""
    creds = credentials(settings)
    return AirflowApi(base_url(settings.airflow), creds.username, creds.password)


def _outcomes(client: AirflowApi, dag_id: str, run_id: str) -> list[TaskOutcome]:
    instances = client.task_instances(dag_id, run_id)
    instances.sort(key=lambda ti: (ti.get("start_date") or "~", ti.get("task_id", "")))
    return [
        TaskOutcome(
            task_id=str(ti.get("task_id")),
            state=ti.get("state"),
            try_number=int(ti.get("try_number") or 0),
            duration_s=ti.get("duration"),
        )
        for ti in instances
    ]


def failure_lines(events: list[Any], limit: int = 8) -> list[str]:
    """The lines of a task log that say why it failed: exceptions first, then error events."""
    lines: list[str] = []
    for event in events:
        if isinstance(event, dict):
            for exc in event.get("error_detail") or []:
                if isinstance(exc, dict):
                    lines.append(f"{exc.get('exc_type')}: {exc.get('exc_value')}")
            if not event.get("error_detail") and str(event.get("level", "")).lower() in (
                "error",
                "critical",
            ):
                lines.append(str(event.get("event", "")))
        elif isinstance(event, str) and ("Error" in event or "Exception" in event):
            lines.append(event.strip())
    return [line for line in lines if line][:limit]


#: The note on a run ``fail_interrupted`` ends.
INTERRUPTED_NOTE = (
    "Interrupted: Airflow's scheduler stopped while this run ran (`userstream down` or a "
    "crash); `userstream up` marked it failed. Its users are in Kafka and the stream stores them."
)


def fail_interrupted(client: AirflowApi) -> list[tuple[str, str]]:
    """Mark failed every run still "running" when no scheduler has run it: call it only
    right after starting the scheduler. Airflow itself finds such a run's tasks dead only
    after its heartbeat timeout (5 minutes), and until then the run holds its DAG's active
    slot (``max_active_runs``): the next run, `up`'s first among them, would wait behind it.
    Returns the (dag id, run id) of each."""
    runs = client.get("/dags/~/dagRuns", state=["running"], limit=100).get("dag_runs", [])
    ended = []
    for run in runs:
        dag_id, run_id = str(run["dag_id"]), str(run["dag_run_id"])
        client.fail_run(dag_id, run_id, INTERRUPTED_NOTE)
        log.warning("airflow_run_interrupted dag=%s run=%s", dag_id, run_id)
        ended.append((dag_id, run_id))
    return ended


def _queued_behind(client: AirflowApi, dag_id: str, run_id: str) -> str:
    """ "queued", and why when another run of the DAG holds its active-run slots."""
    try:
        runs = client.get(f"/dags/{dag_id}/dagRuns", state=["running"], limit=5)
    except UserstreamError:
        return "queued"
    holders = [r for r in (runs or {}).get("dag_runs", []) if r.get("dag_run_id") != run_id]
    if not holders:
        return "queued"
    first = holders[0]
    return (
        f"queued behind run {first.get('dag_run_id')}, running since {first.get('start_date')} "
        "(the DAG has as many runs active as its max_active_runs allows)"
    )


def wait_for_run(
    client: AirflowApi,
    dag_id: str,
    run_id: str,
    *,
    timeout: float,
    on_progress: Callable[[str, list[TaskOutcome]], None] | None = None,
    poll_s: float = 3.0,
) -> RunResult:
    """Poll a run until it succeeds or fails; ``TransientError`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        state = str(client.run(dag_id, run_id).get("state"))
        tasks = _outcomes(client, dag_id, run_id)
        if on_progress:
            on_progress(_queued_behind(client, dag_id, run_id) if state == "queued" else state,
                        tasks)  # fmt: skip
        if state in TERMINAL_RUN_STATES:
            break
        if time.monotonic() >= deadline:
            raise TransientError(
                f"DAG run {dag_id}/{run_id} is still {state} after {timeout:.0f} s.",
                hint="It keeps running in Airflow; follow it in the UI.",
            )
        time.sleep(poll_s)
    failed = next((t for t in tasks if t.state in ("failed", "upstream_failed")), None)
    failure = None
    if state == "failed" and failed is not None and failed.state == "failed":
        try:
            events = client.task_log(dag_id, run_id, failed.task_id, max(failed.try_number, 1))
            failure = "\n".join(failure_lines(events)) or None
        except UserstreamError as exc:
            failure = f"(its log could not be read: {exc})"
    return RunResult(dag_id, run_id, state, tasks, failed.task_id if failed else None, failure)


def run_dag(
    settings: Settings,
    dag_id: str,
    *,
    conf: dict[str, Any] | None = None,
    timeout: float = 900.0,
    on_progress: Callable[[str, list[TaskOutcome]], None] | None = None,
) -> RunResult:
    """Unpause ``dag_id`` if needed, trigger one run with ``conf`` and wait for it."""
    client = api(settings)
    known = {d["dag_id"]: d for d in client.dags()}
    if dag_id not in known:
        raise ConfigError(
            f"Airflow has no DAG {dag_id!r} (it has: {', '.join(sorted(known)) or 'none'})."
        )
    if known[dag_id].get("is_paused"):
        client.set_paused(dag_id, False)
    run = client.trigger(dag_id, conf or {})
    run_id = str(run["dag_run_id"])
    log.info("triggered dag=%s run=%s", dag_id, run_id)
    return wait_for_run(client, dag_id, run_id, timeout=timeout, on_progress=on_progress)
