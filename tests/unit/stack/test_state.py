"""The state folder's layout version, secret files, ports, Java detection, role DDL quoting."""

from __future__ import annotations

import importlib.util
import json
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from userstream.config import Settings, StatePaths, load_settings
from userstream.errors import ConfigError
from userstream.host import net
from userstream.host.state import LAYOUT_VERSION, ensure_layout, secrets_dir, write_secret_json
from userstream.stack import _java, _ports, doctor
from userstream.stack._cassandra_auth import _quote
from userstream.store import cassandra_credentials


def test_layout_version_written_then_accepted(tmp_path: Path) -> None:
    paths = StatePaths(tmp_path / "s")
    ensure_layout(paths)
    assert (paths.root / "VERSION").read_text().strip() == LAYOUT_VERSION
    ensure_layout(paths)  # the same version is fine


def test_other_layout_version_is_refused(tmp_path: Path) -> None:
    paths = StatePaths(tmp_path / "s")
    paths.root.mkdir()
    (paths.root / "VERSION").write_text("999\n")
    with pytest.raises(ConfigError, match="another version"):
        ensure_layout(paths)


def test_secret_file_is_private(tmp_path: Path) -> None:
    paths = StatePaths(tmp_path / "s")
    folder = secrets_dir(paths)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    target = folder / "x.json"
    write_secret_json(target, {"username": "u", "password": "p"})
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert json.loads(target.read_text()) == {"username": "u", "password": "p"}


def test_credentials_from_file_then_settings_override(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path / "s")
    with pytest.raises(ConfigError, match="userstream stack up"):
        cassandra_credentials(settings)
    secrets_dir(settings.paths)
    write_secret_json(
        settings.paths.secrets / "cassandra.json", {"username": "gen", "password": "pw"}
    )
    assert cassandra_credentials(settings) == ("gen", "pw")
    override = load_settings(
        state_dir=tmp_path / "s", cassandra={"username": "ops", "password": "opspw"}
    )
    assert cassandra_credentials(override) == ("ops", "opspw")


def test_corrupt_credentials_file_is_a_clear_error(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path / "s")
    secrets_dir(settings.paths).joinpath("cassandra.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot be read"):
        cassandra_credentials(settings)


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port on 127.0.0.1 that a listener of this process holds."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_port_free_and_taken(held_port: int) -> None:
    assert not net.port_free("127.0.0.1", held_port)
    assert net.port_open("127.0.0.1", held_port)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        unused = probe.getsockname()[1]
    assert net.port_free("127.0.0.1", unused)


def test_taken_port_names_the_holder(held_port: int) -> None:
    import os

    assert os.getpid() in net.listener_pids(held_port)
    with pytest.raises(ConfigError, match=f"port {held_port} .* in use by pid {os.getpid()}"):
        _ports.require_free("Kafka", "127.0.0.1", [held_port], "USERSTREAM_KAFKA__PORT")


def test_doctor_flags_a_foreign_port(held_port: int, tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path / "s", airflow={"port": held_port})
    checks = {c.name: c for c in doctor._ports(settings)}
    bad = checks[f"port {held_port}"]
    assert not bad.ok
    assert "USERSTREAM_AIRFLOW__PORT" in bad.fix


def test_doctor_says_which_systems_the_local_runtime_supports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    here = doctor._system()
    assert here.ok and here.detail.startswith("Linux "), here  # this suite runs on Linux
    monkeypatch.setattr(doctor.platform, "system", lambda: "Darwin")
    mac = doctor._system()
    assert mac.ok and mac.detail.startswith("Darwin "), mac
    monkeypatch.setattr(doctor.platform, "system", lambda: "Windows")
    windows = doctor._system()
    assert not windows.ok
    assert "supports Linux and macOS only" in windows.detail
    assert "docker compose up" in windows.fix


def test_java_version_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    def fake_run(*_a: object, **_k: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess([], 0, "", 'openjdk version "1.8.0_292"\n')

    monkeypatch.setattr(_java.subprocess, "run", fake_run)
    assert _java.java_version("java") == 8
    monkeypatch.setattr(_java, "java_executable", lambda: "java")
    with pytest.raises(ConfigError, match="need Java 17"):
        _java.require_java()


def test_real_java_is_found() -> None:
    assert _java.java_version(_java.java_executable()) >= 17


def test_missing_java_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigError, match="Java is not installed"):
        _java.java_executable()


def test_role_ddl_quoting() -> None:
    assert _quote("ab'c") == "'ab''c'"


def test_airflow_password_is_written_once_privately_and_atomically(tmp_path: Path) -> None:
    from userstream.stack import airflow_credentials as airflow

    settings = load_settings(state_dir=tmp_path)
    creds, created = airflow.ensure_credentials(settings)
    assert created
    assert stat.S_IMODE(creds.file.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.paths.secrets.stat().st_mode) == 0o700
    assert json.loads(creds.file.read_text()) == {creds.username: creds.password}
    assert list(settings.paths.secrets.glob("*.tmp")) == []
    again, created_again = airflow.ensure_credentials(settings)
    assert (again.password, created_again) == (creds.password, False)


def test_without_pyspark_doctor_and_stream_start_say_which_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A producer-only install (no `stream` extra): told at once, not by a dying driver."""
    from userstream import extras
    from userstream.streaming import control

    assert doctor._pyspark().ok  # this environment has the extra
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "pyspark" else real_find_spec(name, *a),
    )
    check = doctor._pyspark()
    assert not check.ok and "userstream[stream]" in check.fix
    with pytest.raises(ConfigError, match="needs pyspark") as raised:
        control._prepare(Settings(state_dir=tmp_path))
    assert raised.value.hint == extras.PYSPARK_MISSING_HINT
