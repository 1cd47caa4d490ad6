"""First-start security of the local Cassandra node: a generated superuser, no default login.

On a fresh node the default ``cassandra``/``cassandra`` role is used exactly once, to create a
superuser with a random name suffix and a strong password; the credentials are written to
``<state>/secrets/cassandra.json`` (0600, folder 0700) *before* the role exists, so a crash in
between is repaired on the next start instead of locking us out. Then the new user disables the
default role (no login, no superuser, random password), and the default login is tried until
it is refused: each node caches roles and credentials for a while (``roles_validity``,
``credentials_validity``: 2 s locally), so "disabled" is only believed once it is seen.

On the local cluster (``auth_replication``), ``system_auth`` then gets the keyspaces'
replication. A fresh cluster is secured on its first node alone, before the others join
(``stack.cassandra``): each joining node streams the roles as it bootstraps, so every node
holds them, the roles are found at LOCAL_QUORUM with any node lost, and no replica keeps a
default role that is still enabled. With every node up, the roles are also read back at
ALL, which repairs a replica that lacks a row (a start interrupted before the others
joined). There is no JMX for ``nodetool repair``; none is needed.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from cassandra import (  # type: ignore[attr-defined]
    ConsistencyLevel,
    DriverException,
    RequestExecutionException,
)
from cassandra.cluster import NoHostAvailable, Session
from cassandra.query import SimpleStatement

from userstream.config import CassandraSettings, Settings
from userstream.errors import TerminalError, TransientError
from userstream.host.state import secrets_dir, write_secret_json
from userstream.store import LoginRefused, cassandra_credentials, connect_as, credentials_file
from userstream.store.schema import replication_cql

log = logging.getLogger(__name__)

DEFAULT_ROLE = "cassandra"
#: The password every fresh Cassandra node ships with for DEFAULT_ROLE. It is not ours to
#: choose: it is tried once, to create the generated superuser, and then replaced by a
#: random password and disabled.
_FACTORY_PASSWORD = DEFAULT_ROLE
#: How long the default login may still be accepted once disabled: several times the
#: caches' validity (2 s locally, the usual default on clusters too).
REFUSAL_TIMEOUT_S = 30.0
REFUSAL_INTERVAL_S = 0.5


def _generated_credentials(settings: Settings) -> tuple[str, str]:
    path = credentials_file(settings.paths)
    if not path.is_file():
        secrets_dir(settings.paths)
        username = f"userstream_admin_{secrets.token_hex(4)}"
        write_secret_json(path, {"username": username, "password": secrets.token_urlsafe(32)})
        log.info("cassandra credentials generated file=%s user=%s", path, username)
    return cassandra_credentials(settings)


def _quote(value: str) -> str:
    # Role DDL takes no bind markers; the values are generated (URL-safe) but quote anyway.
    return "'" + value.replace("'", "''") + "'"


def secure_node(settings: Settings, *, auth_replication: dict[str, Any] | None = None) -> None:
    """Make sure the generated superuser exists and the default login is refused.

    Idempotent and cheap once done (one login, one read, one refused login). Raises
    ``TerminalError`` when neither the stored credentials nor the default ones are accepted
    (the node's roles were changed by hand, or the secrets file belongs to another data
    folder), and when the default login is still accepted ``REFUSAL_TIMEOUT_S`` after it was
    disabled. An operator-managed login (``cassandra.username``/``password``) is not ours to
    set up: nothing is checked then. ``auth_replication``: the local cluster's replication,
    for ``system_auth`` too.
    """
    c = settings.cassandra
    if c.username and c.password is not None:
        return  # An operator-managed login; nothing of ours to set up.
    _secure_with(settings, *_generated_credentials(settings), auth_replication=auth_replication)


def secure_configured_login(settings: Settings) -> None:
    """For clusters and Docker Compose: make the configured login a superuser, disable the default.

    Uses ``settings.cassandra.username``/``password``. When that login is refused, it is
    created through the default ``cassandra`` login, which is then disabled. Idempotent.
    """
    c = settings.cassandra
    if not (c.username and c.password is not None):
        raise TerminalError(
            "No Cassandra login is configured to set up.",
            hint="Set USERSTREAM_CASSANDRA__USERNAME and USERSTREAM_CASSANDRA__PASSWORD "
            "(for Docker Compose: in .env).",
        )
    _secure_with(settings, c.username, c.password.get_secret_value())


def _secure_with(
    settings: Settings,
    username: str,
    password: str,
    *,
    auth_replication: dict[str, Any] | None = None,
) -> None:
    # The local cluster's first node alone (``stack.cassandra``), before the others join.
    first_alone = auth_replication is not None and len(settings.cassandra.hosts) == 1
    try:
        sess = connect_as(settings.cassandra, username, password)
    except LoginRefused:
        _create_superuser(settings, username, password)
        sess = connect_as(settings.cassandra, username, password)
    try:
        row = sess.execute(
            "SELECT can_login, is_superuser FROM system_auth.roles WHERE role = %s",
            (DEFAULT_ROLE,),
        ).one()
        if row is not None and (row.can_login or row.is_superuser):
            _disable_default(sess)
            log.info("cassandra default role disabled role=%s", DEFAULT_ROLE)
        if auth_replication is not None:
            # Last: on a first node alone, logins fail from here until a second node joins.
            _replicate_auth(sess, auth_replication, every_node=not first_alone)
    finally:
        sess.cluster.shutdown()
    if not first_alone:
        wait_default_refused(settings.cassandra)


def wait_default_refused(
    cassandra: CassandraSettings,
    timeout: float = REFUSAL_TIMEOUT_S,
    interval: float = REFUSAL_INTERVAL_S,
) -> None:
    """Return once Cassandra refuses the default ``cassandra``/``cassandra`` login.

    It is tried, not assumed: a node may accept it from its caches for a while after the
    role was disabled. Raises ``TerminalError`` when it is still accepted after ``timeout``
    and ``TransientError`` when no node answers.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            sess = connect_as(cassandra, DEFAULT_ROLE, _FACTORY_PASSWORD)
        except LoginRefused:
            return
        sess.cluster.shutdown()
        if time.monotonic() + interval > deadline:
            raise TerminalError(
                f"Cassandra still accepts the default {DEFAULT_ROLE!r} login "
                f"{timeout:.0f} s after it was disabled.",
                hint="Check the role (LIST ROLES as the project's superuser) and the node's "
                "authenticator; disable it by hand (ALTER ROLE cassandra WITH LOGIN = false "
                "AND SUPERUSER = false), then run the command again.",
            )
        log.info("cassandra default login still accepted retry_in_s=%.1f", interval)
        time.sleep(interval)


