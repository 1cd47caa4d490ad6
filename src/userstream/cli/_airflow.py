"""`userstream airflow up | down | status | run-dag DAG_ID`."""

from __future__ import annotations

import json
import logging
import re
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from userstream.config import load_settings
from userstream.errors import ConfigError, UserstreamError

out = Console()
airflow_app = typer.Typer(
    help="The local Airflow (api-server, scheduler, dag-processor).",
    # Polling the REST API every few seconds would flood the terminal with request lines.
    callback=lambda: logging.getLogger("httpx").setLevel(logging.WARNING),
)


@airflow_app.command("up")
def up_command(
    timeout: Annotated[float, typer.Option(help="Seconds to wait for health and DAGs.")] = 300.0,
) -> None:
    """Start the local Airflow (idempotent) and wait until it is healthy with DAGs parsed."""
    from userstream.stack import airflow

    settings = load_settings()
    with out.status("Starting Airflow…"):
        info = airflow.up(settings, timeout=timeout)
    started = ", ".join(info.started) if info.started else "nothing (already running)"
    out.print(f"Airflow is up at {info.url} — started: {started}.")
    if info.password_created:
        out.print(
            f"Log in as [bold]{info.username}[/bold]; the generated password is in "
            f"{info.password_file} (readable only by you). It is shown nowhere else."
        )
    else:
        out.print(f"User: {info.username} (password in {info.password_file}).")


@airflow_app.command("credentials")
def credentials_command() -> None:
    """Generate the admin password once (0600, in the state folder) and say where it is.

    `airflow up` does this itself; Docker Compose's init service runs it so that Airflow
    never generates a password of its own and prints it to its log.
    """
    from userstream.stack.airflow_credentials import ensure_credentials

    creds, created = ensure_credentials(load_settings())
    what = "generated" if created else "already there"
    out.print(f"Airflow admin {creds.username!r}: password {what} in {creds.file}.")


@airflow_app.command("edge-worker")
def edge_worker_command(
    name: Annotated[
        str,
        typer.Argument(
            help="The worker's name, unique among the workers (letters, digits, . _ -)."
        ),
    ],
    concurrency: Annotated[int, typer.Option(min=1, help="Tasks it runs at once.")] = 4,
) -> None:
    """Run an Edge worker of this Airflow in the foreground (a service manager keeps it up).

    For Airflow on the Edge executor (USERSTREAM_AIRFLOW__CONFIG, docs/clusters.md "Airflow
    with several workers"): the worker fetches its tasks from the API server over HTTP, with this
    machine's settings.
    """
    import os

    from userstream.stack import airflow

    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name in (".", ".."):
        raise ConfigError(
            f"{name!r} cannot name an Edge worker.",
            hint="Use letters, digits, dots, dashes and underscores, e.g. worker-1.",
        )
    cmd, env = airflow.edge_worker(load_settings(), name, concurrency)
    os.execvpe(cmd[0], cmd, {**os.environ, **env})  # noqa: S606 - our own interpreter and module


@airflow_app.command("down")
def down_command() -> None:
    """Stop the local Airflow gracefully (its database and logs are kept)."""
    from userstream.stack import airflow

    stopped = airflow.down(load_settings())
    out.print(f"Stopped: {', '.join(stopped)}." if stopped else "Airflow was not running.")


@airflow_app.command("status")
def status_command() -> None:
    """Each Airflow process, its pid and health."""
    from userstream.stack import airflow

    settings = load_settings()
    table = Table("component", "pid", "health", "log")
    states = airflow.status(settings)
    for state in states:
        table.add_row(
            state.name,
            str(state.pid) if state.pid else "[red]down[/red]",
            state.health or "-",
            str(state.log),
        )
    out.print(table)
    if any(state.pid is None for state in states):
        raise typer.Exit(1)


def _parse_conf(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        conf = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"--conf is not valid JSON: {exc}.") from exc
    if not isinstance(conf, dict):
        raise ConfigError("--conf must be a JSON object, e.g. '{\"batch_size\": 200}'.")
    return conf


@airflow_app.command("run-dag")
def run_dag_command(
    dag_id: Annotated[str, typer.Argument(help="e.g. streaming_pipeline or stop_stream")],
    conf: Annotated[str | None, typer.Option(help="Run parameters as a JSON object.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the run.")] = 900.0,
) -> None:
    """Trigger a DAG run, wait for it, print each task's outcome; exit 1 when it failed."""
    from userstream.stack import airflow_runs

    settings = load_settings()
    last: list[str] = []

    def progress(state: str, tasks: list[airflow_runs.TaskOutcome]) -> None:
        done = sum(1 for t in tasks if t.state in ("success", "skipped"))
        line = f"run {state}: {done}/{len(tasks)} tasks done" + "".join(
            f", {t.task_id} {t.state}" for t in tasks if t.state in ("running", "up_for_retry")
        )
        if not last or last[-1] != line:
            out.print(line, highlight=False)
            last.append(line)

    result = airflow_runs.run_dag(
        settings, dag_id, conf=_parse_conf(conf), timeout=timeout, on_progress=progress
    )
    table = Table("task", "state", "tries", "seconds", title=f"{dag_id} {result.run_id}")
    for task in result.tasks:
        colour = {"success": "green", "failed": "red"}.get(task.state or "", "yellow")
        table.add_row(
            task.task_id,
            f"[{colour}]{task.state}[/{colour}]",
            str(task.try_number),
            f"{task.duration_s:.1f}" if task.duration_s is not None else "-",
        )
    out.print(table)
    if not result.succeeded:
        reason = f"\n{result.failure}" if result.failure else ""
        raise UserstreamError(
            f"DAG run {result.run_id} {result.state}; failing task: {result.failed_task}.{reason}"
        )
    out.print(f"DAG run {result.run_id} succeeded.")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(airflow_app, name="airflow")
