"""`userstream up | down | status | purge | bootstrap`: the whole pipeline at once."""

from __future__ import annotations

import json
import logging
import sys
import time

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from userstream.config import load_settings
from userstream.status import PipelineStatus, gather

# Long lines (URLs, paths) stay whole, so they can be copied; piped output is not cut at 80.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def _say(line: str) -> None:
    out.print(f"  {line}", highlight=False)


def _narrated() -> None:
    """These commands tell their own story; keep our event logs to warnings unless -v."""
    ours = logging.getLogger("userstream")
    if ours.level == logging.INFO:
        ours.setLevel(logging.WARNING)


def up(
    source: str = typer.Option(
        None,
        help="Where users come from: auto (the real API when it answers, else the built-in "
        "stand-in), randomuser, local, or an API URL. Default: USERSTREAM_SOURCE__KIND (auto).",
    ),
    first_run: bool = typer.Option(
        True, help="Trigger a first streaming_pipeline run now instead of at the next tick."
    ),
    cluster: bool = typer.Option(
        False,
        "--cluster",
        help="Run on clusters of this machine: Kafka as three nodes on 127.0.0.1-3 (three "
        "replicas, min.insync.replicas 2), Cassandra as three nodes on 127.0.0.1-3 (three "
        "replicas, LOCAL_QUORUM) and the stream on a Spark standalone cluster (a master and "
        "cluster.spark_workers workers on 127.0.0.1, each stream taking half their cores) "
        "instead of local[2]; Airflow's tasks use them too. Until `down`, every later command "
        "of this checkout uses the clusters by itself (the state folder remembers); a "
        "variable still wins for its setting. The single node keeps its own data and "
        "checkpoint for the next plain `up` (docs/clusters.md).",
    ),
) -> None:
    """Bring the whole pipeline up: Kafka, Cassandra, schema, topics, source, Spark stream, Airflow.

    Idempotent: parts already running are left alone. Data from earlier runs is kept.
    """
    from userstream import pipeline

    _narrated()
    settings = load_settings()
    if cluster:
        settings = pipeline.on_local_cluster(settings)
    started = time.monotonic()
    out.print("[bold]Starting userstream[/bold]")
    report = pipeline.up(settings, source=source or settings.source.kind, say=_say,
                         trigger_first_run=first_run, cluster=cluster)  # fmt: skip
    ks = settings.cassandra.keyspace
    login = f"user [bold]{report.airflow_user}[/bold], password in {report.airflow_password_file}"
    if report.airflow_password_created:
        login += " (generated just now; it is shown nowhere else)"
    sample = f"SELECT * FROM {ks}.user_profiles LIMIT 10"  # noqa: S608 - shown, not run
    spark_ui = report.spark_ui_url or (
        "starting: `userstream status` shows it" if settings.spark.ui_port else "off"
    )
    out.print(
        f"\n[green]userstream is up[/green] in {time.monotonic() - started:.0f}s. Users come from "
        f"{report.source.description}.\n"
        f"  Dashboard      {report.dashboard_url}  (live; no login, on this machine only)\n"
        f"  Airflow UI     {report.airflow_url}  ({login})\n"
        f"  Spark UI       {spark_ui}\n"
        f"  Kafka          {settings.kafka.bootstrap_servers}  topic {settings.kafka.topic}\n"
        f"  Cassandra      {', '.join(settings.cassandra.hosts)}:{settings.cassandra.port}  "
        f"keyspace {ks}\n"
        f'  See rows       userstream query "{sample}"\n'
        f"  With cqlsh     cqlsh -u <user> -p <password> {settings.cassandra.hosts[0]} "
        f"(the login is in {settings.paths.secrets / 'cassandra.json'})\n"
        f"  Watch it       userstream status --watch\n"
        f"  Stop it        userstream down   (keeps the data)",
        highlight=False,
    )


def down() -> None:
    """Stop everything (Airflow, the stream, the stand-in, Kafka, Cassandra); keep the data."""
    from userstream import pipeline

    _narrated()
    pipeline.down(load_settings(), say=_say)
    out.print(
        "[green]Everything is stopped.[/green] `userstream up` starts it again with all data."
    )


