"""The local Airflow's admin login: generated once into ``<state>/secrets/airflow-passwords.json``
(mode 0600, never logged), read by ``up``, the REST client and the dashboard."""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from userstream.config import Settings
from userstream.errors import ConfigError
from userstream.host.state import secrets_dir, write_secret_json
from userstream.stack._airflow_env import (
    base_url as base_url,
)
from userstream.stack._airflow_env import (
    passwords_file,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    file: Path


def ensure_credentials(settings: Settings) -> tuple[Credentials, bool]:
    """The admin's credentials, generated on first call. True when created just now."""
    path = passwords_file(settings)
    user = settings.airflow.admin_user
    created = False
    passwords: dict[str, str] = {}
    if path.exists():
        passwords = _read_passwords(path)
    if user not in passwords:
        secrets_dir(settings.paths)
        passwords[user] = secrets.token_urlsafe(18)
        # Atomic and 0600 from its first byte: a crash never leaves an empty or partial file
        # (which would silently lead to another password), nor a readable one.
        write_secret_json(path, passwords)
        created = True
    path.chmod(0o600)
    return Credentials(user, passwords[user], path), created


def _read_passwords(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"The Airflow passwords file {path} cannot be read: {exc}.",
            hint="Delete it and run `userstream airflow up` to generate a new password.",
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"The Airflow passwords file {path} is not a JSON object.")
    return {str(k): str(v) for k, v in data.items()}


def credentials(settings: Settings) -> Credentials:
    """The generated admin credentials; ``ConfigError`` before the first ``up``."""
    path = passwords_file(settings)
    user = settings.airflow.admin_user
    passwords = _read_passwords(path) if path.exists() else {}
    if user not in passwords:
        raise ConfigError(
            f"No Airflow password for {user!r} yet.", hint="Run `userstream airflow up` first."
        )
    return Credentials(user, passwords[user], path)
