"""`userstream fake-api` as its own process: serves, injects faults, stops cleanly on SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import httpx


def test_fake_api_command_serves_and_stops_on_sigterm():
    proc = subprocess.Popen(
        [sys.executable, "-m", "userstream", "fake-api", "--port", "0", "--fault-error-first", "1"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = None
        assert proc.stderr is not None
        for line in proc.stderr:
            match = re.search(r"serving (http://\S+/api/1\.4/)", line)
            if match:
                url = match.group(1)
                break
        assert url, "the command never said where it serves"
        assert httpx.get(url, timeout=10).status_code == 503  # the injected first fault
        body = httpx.get(url, params={"results": 3, "seed": "cli"}, timeout=10).json()
        assert len(body["results"]) == 3
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
