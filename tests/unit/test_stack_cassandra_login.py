"""Starting Cassandra: a login refusal that outlasts the wait is reported, not a timeout."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from userstream.config import Settings
from userstream.errors import TerminalError, TransientError
from userstream.stack import cassandra


def _fake_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, secure: Any) -> list[str]:
    stopped: list[str] = []
    monkeypatch.setattr(cassandra.process, "running", lambda paths, name: None)
    monkeypatch.setattr(cassandra.process, "start", lambda *a, **k: SimpleNamespace(pid=1))
    monkeypatch.setattr(
        cassandra.process, "stop", lambda paths, name, timeout: stopped.append(name)
    )
    monkeypatch.setattr(cassandra, "require_free", lambda *a: None)
    monkeypatch.setattr(cassandra, "require_java", lambda: "java")
    monkeypatch.setattr(cassandra.jars, "ensure_jars", lambda *a, **k: None)
    monkeypatch.setattr(cassandra, "_render_config", lambda settings: tmp_path / "c.yaml")
    monkeypatch.setattr(cassandra, "_command", lambda *a: ["true"])
    monkeypatch.setattr(cassandra, "_home", lambda settings: tmp_path)
    monkeypatch.setattr(cassandra, "secure_node", secure)

    def wait_ready(paths: Any, name: str, label: str, check: Any, **kw: Any) -> float:
        for _ in range(3):
            if check():
                return 1.0
        raise TransientError(f"{label} did not answer within 1 s, so it was stopped again.")

    monkeypatch.setattr(cassandra, "wait_ready", wait_ready)
    monkeypatch.setattr(cassandra, "port_open", lambda host, port: True)
    return stopped


def test_a_lasting_login_refusal_is_raised_instead_of_the_timeout(
    base_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def refuse(settings: Settings) -> None:
        raise TerminalError("secrets file does not match this node's data folder")

    stopped = _fake_start(monkeypatch, tmp_path, refuse)
    with pytest.raises(TerminalError, match="does not match this node's data folder"):
        cassandra._start_cassandra(base_settings)
    assert stopped == [cassandra.NAME]


def test_a_passing_refusal_is_retried(
    base_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[int] = []

    def refuse_once(settings: Settings) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise TerminalError("default role not there yet")

    _fake_start(monkeypatch, tmp_path, refuse_once)
    assert cassandra._start_cassandra(base_settings) == 2.0
    assert len(calls) == 2


def test_a_plain_timeout_stays_a_timeout(
    base_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def not_ready(settings: Settings) -> None:
        raise TransientError("auth tables not ready")

    _fake_start(monkeypatch, tmp_path, not_ready)
    with pytest.raises(TransientError, match="did not answer"):
        cassandra._start_cassandra(base_settings)
