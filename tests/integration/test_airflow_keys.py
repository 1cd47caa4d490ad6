"""The real Airflow in a state folder of its own: it reads the secrets we generated (0600)
and writes nothing others can read — no ``airflow.cfg`` of its own, a private database."""

from __future__ import annotations

import configparser
import os
import stat
import subprocess
import sys
from pathlib import Path

from userstream.config import load_settings
from userstream.stack import _airflow_env, airflow

READ_CONF = (
    "from airflow.configuration import conf; "
    "print(conf.get('core', 'fernet_key')); "
    "print(conf.get('api_auth', 'jwt_secret')); "
    "print(conf.get('api', 'secret_key'))"
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_airflow_uses_our_private_keys_and_writes_privately(tmp_path: Path) -> None:
    before = os.umask(0o022)  # the usual umask: only our own doing makes anything private
    try:
        settings = load_settings(state_dir=tmp_path / "state")
        keys_file = _airflow_env.ensure_keys(settings)
        env = _airflow_env.airflow_env(settings)
        home = _airflow_env.airflow_home(settings)
        home.mkdir(mode=0o700)
        airflow._migrate(settings, env, timeout=120)
        seen = subprocess.run(
            [sys.executable, "-c", READ_CONF],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout.split()
    finally:
        os.umask(before)
    keys = configparser.ConfigParser(interpolation=None)
    keys.read(keys_file)
    assert seen == [
        keys.get("core", "fernet_key"),
        keys.get("api_auth", "jwt_secret"),
        keys.get("api", "secret_key"),
    ]
    assert mode(keys_file) == 0o600
    assert not (home / "airflow.cfg").exists(), "Airflow generated secrets of its own"
    assert mode(settings.paths.root) == 0o700
    assert mode(home / "airflow.db") == 0o600
    for folder in (p for p in home.rglob("*") if p.is_dir()):
        assert mode(folder) == 0o700, folder
    for file in (p for p in home.rglob("*") if p.is_file()):
        assert mode(file) == 0o600, file
