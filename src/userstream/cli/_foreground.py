"""Serving a local HTTP server in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType
from typing import NoReturn

from rich.console import Console


def _interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


def serve(name: str, url: str, serve_forever: Callable[[], object], console: Console) -> None:
    """Run ``serve_forever`` until Ctrl-C, or SIGTERM (what `process.stop` sends): both
    leave the same clean way."""
    signal.signal(signal.SIGTERM, _interrupt)
    console.print(f"{name}: serving {url} (Ctrl-C to stop)", highlight=False)
    try:
        serve_forever()
    except KeyboardInterrupt:
        console.print(f"{name}: stopped", highlight=False)
