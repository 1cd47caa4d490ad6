"""`userstream …`: the command line. Each area registers its commands from its own module."""

from __future__ import annotations

import logging
import os
import sys

import typer
from rich.console import Console
from rich.markup import escape

from userstream.errors import UserstreamError

app = typer.Typer(
    name="userstream",
    help="Real-time user profiles: Random User API → Kafka → Spark → Cassandra, run by Airflow.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Markdown: a docstring's paragraphs reflow to the terminal's width (rich keeps the
    # source's line breaks); `code` stays code.
    rich_markup_mode="markdown",
)
err = Console(stderr=True)
#: Libraries whose INFO lines (one per HTTP request, per driver event) drown ours.
_CHATTY = ("httpx", "cassandra", "py4j", "urllib3", "airflow")


@app.callback()
def _options(
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Log every event at debug level, libraries' included."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Log warnings and errors only."),
) -> None:
    """Real-time user profiles: Random User API → Kafka → Spark → Cassandra, run by Airflow."""
    ours = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.getLogger("userstream").setLevel(ours)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)


_registered = False


def _register() -> None:
    """Add every area's commands once (idempotent, so tests may call it too)."""
    global _registered
    if _registered:
        return
    _registered = True
    # Imported here so `userstream --help` stays fast and one area's import error is isolated.
    from userstream.cli import _airflow, _pipeline, _produce, _schema, _source, _stack, _stream

    for module in (_stack, _source, _produce, _stream, _airflow, _schema, _pipeline):
        module.register(app)


def main() -> None:
    # What this process writes (into the state folder) and every process it starts is
    # private to this user from its first byte: files 0600, folders 0700. (The value of
    # host.state.PRIVATE_UMASK, not imported: `userstream --help` stays fast.)
    os.umask(0o077)
    from userstream import logs

    logs.setup(logging.WARNING)
    _register()
    try:
        app()
    except UserstreamError as exc:
        # Escaped: an error may quote brackets (a registry's findings) that are not markup;
        # soft-wrapped: the terminal wraps it, a pipe or a log gets it whole.
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(getattr(exc, "exit_code", 1))
