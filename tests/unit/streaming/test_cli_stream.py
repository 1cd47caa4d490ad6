"""`userstream stream status` without a running stream, `--help` texts."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from userstream.cli import _stream


def _app() -> typer.Typer:
    app = typer.Typer()
    _stream.register(app)
    return app


def test_status_says_not_running_and_exits_1(tmp_path, monkeypatch):
    monkeypatch.setenv("USERSTREAM_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(_app(), ["stream", "status"])
    assert result.exit_code == 1
    assert "running" in result.output and "no" in result.output


def test_help_explains_the_commands():
    result = CliRunner().invoke(_app(), ["stream", "--help"])
    assert result.exit_code == 0
    for command in ("start", "stop", "run", "status"):
        assert command in result.output
    assert "exactly-once" in result.output
    result = CliRunner().invoke(_app(), ["db", "--help"])
    assert "init" in result.output
