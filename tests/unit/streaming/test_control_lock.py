"""start/run/drain check and start under one lock; a foreground run marks its pid file."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest

from userstream.config import Settings
from userstream.stack.process import Proc
from userstream.streaming import control


def _settings(tmp_path: Any) -> Settings:
    return Settings(state_dir=tmp_path)


def test_two_concurrent_starts_start_one_driver(tmp_path, monkeypatch: pytest.MonkeyPatch):
    settings = _settings(tmp_path)
    calls: list[int] = []

    def fake_start(s: Settings, timeout: float) -> Proc:
        calls.append(1)
        time.sleep(0.3)  # a slow start: the other caller must wait, not start a second one
        s.paths.run.mkdir(parents=True, exist_ok=True)
        s.paths.pid_file(s.spark.job_name).write_text(f"{os.getpid()}\n{control._own_marker()}\n")
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


def test_foreground_run_pid_file_carries_a_marker(tmp_path, monkeypatch: pytest.MonkeyPatch):
    settings = _settings(tmp_path)
    seen: dict[str, Any] = {}

    def fake_run(s: Settings, **kwargs: Any) -> dict[str, Any]:
        text = s.paths.pid_file(s.spark.job_name).read_text()
        seen["marker"] = text.partition("\n")[2].strip()
        seen["running"] = control.running(s)
        return {"state": "drained"}

    monkeypatch.setattr(control.job, "run", fake_run)
    assert control.run(settings, until_idle=True) == {"state": "drained"}
    assert seen["marker"]  # never empty: a recycled pid must not pass for the stream
    assert seen["running"] is not None and seen["running"].pid == os.getpid()
    assert not settings.paths.pid_file(settings.spark.job_name).exists()
    # A second run while one is "running" is refused.
    settings.paths.pid_file(settings.spark.job_name).write_text(
        f"{os.getpid()}\n{seen['marker']}\n"
    )
    with pytest.raises(control.UserstreamError, match="already running"):
        control.run(settings)
