"""`userstream schema config`: the registry client's settings, as kafka-config prints Kafka's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from userstream.cli import _register, app
from userstream.config import load_settings
from userstream.registry.client_config import ensure_local_login


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    for name in ("URL", "USERNAME", "PASSWORD", "PORT"):
        monkeypatch.delenv(f"USERSTREAM_REGISTRY__{name}", raising=False)
    monkeypatch.setenv("USERSTREAM_STATE_DIR", str(tmp_path / "state"))
    _register()
    return CliRunner()


def test_the_local_registrys_url_and_generated_login(cli: CliRunner, tmp_path: Path) -> None:
    login = ensure_local_login(load_settings(state_dir=tmp_path / "state").paths)
    done = cli.invoke(app, ["schema", "config", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == {
        "url": "http://127.0.0.1:8085",
        "basic.auth.user.info": f"userstream:{login.password}",
    }


def test_a_registry_of_yours_as_a_properties_file(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USERSTREAM_REGISTRY__URL", "https://registry.example:8081/")
    monkeypatch.setenv("USERSTREAM_REGISTRY__USERNAME", "team")
    monkeypatch.setenv("USERSTREAM_REGISTRY__PASSWORD", "pw")
    monkeypatch.setenv("USERSTREAM_REGISTRY__SSL_CA_LOCATION", "/etc/ca.pem")
    done = cli.invoke(app, ["schema", "config"])
    assert done.exit_code == 0, done.output
    assert done.output.splitlines() == [
        "url=https://registry.example:8081",
        "basic.auth.user.info=team:pw",
        "ssl.ca.location=/etc/ca.pem",
    ]