def _disable_default(sess: Session, attempts: int = 4) -> None:
    """Lock the default role; Cassandra 5 refuses a role's password change within 5 s of
    the last one ("can only be changed every 5000ms"), so that refusal is waited out."""
    statement = (
        f"ALTER ROLE {DEFAULT_ROLE} WITH PASSWORD = "
        f"{_quote(secrets.token_urlsafe(32))} AND SUPERUSER = false AND LOGIN = false"
    )
    for attempt in range(1, attempts + 1):
        try:
            sess.execute(statement)
            return
        except (DriverException, RequestExecutionException, NoHostAvailable) as exc:
            if "can only be changed every" not in str(exc) or attempt == attempts:
                raise TerminalError(
                    f"Cassandra refused to disable the default {DEFAULT_ROLE!r} login: {exc}.",
                    hint="Disable it by hand (ALTER ROLE cassandra WITH LOGIN = false), "
                    "then run the command again.",
                ) from None
            time.sleep(5.5)


def _replicate_auth(sess: Session, replication: dict[str, Any], *, every_node: bool) -> None:
    """``system_auth`` with ``replication`` (idempotent); with ``every_node`` up, its roles
    read back at ALL, which repairs a replica that lacks one. A node the others do not yet
    see up, a node still joining, or a role not yet on a quorum of replicas, is a
    ``TransientError``: the caller tries again."""
    from cassandra import (  # type: ignore[attr-defined]
        OperationTimedOut,
        ReadTimeout,
        Unauthorized,
        Unavailable,
    )
    from cassandra.protocol import ConfigurationException

    try:
        sess.execute(
            f"ALTER KEYSPACE system_auth WITH replication = {replication_cql(replication)}"
        )
        if every_node:
            every_role = "SELECT role FROM system_auth.roles"
            sess.execute(SimpleStatement(every_role, consistency_level=ConsistencyLevel.ALL))
    except (Unavailable, ReadTimeout, OperationTimedOut, Unauthorized, NoHostAvailable) as exc:
        raise TransientError(f"system_auth is not on every node yet: {exc}") from exc
    except ConfigurationException as exc:
        # A node still joining (seen while the cluster's third node bootstrapped): "Cannot
        # alter RF while some endpoints are not in normal state".
        if "not in normal state" not in str(exc):
            raise
        raise TransientError(f"a node is still joining the ring: {exc}") from exc


def _create_superuser(settings: Settings, username: str, password: str) -> None:
    try:
        sess = connect_as(settings.cassandra, DEFAULT_ROLE, _FACTORY_PASSWORD)
    except LoginRefused:
        raise TerminalError(
            "Cassandra refused both the stored superuser and the default login, so the "
            "project cannot log in.",
            hint=f"{credentials_file(settings.paths)} does not match the Cassandra data folder "
            f"(under {settings.paths.data}); restore the matching file, or remove "
            "both to start a fresh node.",
        ) from None
    try:
        sess.execute(
            f"CREATE ROLE IF NOT EXISTS {username} WITH PASSWORD = {_quote(password)} "
            "AND SUPERUSER = true AND LOGIN = true"
        )
        log.info("cassandra superuser created user=%s", username)
    finally:
        sess.cluster.shutdown()
