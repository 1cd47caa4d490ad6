"""start/run/drain check and start under one lock; a foreground run records its pid file."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest

from userstream.config import Settings
from userstream.errors import TerminalError
from userstream.host import process
from userstream.host.process import Proc
from userstream.streaming import control


def _settings(tmp_path: Any) -> Settings:
    return Settings(state_dir=tmp_path)


def test_two_concurrent_starts_start_one_driver(tmp_path, monkeypatch: pytest.MonkeyPatch):
    settings = _settings(tmp_path)
    calls: list[int] = []

    def fake_start(s: Settings, timeout: float) -> Proc:
        calls.append(1)
        time.sleep(0.3)  # a slow start: the other caller must wait, not start a second one
        process.write_pid_file(s.paths, s.spark.job_name, os.getpid())
        return Proc(s.spark.job_name, os.getpid(), s.paths.log_file(s.spark.job_name))

    monkeypatch.setattr(control, "_start_detached", fake_start)
    results: list[Proc] = []
    threads = [
        threading.Thread(target=lambda: results.append(control.start(settings))) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(calls) == 1
    assert [p.pid for p in results] == [os.getpid(), os.getpid()]


def test_foreground_run_records_its_pid_file(tmp_path, monkeypatch: pytest.MonkeyPatch):
    settings = _settings(tmp_path)
    seen: dict[str, Any] = {}

    def fake_run(s: Settings, **kwargs: Any) -> dict[str, Any]:
        seen["pid_file"] = s.paths.pid_file(s.spark.job_name).read_text()
        seen["running"] = control.running(s)
        return {"state": "drained"}

    monkeypatch.setattr(control.job, "run", fake_run)
    assert control.run(settings, until_idle=True) == {"state": "drained"}
    # This process, with its start time: a recycled pid never passes for the stream.
    assert seen["pid_file"].split()[:2] == [
        str(os.getpid()),
        str(process.identity(os.getpid())).split()[0],
    ]
    assert seen["running"] is not None and seen["running"].pid == os.getpid()
    assert not settings.paths.pid_file(settings.spark.job_name).exists()
    # A second run while one is "running" is refused.
    settings.paths.pid_file(settings.spark.job_name).write_text(seen["pid_file"])
    with pytest.raises(TerminalError, match="already running"):
        control.run(settings)
