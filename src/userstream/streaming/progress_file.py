"""The stream's last progress on disk: ``<state>/results/<job_name>_progress.json``.

Written by the driver (atomically: a reader never sees half a file) after every
micro-batch and on every state change; read by ``userstream stream status`` and by
``control.start`` to know when the query is really running. Where a reader shares no state
folder with the driver, it fetches the same from the driver's ``/progress`` (``fetch``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.request
from pathlib import Path
from typing import Any

from userstream.config import Settings
from userstream.files import write_json

log = logging.getLogger(__name__)

#: How long a reader waits for the driver's ``/progress``.
FETCH_TIMEOUT_S = 10.0


def progress_file(settings: Settings) -> Path:
    return settings.paths.results / f"{settings.spark.job_name}_progress.json"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write(settings: Settings, data: dict[str, Any]) -> None:
    """Replace the progress file with ``data`` (plus ``updated_at``) in one rename."""
    write_json(progress_file(settings), {**data, "updated_at": now_iso()}, indent=2, durable=False)


def read(settings: Settings) -> dict[str, Any] | None:
    """The last progress written, or None when there is none (or it is unreadable)."""
    return read_json(progress_file(settings))


def fetch(url: str) -> dict[str, Any] | None:
    """The driver's progress from its metrics port (``spark.progress_url``, its ``/progress``),
    or None when it does not answer (logged)."""
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as reply:  # noqa: S310
            data = json.load(reply)
    except (OSError, ValueError) as exc:
        log.warning("stream_progress_unreadable url=%s error=%s", url, exc)
        return None
    return data if isinstance(data, dict) else None


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def batch_summary(progress: dict[str, Any], counts: dict[str, Any] | None) -> dict[str, Any]:
    """The fields of a ``StreamingQueryProgress`` (as JSON) that status shows, plus counts
    and the batch's latency (``batch_writer.latency_summary``: p50/p99 ms, ingested → stored)."""
    durations = progress.get("durationMs") or {}
    sources = progress.get("sources") or [{}]
    end_offsets = sources[0].get("endOffset")
    if isinstance(end_offsets, str):
        end_offsets = json.loads(end_offsets)
    return {
        "batch_id": progress.get("batchId"),
        "timestamp": progress.get("timestamp"),
        "num_input_rows": progress.get("numInputRows"),
        "input_rows_per_second": progress.get("inputRowsPerSecond"),
        "processed_rows_per_second": progress.get("processedRowsPerSecond"),
        "batch_duration_ms": durations.get("triggerExecution"),
        "durations_ms": durations,
        "end_offsets": end_offsets,
        "valid_rows": (counts or {}).get("valid"),
        "rejected_rows": (counts or {}).get("rejected"),
        "stored_rows": (counts or {}).get("stored"),
        "latency_ms": (counts or {}).get("latency_ms"),
    }
