"""The Schema Registry client's settings: the one place they are built.

What confluent-kafka's ``SchemaRegistryClient`` takes (``url``, ``basic.auth.user.info``,
``ssl.*.location``), for the registry in use:

1. ``registry.url`` set: a registry of yours (Confluent's, Karapace, Apicurio's ccompat
   API, Redpanda's), with ``registry.username``/``password`` and the TLS file settings.
2. Unset: the local registry at ``registry.host:port``, with the login ``userstream stack
   up`` generates into ``<state>/secrets/registry.json`` (0600) before it starts it.

The password travels in this dict only: never on a command line, never in a log.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from userstream.errors import ConfigError
from userstream.files import write_private

if TYPE_CHECKING:
    from userstream.config import RegistrySettings, StatePaths

#: The local registry's user name (its password is generated).
LOCAL_USERNAME = "userstream"


@dataclass(frozen=True)
class Login:
    username: str
    password: str = field(repr=False)


def logins_file(paths: StatePaths) -> Path:
    return paths.secrets / "registry.json"


def local_login(paths: StatePaths) -> Login | None:
    """The local registry's generated login, or None before ``stack up`` made one."""
    try:
        data = json.loads(logins_file(paths).read_text())
        return Login(str(data["username"]), str(data["password"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{logins_file(paths)} cannot be read ({exc}).",
            hint="Remove it and run `userstream stack up` again: a new login is generated.",
        ) from exc


def ensure_local_login(paths: StatePaths) -> Login:
    """The local registry's login, generated (and kept, 0600) on first use."""
    login = local_login(paths)
    if login is None:
        login = Login(LOCAL_USERNAME, secrets.token_urlsafe(24))
        text = json.dumps({"username": login.username, "password": login.password})
        write_private(logins_file(paths), text)
    return login


def config(registry: RegistrySettings, paths: StatePaths) -> dict[str, str]:
    """``SchemaRegistryClient``'s configuration for the registry in use."""
    conf = {"url": registry.address}
    if registry.is_local:
        login = local_login(paths)
        if login is not None:
            conf["basic.auth.user.info"] = f"{login.username}:{login.password}"
        return conf
    if registry.username is not None:
        password = registry.password.get_secret_value() if registry.password else ""
        conf["basic.auth.user.info"] = f"{registry.username}:{password}"
    for key, value in (
        ("ssl.ca.location", registry.ssl_ca_location),
        ("ssl.certificate.location", registry.ssl_certificate_location),
        ("ssl.key.location", registry.ssl_key_location),
    ):
        if value is not None:
            conf[key] = str(value)
    return conf


def auto_register(registry: RegistrySettings) -> bool:
    """Whether the producer registers its schema on first use (default: locally only)."""
    return registry.is_local if registry.auto_register is None else registry.auto_register
