"""`up` starting the local stand-in API as a background process: once, however many ask."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from userstream import pipeline
from userstream.config import load_settings
from userstream.host import process
from userstream.host.net import free_ports


def test_two_concurrent_starts_start_one_stand_in_and_it_runs_privately(tmp_path: Path) -> None:
    settings = load_settings(
        state_dir=tmp_path / "state",
        source={"fake_host": "127.0.0.1", "fake_port": free_ports(1)[0]},
    )
    said: list[str] = []
    urls: list[str] = []
    gate = threading.Barrier(2)

    def start() -> None:
        gate.wait()
        urls.append(pipeline._start_fake_api(settings, said.append))

    threads = [threading.Thread(target=start) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert len(urls) == 2 and urls[0] == urls[1]
        assert len([line for line in said if "stand-in started" in line]) == 1, said
        proc = process.running(settings.paths, pipeline.FAKE_API)
        assert proc is not None
        status = Path(f"/proc/{proc.pid}/status").read_text()
        assert status.split("Umask:")[1].split()[0] == "0077"
        assert os.stat(settings.paths.root).st_mode & 0o777 == 0o700
        assert os.stat(proc.log).st_mode & 0o777 == 0o600
    finally:
        process.stop(settings.paths, pipeline.FAKE_API, timeout=10)
