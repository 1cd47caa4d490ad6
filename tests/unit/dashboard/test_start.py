"""`up` starting the dashboard as a background process: once, however many ask; `status`
finds it; it stops on SIGTERM and leaves no pid file."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from userstream import pipeline
from userstream.config import load_settings
from userstream.host import process
from userstream.host.net import free_ports


def test_two_concurrent_starts_start_one_dashboard_that_reports_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing answers where the dashboard looks: it must still serve, with notes.
    monkeypatch.setenv("USERSTREAM_KAFKA__BOOTSTRAP_SERVERS", f"127.0.0.1:{free_ports(1)[0]}")
    monkeypatch.setenv("USERSTREAM_CASSANDRA__PORT", str(free_ports(1)[0]))
    monkeypatch.setenv("USERSTREAM_AIRFLOW__PORT", str(free_ports(1)[0]))
    settings = load_settings(state_dir=tmp_path / "state", dashboard={"port": free_ports(1)[0]})
    said: list[str] = []
    urls: list[str] = []
    gate = threading.Barrier(2)

    def start() -> None:
        gate.wait()
        urls.append(pipeline._start_dashboard(settings, said.append))

    threads = [threading.Thread(target=start) for _ in range(2)]
    name = pipeline.dashboard_name(settings.dashboard)
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert urls == [pipeline.dashboard_url(settings.dashboard)] * 2
        assert urls[0] == f"http://127.0.0.1:{settings.dashboard.port}/"
        assert len([line for line in said if "dashboard: started" in line]) == 1, said
        proc = process.running(settings.paths, name)
        assert proc is not None
        status = Path(f"/proc/{proc.pid}/status").read_text()
        assert status.split("Umask:")[1].split()[0] == "0077"

        deadline = time.monotonic() + 60
        parts: dict[str, dict] = {}
        while "dashboard" not in parts and time.monotonic() < deadline:
            time.sleep(0.5)
            snapshot = httpx.get(f"{urls[0]}api/snapshot", timeout=5).json()
            parts = {p["name"]: p for p in snapshot.get("parts", [])}
        assert parts["dashboard"]["healthy"] and parts["dashboard"]["pid"] == proc.pid
        assert snapshot["dashboard_url"] == urls[0]
        assert not parts["kafka"]["healthy"] and snapshot["notes"]

        assert process.stop(settings.paths, name, timeout=10)
        assert not settings.paths.pid_file(name).exists()
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{urls[0]}healthz", timeout=2)
    finally:
        process.stop(settings.paths, name, timeout=10)
