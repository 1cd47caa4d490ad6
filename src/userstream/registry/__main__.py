"""``python -m userstream.registry``: the local schema registry in the foreground
(``registry.server.serve``); its settings from the environment and ``.env``."""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType

from userstream import logs
from userstream.config import load_settings
from userstream.errors import UserstreamError


def _leave(signum: int, frame: FrameType | None) -> None:
    # uvicorn shuts down gracefully on SIGTERM, then raises it again: leave through the
    # ``finally`` blocks (the producer closed, the stop logged) instead of dying there.
    raise SystemExit(0)


def main() -> int:
    signal.signal(signal.SIGTERM, _leave)
    os.umask(0o077)  # what it writes into the state folder is private from its first byte
    logs.setup(logging.INFO)
    for chatty in ("uvicorn", "librdkafka"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    from userstream.registry.server import serve

    try:
        serve(load_settings())
    except UserstreamError as exc:
        logging.getLogger("userstream.registry").error("registry_failed error=%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
