"""`userstream fake-api`: the local Random User API stand-in, in the foreground."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

err = Console(stderr=True)

_HELP = (
    "Serve the local stand-in for the Random User API 1.4 until Ctrl-C (or SIGTERM).\n\n"
    "It answers GET /api/ and /api/1.4/ like https://randomuser.me/api/1.4/: results "
    "(1..5000; anything else gives 1 user), page, seed (same seed + page = same users), "
    "nat/nationality (all 21 nations), gender (ignored with a seed), inc, exc, noinfo, "
    "format=json|pretty. Users have every field with the real API's JSON types and quirks "
    "(string postcodes for CA/GB/NL/NO, null national ids for IR/NZ/TR/UA, real "
    "md5/sha1/sha256 of password+salt).\n\n"
    "Point the pipeline at it with --source http://HOST:PORT/api/1.4/. The --fault-* options "
    "break it on purpose to test clients, e.g. --fault-user-budget 20000 answers 429 past "
    "20,000 users per 5 minutes per client, like the live service."
)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.command("fake-api", help=_HELP)(fake_api)


def fake_api(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default: source.fake_host).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Port (default: source.fake_port; 0 = any free)."),
    ] = None,
    fault_user_budget: Annotated[
        int | None,
        typer.Option(min=1, help="Answer 429 once a client asked for more users per window."),
    ] = None,
    fault_budget_window: Annotated[
        float, typer.Option(min=0.001, help="The user budget's window in seconds.")
    ] = 300.0,
    fault_retry_after: Annotated[
        int | None, typer.Option(min=0, help="Send Retry-After: N on 429 and injected 5xx.")
    ] = None,
    fault_error_status: Annotated[
        int, typer.Option(min=400, max=599, help="Status of injected errors.")
    ] = 503,
    fault_error_first: Annotated[
        int, typer.Option(min=0, help="The first N requests answer the error status.")
    ] = 0,
    fault_error_every: Annotated[
        int, typer.Option(min=0, help="Every Nth request answers the error status.")
    ] = 0,
    fault_latency: Annotated[
        float, typer.Option(min=0.0, help="Seconds added before every answer.")
    ] = 0.0,
    fault_empty_every: Annotated[
        int, typer.Option(min=0, help='Every Nth request answers "results": [].')
    ] = 0,
    fault_malformed_every: Annotated[
        int, typer.Option(min=0, help="Every Nth request answers a truncated JSON body.")
    ] = 0,
    fault_dirty_share: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Share of users made quirky: letters in phones, coordinates out of range, "
            "a missing field, a null uuid, an age as a string.",
        ),
    ] = 0.0,
) -> None:
    # Imported here so `userstream --help` stays fast.
    from userstream.cli import _foreground as foreground
    from userstream.config import load_settings
    from userstream.source.standin.faults import Faults
    from userstream.source.standin.server import FakeApiServer

    settings = load_settings().source
    faults = Faults(
        user_budget=fault_user_budget,
        budget_window_s=fault_budget_window,
        retry_after_s=fault_retry_after,
        error_status=fault_error_status,
        error_first=fault_error_first,
        error_every=fault_error_every,
        latency_s=fault_latency,
        empty_every=fault_empty_every,
        malformed_every=fault_malformed_every,
        dirty_share=fault_dirty_share,
    )
    server = FakeApiServer(
        host or settings.fake_host,
        settings.fake_port if port is None else port,
        faults=faults,
    )
    server.bind()
    foreground.serve("fake-api", server.url, server.serve_forever, err)
