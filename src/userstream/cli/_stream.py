"""`userstream db init` and `userstream stream start | stop | run | status`: the Spark job."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from userstream.config import load_settings

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
    from userstream.schema import apply_schema

    settings = load_settings()
    statements = apply_schema(settings)
    out.print(
        f"Schema applied to keyspace {settings.cassandra.keyspace!r} "
        f"({len(statements)} statements, all IF NOT EXISTS)."
    )


@stream_app.command("start")
def stream_start() -> None:
    """Start the job in the background and wait until its query runs. Idempotent."""
    from userstream.streaming import control

    settings = load_settings()
    already = control.running(settings)
    proc = control.start(settings)
    verb = "already running" if already is not None else "running"
    out.print(f"Stream {verb} (pid {proc.pid}); log {proc.log}. `userstream stream status`.")


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
def stream_status() -> None:
    """Running or not, the last micro-batch, rates and lag per partition. Exit 1 if stopped."""
    from userstream.errors import UserstreamError
    from userstream.streaming import control

    settings = load_settings()
    proc = control.running(settings)
    state = control.last_progress(settings) or {}
    batch = state.get("last_batch") or {}
    table = Table("field", "value", show_header=False)
    table.add_row("running", f"yes (pid {proc.pid})" if proc else "no")
    table.add_row("state", _fmt(state.get("state")))
    table.add_row("topic → keyspace", f"{settings.kafka.topic} → {settings.cassandra.keyspace}")
    table.add_row("last batch", _fmt(batch.get("batch_id")))
    table.add_row("input rows", _fmt(batch.get("num_input_rows")))
    table.add_row("valid / rejected", f"{_fmt(batch.get('valid_rows'))} / "
                  f"{_fmt(batch.get('rejected_rows'))}")  # fmt: skip
    table.add_row("input rows/s", _fmt(batch.get("input_rows_per_second"), ",.1f"))
    table.add_row("processed rows/s", _fmt(batch.get("processed_rows_per_second"), ",.1f"))
    table.add_row("batch duration ms", _fmt(batch.get("batch_duration_ms")))
    totals = state.get("totals") or {}
    table.add_row("since start", f"{_fmt(totals.get('stored'))} stored, "
                  f"{_fmt(totals.get('rejected'))} rejected in {_fmt(totals.get('batches'))} "
                  "batches")  # fmt: skip
    if state.get("error"):
        table.add_row("last error", str(state["error"]))
    try:
        lag = control.lag(settings, state)
        lag_text = ", ".join(f"p{p}: {n}" for p, n in lag.items()) if lag else "-"
    except UserstreamError as exc:
        lag_text = f"unknown ({exc.message})"
    table.add_row("lag (messages)", lag_text)
    table.add_row("updated", _fmt(state.get("updated_at")))
    out.print(table)
    if proc is None:
        raise typer.Exit(1)
