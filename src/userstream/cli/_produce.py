"""`userstream produce`: users from the API (or the stand-in) into Kafka."""

from __future__ import annotations

import dataclasses
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from userstream.contract import MAX_PAGE, MAX_RESULTS
from userstream.producing.run import ProduceError, ProduceSummary

out = Console()
err = Console(stderr=True)

# The live API allows 20,000 users per 5 minutes per IP (~67/s); stay under it by default.


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.command("produce")(produce)


def produce(
    source: Annotated[
        str | None,
        typer.Option(help="auto | randomuser | local | an API URL (default: source.kind)."),
    ] = None,
    count: Annotated[
        int | None,
        typer.Option(min=0, help="Stop after this many users; without it run until Ctrl-C."),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(min=1, max=MAX_RESULTS, help="Users per API request (fixed for the run)."),
    ] = None,
    rate: Annotated[
        float | None, typer.Option(min=0.001, help="At most this many users per second.")
    ] = None,
    seed: Annotated[
        str | None, typer.Option(help="API seed; the same seed re-sends the same users.")
    ] = None,
    start_page: Annotated[int, typer.Option(min=1, max=MAX_PAGE, help="First page to fetch.")] = 1,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics while running."),
    ] = None,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="Live progress line (default: on a TTY)."),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON object.")
    ] = False,
) -> None:
    """Fetch users and produce them to Kafka, keyed by login.uuid (idempotent, replayable).

    SIGINT/SIGTERM stop fetching, flush everything already fetched, print the summary and
    exit 0; a second signal aborts at once. Exit 1 when any user was not delivered.
    """
    # Imported here so `userstream --help` does not load librdkafka.
    from userstream.config import load_settings
    from userstream.producing.metrics import serve_metrics
    from userstream.producing.run import LIVE_API_RATE, run_producer
    from userstream.source.resolve import open_source

    settings = load_settings()
    kind = source or settings.source.kind
    with open_source(settings.source, kind) as resolved:
        err.print(f"source: {resolved.description}", highlight=False)
        if resolved.url == settings.source.url and rate is None:
            err.print(f"rate: {LIVE_API_RATE:g} users/s (the live API's budget; --rate to change)")
        if metrics_port is not None:
            serve_metrics(metrics_port)
            err.print(f"metrics: http://127.0.0.1:{metrics_port}/metrics", highlight=False)
        stop = threading.Event()
        with _stop_on_signals(stop):
            try:
                summary = run_producer(
                    settings,
                    source_url=resolved.url,
                    count=count,
                    batch_size=batch_size,
                    rate=rate,
                    seed=seed,
                    start_page=start_page,
                    stop=stop,
                    progress=sys.stderr.isatty() if progress is None else progress,
                )
            except ProduceError as exc:
                _print_summary(exc.summary, json_output, replay=_replay_hint(exc.summary, kind))
                raise
    _print_summary(summary, json_output, replay=_replay_hint(summary, kind))


def _replay_hint(summary: ProduceSummary, source: str) -> str:
    return f"userstream produce --source {source} {summary.replay_args()}"


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """First SIGINT/SIGTERM sets ``stop`` (finish the page, flush, summarise); the handlers
    then revert to the defaults, so a second signal aborts."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        err.print(
            f"{signal.Signals(signum).name}: stopping — flushing what was fetched "
            "(send it again to abort).",
            highlight=False,
        )

    for sig in previous:
        signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _print_summary(summary: ProduceSummary, as_json: bool, *, replay: str) -> None:
    if as_json:
        data = dataclasses.asdict(summary)
        data.pop("deliveries")  # empty: the CLI does not track them
        sys.stdout.write(orjson.dumps(data).decode() + "\n")
        sys.stdout.flush()
        return
    table = Table(title=f"produced to {summary.topic}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("fetched", f"{summary.fetched:,}")
    table.add_row("produced", f"{summary.produced:,}")
    table.add_row("dead-lettered", f"{summary.dead_lettered:,}")
    style = "red" if summary.failed else ""
    table.add_row("failed", f"[{style}]{summary.failed:,}[/]" if style else "0")
    table.add_row("pages", f"{summary.pages:,}")
    table.add_row("users/s", f"{summary.users_per_s:,.0f}")
    table.add_row("seconds", f"{summary.seconds:,.1f}")
    table.add_row("seed", summary.seed)
    out.print(table)
    if summary.stopped:
        out.print("Stopped on request; everything fetched was flushed.")
    out.print(f"Replay: {replay}", highlight=False)
