"""`airflow up` without Airflow: its secrets exist (0600) before the first start and never
travel on a command line or in an environment, and two concurrent `up` start one Airflow."""

from __future__ import annotations

import configparser
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from userstream.config import Settings, load_settings
from userstream.host import process
from userstream.host.process import Proc
from userstream.stack import _airflow_env, airflow

KEYS = (("core", "fernet_key"), ("api_auth", "jwt_secret"), ("api", "secret_key"))


def read_keys(path: Path) -> dict[tuple[str, str], str]:
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(path)
    return {(section, key): cfg.get(section, key) for section, key in KEYS}


class FakeAirflow:
    """Stands in for the migrate and the component starts; records what they were given."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
        self.settings = settings
        self.real_start = process.start
        self.migrations = 0
        self.started: list[str] = []
        self.seen: list[tuple[Sequence[str], Mapping[str, str]]] = []
        monkeypatch.setattr(airflow, "_migrate", self.migrate)
        monkeypatch.setattr(process, "start", self.start)
        monkeypatch.setattr(airflow, "require_free", lambda *a: None)
        monkeypatch.setattr(airflow, "_wait_healthy", lambda *a: None)
        monkeypatch.setattr(airflow, "_wait_dags_parsed", lambda *a: None)

    def migrate(self, settings: Settings, env: dict[str, str], timeout: float) -> None:
        self.migrations += 1
        self.seen.append(([], env))

    def start(
        self, paths: Any, name: str, cmd: Sequence[str], *, env: Mapping[str, str], **_: Any
    ) -> Proc:
        self.seen.append((cmd, env))
        time.sleep(0.2)  # a slow start: a second `up` must wait for it, not start another
        self.started.append(name)
        # A sleeper plays the component: started and recorded like a real one.
        return self.real_start(paths, name, ["sleep", "300"])


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    settings = load_settings(state_dir=tmp_path / "state")
    try:
        yield settings
    finally:
        airflow.down(settings, timeout=5)


@pytest.fixture
def fake(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> FakeAirflow:
    return FakeAirflow(monkeypatch, settings)


def test_airflows_secrets_are_private_and_made_before_its_first_start(
    settings: Settings, fake: FakeAirflow
) -> None:
    keys_file = _airflow_env.keys_file(settings)
    assert not keys_file.exists()
    airflow.up(settings)
    assert keys_file.stat().st_mode & 0o777 == 0o600
    assert keys_file.parent.stat().st_mode & 0o777 == 0o700
    keys = read_keys(keys_file)
    Fernet(keys["core", "fernet_key"])  # a valid Fernet key
    assert len(keys["api_auth", "jwt_secret"]) >= 64  # long enough for HS512
    assert fake.migrations == 1 and len(fake.started) == 3
    for cmd, env in fake.seen:
        # Airflow reads them from the file: no secret on a command line, in an environment.
        assert env["AIRFLOW_CONFIG"] == str(keys_file)
        for secret in keys.values():
            assert secret not in " ".join(cmd)
            assert secret not in " ".join(env.values())
    # Made once: a later `up` keeps them (the Fernet key encrypts the metadata database).
    assert set(airflow.down(settings)) == set(airflow.COMPONENTS)
    airflow.up(settings)
    assert read_keys(keys_file) == keys


def test_an_older_airflow_homes_keys_are_kept(settings: Settings) -> None:
    home = _airflow_env.airflow_home(settings)
    home.mkdir(parents=True)
    fernet = Fernet.generate_key().decode()
    (home / "airflow.cfg").write_text(
        f"[core]\nfernet_key = {fernet}\nexecutor = LocalExecutor\n"
        "[api_auth]\njwt_secret = old-jwt\n[api]\nsecret_key = old-api\n"
    )
    keys = read_keys(_airflow_env.ensure_keys(settings))
    assert keys == {
        ("core", "fernet_key"): fernet,
        ("api_auth", "jwt_secret"): "old-jwt",
        ("api", "secret_key"): "old-api",
    }


def test_each_instance_gets_keys_of_its_own(settings: Settings) -> None:
    other = settings.model_copy(
        update={"airflow": settings.airflow.model_copy(update={"instance": "other"})}
    )
    one = read_keys(_airflow_env.ensure_keys(settings))
    two = read_keys(_airflow_env.ensure_keys(other))
    assert all(one[k] != two[k] for k in KEYS)


def test_two_concurrent_ups_start_airflow_once(settings: Settings, fake: FakeAirflow) -> None:
    gate = threading.Barrier(2)
    infos: list[airflow.AirflowInfo] = []

    def up() -> None:
        gate.wait()
        infos.append(airflow.up(settings))

    threads = [threading.Thread(target=up) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(fake.started) == sorted(
        _airflow_env.process_name(settings.airflow, c) for c in airflow.COMPONENTS
    )
    assert fake.migrations == 1
    assert sorted(len(info.started) for info in infos) == [0, 3]


def test_a_database_migrated_for_this_airflow_is_not_migrated_again(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _airflow_env.airflow_home(settings)
    home.mkdir(parents=True)
    env = _airflow_env.airflow_env(settings)
    runs: list[Sequence[str]] = []

    def migrate(cmd: Sequence[str], **_: Any) -> Any:
        runs.append(cmd)
        (home / "airflow.db").touch()  # what `airflow db migrate` makes
        return type("Done", (), {"returncode": 0})()

    monkeypatch.setattr(airflow.subprocess, "run", migrate)
    airflow._migrate(settings, env, timeout=60)  # no database yet: migrated
    stamp = (home / airflow.MIGRATED_STAMP).read_text()
    assert stamp == airflow.migration_stamp(env) and len(runs) == 1
    assert (home / airflow.MIGRATED_STAMP).stat().st_mode & 0o077 == 0
    airflow._migrate(settings, env, timeout=60)  # the same Airflow, the same database
    assert len(runs) == 1
    # Another Airflow version (or provider), another database file, or no database file:
    # migrated again.
    (home / airflow.MIGRATED_STAMP).write_text("an older Airflow's stamp")
    airflow._migrate(settings, env, timeout=60)
    assert len(runs) == 2
    (home / "airflow.db").unlink()
    airflow._migrate(settings, env, timeout=60)
    assert len(runs) == 3


def test_only_a_sqlite_file_that_exists_is_trusted_to_the_stamp(tmp_path: Path) -> None:
    db = tmp_path / "airflow.db"
    sqlite = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db}"}
    assert airflow.migration_stamp(sqlite) is None  # no file yet
    db.touch()
    assert airflow.migration_stamp(sqlite) == airflow.migration_stamp(dict(sqlite))
    other = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'x.db'}"}
    (tmp_path / "x.db").touch()
    assert airflow.migration_stamp(other) != airflow.migration_stamp(sqlite)
    # A server database may be emptied behind our back; a _CMD URL is not known here.
    assert (
        airflow.migration_stamp({"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://h/a"}) is None
    )
    assert (
        airflow.migration_stamp({**sqlite, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD": "x"}) is None
    )