def purge(
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Delete all data: messages, rows, checkpoints, secrets, Airflow runs (the jars are kept).

    Everything is stopped first. This cannot be undone.
    """
    from userstream import pipeline

    _narrated()
    settings = load_settings()
    root = settings.paths.root
    if not yes and not typer.confirm(f"Stop everything and delete all data under {root}?"):
        raise typer.Exit(1)
    pipeline.down(settings, say=_say)
    pipeline.purge(settings, say=_say)
    out.print("[green]All data removed.[/green] `userstream up` starts from scratch.")


def _render(status: PipelineStatus) -> Group:
    parts = Table(title="userstream", title_justify="left")
    for col in ("component", "health", "address", "pid", "detail"):
        parts.add_column(col)
    for p in status.parts:
        # A part with a live process is not "down", whatever else is wrong with it.
        sick = "[red]unhealthy[/red]" if p.pid else "[red]down[/red]"
        health = "[green]healthy[/green]" if p.healthy else sick
        detail = f"{p.detail}  metrics {p.metrics_url}" if p.metrics_url else p.detail
        detail = f"{detail}  UI {p.ui_url}" if p.ui_url else detail
        parts.add_row(p.name, health, p.address, str(p.pid or ""), detail)
    data = Table(show_header=False, box=None)
    for topic, ends in status.topics.items():
        data.add_row(f"topic {topic}", f"{sum(ends.values())} messages  (end offsets {ends})")
    data.add_row("stream lag", "unknown" if status.lag is None else f"{status.lag} messages")
    data.add_row("rows stored", str(status.rows_stored) if status.rows_stored is not None else "?")
    data.add_row(
        "rows rejected", str(status.rows_rejected) if status.rows_rejected is not None else "?"
    )
    if status.last_batch:
        b = status.last_batch
        data.add_row(
            "last batch",
            f"id {b.get('batch_id')}  rows {b.get('num_input_rows')}  "
            f"in {b.get('input_rows_per_second', 0):.0f}/s  "
            f"processed {b.get('processed_rows_per_second', 0):.0f}/s  "
            f"took {b.get('batch_duration_ms')} ms  at {b.get('timestamp')}",
        )
    if status.last_dag_run:
        r = status.last_dag_run
        data.add_row(
            "last DAG run", f"{r.get('dag_run_id')}  {r.get('state')}  {r.get('start_date')}"
        )
    if status.quality:
        q = status.quality
        checks = q.get("checks", [])
        failed = [c.get("name") for c in checks if not c.get("passed")]
        verdict = (
            "[green]all passed[/green]"
            if not failed
            else f"[red]failed: {', '.join(map(str, failed))}[/red]"
        )
        data.add_row("quality checks", f"{verdict}  ({len(checks)} checks, run {q.get('run_id')})")
    data.add_row("dashboard", status.dashboard_url)
    notes = Table(show_header=False, box=None)
    for note in status.notes:
        notes.add_row(f"[yellow]note[/yellow] {note}")
    return Group(parts, data, notes)


def status(
    watch: bool = typer.Option(
        False, "--watch", "-w", help="Refresh every few seconds until Ctrl-C."
    ),
    interval: float = typer.Option(5.0, help="Seconds between refreshes with --watch."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Each component's health, address, pid; topic offsets, lag, rows, last batch and DAG run.

    Exits non-zero when a component that should run does not.
    """
    settings = load_settings()
    if as_json:
        current = gather(settings)
        print(json.dumps(current.as_dict(), default=str))
        raise typer.Exit(0 if current.healthy else 1)
    if not watch:
        current = gather(settings)
        out.print(_render(current))
        raise typer.Exit(0 if current.healthy else 1)
    with Live(_render(gather(settings)), console=out, refresh_per_second=1) as live:
        try:
            while True:
                time.sleep(interval)
                live.update(_render(gather(settings)))
        except KeyboardInterrupt:
            pass


def dashboard(
    port: int | None = typer.Option(
        None,
        min=0,
        max=65535,
        help="Port on USERSTREAM_DASHBOARD__HOST, 127.0.0.1 (default: USERSTREAM_DASHBOARD__PORT, "
        "8090; 0 = any free).",
    ),
) -> None:
    """Serve the live dashboard on 127.0.0.1 until Ctrl-C: health, rates, lag, latency,
    rejects, DAG runs, the data and the newest users, refreshed every two seconds.

    `userstream up` starts it in the background; `userstream down` stops it.
    """
    from userstream.cli import _foreground as foreground
    from userstream.dashboard.server import Dashboard

    _narrated()
    board = Dashboard(load_settings(), port)
    board.bind()
    foreground.serve("dashboard", board.url, board.serve, out)


def bootstrap() -> None:
    """For clusters and Docker Compose: secure Cassandra's login, create the Kafka users,
    topics and ACLs, apply the schema.

    Uses USERSTREAM_CASSANDRA__USERNAME/PASSWORD: when that login does not exist yet, it is
    created with the default cassandra login, which is then disabled. With
    USERSTREAM_KAFKA__USERS_ADMIN_CONFIG (a Kafka login allowed to create users), the
    pipeline's own Kafka users are created first, their passwords generated into the state
    folder. Idempotent.
    """
    from userstream.kafka import client_config, topics
    from userstream.stack.cassandra import secure_configured_login
    from userstream.store import schema

    settings = load_settings()
    # The login first: without one configured this fails before anything is created.
    secure_configured_login(settings)
    _say("cassandra: project login works, default login disabled")
    kafka = settings.kafka
    if kafka.users_admin_config:
        logins = client_config.local_logins(kafka) or client_config.generate_logins(kafka)
        client_config.ensure_users(kafka.users_admin_config, logins, client_config.ROLES)
        _say(f"kafka: users {', '.join(logins[r].username for r in client_config.ROLES)} exist")
    topics.ensure_topics(settings.kafka)
    _say(f"topics {settings.kafka.topic} and {settings.kafka.dlq_topic} exist")
    schema.apply_schema(settings)
    _say(f"schema of keyspace {settings.cassandra.keyspace} applied")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    for command in (up, down, status, purge, dashboard, bootstrap):
        app.command()(command)
