"""`userstream schema config`: the registry client's settings, as kafka-config prints Kafka's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from userstream.cli import _register, app
from userstream.config import load_settings
from userstream.errors import ConfigError
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


def _v2(tmp_path: Path, field: dict) -> Path:
    from userstream import schemas

    schema = schemas.load()
    schema["fields"].append({**field, "doc": "New in v2."})
    file = tmp_path / "user.v2.avsc"
    file.write_text(json.dumps(schema))
    return file


def test_check_reads_the_schema_in_use_and_passes_an_added_optional_field(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    file = _v2(tmp_path, {"name": "nickname", "type": ["null", "string"], "default": None})
    monkeypatch.setenv("USERSTREAM_KAFKA__VALUE_SCHEMA", str(file))
    done = cli.invoke(app, ["schema", "check", "--history-only"])
    assert done.exit_code == 0, done.output
    assert done.output == "compatible with the released versions (v1)\n"


def test_check_refuses_an_added_field_the_stream_cannot_store(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    file = _v2(tmp_path, {"name": "tags", "type": {"type": "array", "items": "string"}})
    monkeypatch.setenv("USERSTREAM_KAFKA__VALUE_SCHEMA", str(file))
    done = cli.invoke(app, ["schema", "check", "--history-only"])
    assert isinstance(done.exception, ConfigError), done.output
    assert str(done.exception).startswith(f"{file} cannot be used: the schema's added field 'tags'")
    assert "records.py" in str(done.exception)
