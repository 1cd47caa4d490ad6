"""One logging setup for every userstream process: structlog over the standard library.

Our modules log with the standard library, an event name first and then ``key=value``
fields (``log.info("batch_written batch=%d stored=%d", ...)``); the libraries log what they
log. ``setup`` renders every record through structlog: for a person at a terminal, aligned
lines with the event and its fields; where no terminal is attached — the processes ``up``
starts in the background, whose output is their log in the state folder — one JSON object
per line: ``{"event": "batch_written", "batch": "3", "stored": "1000", "level": "info",
"logger": "userstream.streaming.batch_writer", "timestamp": "…Z"}``. A message that is not of the
``event key=value`` form keeps its text as the event.

(The Spark driver's log also holds the JVM's own lines, which are not ours to format.)
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_EVENT = re.compile(r"[a-z][a-z0-9_]*")
_NEXT_FIELD = re.compile(r" (?=[a-z_][a-z0-9_]*=)")


def split_event(message: str) -> tuple[str, dict[str, str]] | None:
    """``"batch_written batch=3 error=a b"`` → ``("batch_written", {"batch": "3", "error":
    "a b"})``: a value runs to the next `` key=``. None when the message is not of that form."""
    head, _, rest = message.partition(" ")
    if not _EVENT.fullmatch(head):
        return None
    fields: dict[str, str] = {}
    for part in _NEXT_FIELD.split(rest) if rest else []:
        key, equals, value = part.partition("=")
        if not equals or not _EVENT.fullmatch(key.lstrip("_")):
            return None
        fields[key] = value
    return head, fields


def _fields_of_the_message(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    text = event.get("event")
    found = split_event(text) if isinstance(text, str) else None
    if found is not None:
        name, fields = found
        event.update({k: v for k, v in fields.items() if k not in event})
        event["event"] = name
    return event


def setup(level: int, *, json: bool | None = None) -> None:
    """Route every log record of this process through structlog, at ``level``.

    ``json``: JSON lines (None: when stderr is not a terminal, i.e. it is a log file).
    """
    as_json = not sys.stderr.isatty() if json is None else json
    shared: list[Any] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _fields_of_the_message,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
