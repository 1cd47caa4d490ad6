"""One logging setup: JSON lines with the event and its fields where no terminal is attached
(a background process's log), human lines on a terminal."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from userstream import logs


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("batch_written batch=3 stored=1000", ("batch_written", {"batch": "3", "stored": "1000"})),
        ("stream_stalled error=Timed out after 30 s code=7",
         ("stream_stalled", {"error": "Timed out after 30 s", "code": "7"})),
        ("supervisor_stopped", ("supervisor_stopped", {})),
        ("Kafka: starting on 127.0.0.1:9092", None),
        ("landing batch 200 missing", None),
    ],
)  # fmt: skip
def test_an_event_and_its_fields_are_read_from_the_message(
    message: str, expected: tuple[str, dict[str, str]] | None
) -> None:
    assert logs.split_event(message) == expected


def _run(code: str) -> str:
    """stderr of a fresh process that sets logging up and logs (stderr is a pipe: no tty)."""
    done = subprocess.run(
        [sys.executable, "-c", "import logging\nfrom userstream import logs\n" + code],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stderr


def test_a_background_process_logs_one_json_object_per_line() -> None:
    err = _run(
        "logs.setup(logging.INFO)\n"
        "log = logging.getLogger('userstream.streaming.batch_writer')\n"
        "log.info('batch_written batch=%d stored=%d keyspace=%s', 3, 1000, 'ks')\n"
        "logging.getLogger('cassandra.cluster').warning('Host %s is down', '10.0.0.1')\n"
        "log.debug('not shown')\n"
    )
    lines = [json.loads(line) for line in err.splitlines()]
    assert len(lines) == 2, err
    ours, theirs = lines
    assert {k: ours[k] for k in ("event", "batch", "stored", "keyspace", "level", "logger")} == {
        "event": "batch_written", "batch": "3", "stored": "1000", "keyspace": "ks",
        "level": "info", "logger": "userstream.streaming.batch_writer",
    }  # fmt: skip
    assert ours["timestamp"].endswith("Z")
    assert theirs["event"] == "Host 10.0.0.1 is down" and theirs["level"] == "warning"


def test_a_person_at_a_terminal_reads_lines_not_json() -> None:
    err = _run(
        "logs.setup(logging.INFO, json=False)\n"
        "logging.getLogger('userstream.x').warning('driver_exited code=%d', 1)\n"
    )
    assert "driver_exited" in err and "code=1" in err
    with pytest.raises(ValueError):
        json.loads(err)
