"""The Avro schemas userstream carries on Kafka: the one source of what a user is.

``user.avsc`` is the schema the producer writes with and the stream reads with (its reader
schema, so a message of an older or newer compatible writer lands too). ``history/`` keeps
every released version as ``user.v<N>.avsc``: an edit of ``user.avsc`` is checked against
them before it ships (``userstream schema check``; the unit tests do it for every commit).
The registry's subject for a topic's values is ``<topic>-value`` (Confluent's
TopicNameStrategy).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

FOLDER = Path(__file__).resolve().parent
USER = "user"
_VERSION = re.compile(r"\.v([0-9]+)\.avsc$")


def path(name: str = USER) -> Path:
    """The current schema's file."""
    return FOLDER / f"{name}.avsc"


@cache
def text(name: str = USER) -> str:
    """The current schema as its file holds it (what the producer registers)."""
    return path(name).read_text()


def load(name: str = USER) -> dict[str, Any]:
    """The current schema, parsed as JSON (a fresh copy each call)."""
    parsed: dict[str, Any] = json.loads(text(name))
    return parsed


def history(name: str = USER) -> list[tuple[int, Path]]:
    """The released versions of ``name``, oldest first: (version, file)."""
    found = []
    for file in (FOLDER / "history").glob(f"{name}.v*.avsc"):
        match = _VERSION.search(file.name)
        if match:
            found.append((int(match.group(1)), file))
    return sorted(found)


def subject(topic: str) -> str:
    """The registry subject of ``topic``'s values (TopicNameStrategy)."""
    return f"{topic}-value"
