"""`userstream db init` and `userstream stream start | stop | run | status`: the Spark job."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from userstream.config import Settings, load_settings

out = Console()
err = Console(stderr=True)

db_app = typer.Typer(help="The Cassandra schema (cassandra/init.cql).", no_args_is_help=True)
stream_app = typer.Typer(
    help=(
        "The Spark Structured Streaming job: Kafka topic → clean, validate → Cassandra "
        "(user_profiles, users_by_country; rejects to user_profiles_rejects and the DLQ "
        "topic). Effectively exactly-once: offsets live in the checkpoint, writes are upserts."
    ),
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(db_app, name="db")
    app.add_typer(stream_app, name="stream")


@db_app.command("init")
def db_init() -> None:
    """Create the keyspace and tables when missing. Idempotent; never drops or truncates."""
    from userstream.store.schema import apply_schema

    settings = load_settings()
    statements = apply_schema(settings)
    out.print(
        f"Schema applied to keyspace {settings.cassandra.keyspace!r} "
        f"({len(statements)} statements, all IF NOT EXISTS)."
    )


@stream_app.command("start")
def stream_start() -> None:
    """Start the job in the background and wait until its query runs. Idempotent.

    A supervisor runs the driver and restarts it whenever it dies (kill -9, a crash);
    `stream stop` stops both.
    """
    from userstream.streaming import control

    settings = load_settings()
    already = control.running(settings)
    proc = control.start(settings)
    verb = "already running" if already is not None else "running"
    driver = control.driver_pid(settings, proc)
    if driver == proc.pid:  # a foreground `stream run` holds the name
        who = f"pid {proc.pid}"
    else:
        who = f"driver pid {driver or '- (restarting)'}, supervisor pid {proc.pid}"
    out.print(f"Stream {verb} ({who}); log {proc.log}. `userstream stream status`.")


@stream_app.command("supervise")
def stream_supervise() -> None:
    """Run the stream's supervisor in the foreground until SIGTERM/Ctrl-C.

    For a service manager that keeps this command running (a Compose service, a systemd
    unit, a Kubernetes pod): it restarts the driver whenever it dies, as `stream start`'s
    background supervisor does, and `stream stop` stops it the same way. Set
    USERSTREAM_AIRFLOW__STARTS_STREAM=false for Airflow then, so its DAG only checks the
    stream.
    """
    from userstream.streaming import control

    control.supervise(load_settings())


@stream_app.command("stop")
def stream_stop(
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the current micro-batch before killing.")
    ] = 60,
) -> None:
    """Stop the job after its current micro-batch (it resumes from the checkpoint)."""
    from userstream.streaming import control

    if control.stop(load_settings(), timeout=timeout):
        out.print("Stream stopped.")
    else:
        out.print("Stream was not running.")


@stream_app.command("run")
def stream_run(
    until_idle: Annotated[
        bool,
        typer.Option(
            "--until-idle",
            help="Process what the topic holds now, then exit (availableNow trigger).",
        ),
    ] = False,
    timeout: Annotated[
        float | None, typer.Option(help="Give up after this many seconds (exit 1).")
    ] = None,
) -> None:
    """Run the job in the foreground until Ctrl-C/SIGTERM (or drained with --until-idle)."""
    import logging

    from userstream.streaming import control

    logging.getLogger("py4j").setLevel(logging.WARNING)
    state = control.run(load_settings(), until_idle=until_idle, timeout=timeout)
    totals = state.get("totals", {})
    out.print(
        f"Stream {state.get('state')}: {totals.get('batches', 0)} batches, "
        f"{totals.get('stored', 0)} users stored, {totals.get('rejected', 0)} rejected."
    )


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec) if spec else str(value)


@stream_app.command("status")
def stream_status(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of a table.")
    ] = False,
) -> None:
    """Running and healthy or not (and why), the last micro-batch, lag per partition.

    Unhealthy when no driver runs, it retries or stalls, a batch or the input waits longer
    than spark.unhealthy_after_s, or it was just restarted. Exit 1 if stopped.
    """
    import json

    from userstream.errors import UserstreamError
    from userstream.streaming import control

    settings = load_settings()
    state = control.last_progress(settings)
    lag_error = None
    try:
        lag = control.lag(settings, state)
    except UserstreamError as exc:
        lag, lag_error = None, exc.message
    report = control.report(settings, state, lag)
    if as_json:
        print(json.dumps(report, default=str))
    else:
        out.print(_status_table(settings, report, (state or {}), lag_error))
    if not report["running"]:
        raise typer.Exit(1)


def _status_table(
    settings: Settings, report: dict[str, Any], state: dict[str, Any], lag_error: str | None
) -> Table:
    batch = report.get("last_batch") or {}
    table = Table("field", "value", show_header=False)
    pids = f"driver pid {_fmt(report['pid'])}"
    if report.get("supervisor_pid"):
        pids += f", supervisor pid {report['supervisor_pid']}"
    table.add_row("running", f"yes ({pids})" if report["running"] else "no")
    since = f" since {report['since']}" if report.get("since") else ""
    verdict = "[green]healthy[/green]" if report["healthy"] else "[red]unhealthy[/red]"
    table.add_row("health", verdict + (f": {report['reason']}" if report["reason"] else "")
                  + since)  # fmt: skip
    table.add_row("state", _fmt(report.get("state")))
    table.add_row("driver restarts", f"{report['restarts']} by the supervisor, "
                  f"{_fmt(report.get('query_restarts'))} of the query")  # fmt: skip
    table.add_row("topic → keyspace", f"{settings.kafka.topic} → {settings.cassandra.keyspace}")
    table.add_row("last batch", _fmt(batch.get("batch_id")))
    table.add_row("input rows", _fmt(batch.get("num_input_rows")))
    table.add_row("valid / rejected", f"{_fmt(batch.get('valid_rows'))} / "
                  f"{_fmt(batch.get('rejected_rows'))}")  # fmt: skip
    table.add_row("input rows/s", _fmt(batch.get("input_rows_per_second"), ",.1f"))
    table.add_row("processed rows/s", _fmt(batch.get("processed_rows_per_second"), ",.1f"))
    table.add_row("batch duration ms", _fmt(batch.get("batch_duration_ms")))
    totals = report.get("totals") or {}
    table.add_row("since start", f"{_fmt(totals.get('stored'))} stored, "
                  f"{_fmt(totals.get('rejected'))} rejected in {_fmt(totals.get('batches'))} "
                  "batches")  # fmt: skip
    if state.get("error"):
        table.add_row("last error", str(state["error"]))
    lag = report.get("lag")
    if lag_error:
        lag_text = f"unknown ({lag_error})"
    else:
        lag_text = ", ".join(f"p{p}: {n}" for p, n in lag.items()) if lag else "-"
    table.add_row("lag (messages)", lag_text)
    table.add_row("updated", _fmt(state.get("updated_at")))
    return table
