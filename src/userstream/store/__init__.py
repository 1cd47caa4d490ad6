"""Cassandra access: credentials, sessions.

Every client of the project connects through ``connect``/``session``: authentication is
always on, with the generated superuser of the local stack (``<state>/secrets/cassandra.json``)
or the ``USERSTREAM_CASSANDRA__USERNAME``/``__PASSWORD`` of an existing cluster.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from userstream.config import CassandraSettings, Settings, StatePaths
from userstream.errors import ConfigError, TerminalError, TransientError

if TYPE_CHECKING:
    from cassandra.cluster import Cluster, Session
    from cassandra.policies import ReconnectionPolicy

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 30.0
#: Seconds between attempts to reach a node that went away. The driver's default backs off
#: exponentially to 10 minutes, so a session that saw a minute's outage would go on calling
#: the node down for up to another minute after it answers again.
RECONNECT_S = 1.0


#: The driver's loggers that warn at each attempt to reach a node that is down.
_RECONNECT_LOGGERS = ("cassandra.pool", "cassandra.cluster", "cassandra.connection")
#: At most one warning of a kind (logger, message, node) in this many seconds.
REPEAT_WARNING_S = 60.0
#: Kinds remembered at most.
_MOST_KINDS = 1000


class OncePerInterval(logging.Filter):
    """Lets the first warning of each kind (logger, message, first argument: the node)
    through, then one per ``interval_s``, saying how many like it were held back. A node
    down for an hour costs a few dozen lines per process instead of one a second
    (``RECONNECT_S``), and the first and the latest failure are still in the log."""

    def __init__(self, interval_s: float = REPEAT_WARNING_S) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._seen: dict[tuple[str, object, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        key = (record.name, record.msg, str(args[0]) if args else "")
        now = time.monotonic()
        with self._lock:
            if len(self._seen) >= _MOST_KINDS and key not in self._seen:
                self._seen.clear()  # bounded: warnings of ever new text start afresh
            last, held = self._seen.get(key, (None, 0))
            if last is not None and now - last < self.interval_s:
                self._seen[key] = (last, held + 1)
                return False
            self._seen[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} [{held} more like it in {self.interval_s:.0f} s not logged]"
        return True


_once_per_interval = OncePerInterval()


def _quiet_reconnect_warnings() -> None:
    """Install ``OncePerInterval`` on the driver's reconnect loggers (once per process)."""
    for name in _RECONNECT_LOGGERS:
        logger = logging.getLogger(name)
        if _once_per_interval not in logger.filters:
            logger.addFilter(_once_per_interval)


def reconnection_policy() -> ReconnectionPolicy:
    """Every session's policy for a node that went away: try again each ``RECONNECT_S``."""
    from cassandra.policies import ConstantReconnectionPolicy

    return ConstantReconnectionPolicy(RECONNECT_S, max_attempts=None)


@dataclass(frozen=True)
class Tls:
    """TLS to the nodes, as plain values: it travels to the stream's executors with its
    ``SinkConfig``. ``ca`` is the CA's PEM text (None: no TLS), ``client_cert`` the path of a
    PEM file holding this client's key and certificate chain, for nodes that require client
    certificates (it must exist at that path wherever the stream writes)."""

    ca: str | None = None
    check_hostname: bool = True
    client_cert: str | None = None
    key_password: str | None = field(default=None, repr=False)

    @classmethod
    def of(cls, c: CassandraSettings) -> Tls:
        password = c.tls_client_key_password
        return cls(
            ca=c.tls_ca,
            check_hostname=c.tls_check_hostname,
            client_cert=str(c.tls_client_cert) if c.tls_client_cert else None,
            key_password=password.get_secret_value() if password else None,
        )


def ssl_context(tls: Tls) -> ssl.SSLContext | None:
    """The driver's TLS context for ``tls``: nodes whose certificates its CA signed, each
    certificate checked against the address it was reached at (``check_hostname``; the
    driver connects to addresses, so the certificates need IP names), and this client's
    certificate when there is one; None without a CA: no TLS. Raises ``ConfigError`` for a
    CA that is no PEM certificate, or a client certificate that cannot be loaded."""
    if not tls.ca:
        if tls.client_cert:
            raise ConfigError(
                "A Cassandra client certificate is set (USERSTREAM_CASSANDRA__TLS_CLIENT_CERT) "
                "but no CA, so the connection would not use TLS.",
                hint="Set USERSTREAM_CASSANDRA__TLS_CA_FILE to the PEM file of the CA that "
                "signed the nodes' certificates.",
            )
        return None
    try:
        context = ssl.create_default_context(cadata=tls.ca)
    except (ValueError, ssl.SSLError) as exc:
        raise ConfigError(
            f"The Cassandra CA (USERSTREAM_CASSANDRA__TLS_CA) is not a PEM certificate: {exc}",
            hint="Point USERSTREAM_CASSANDRA__TLS_CA_FILE at the PEM file of the CA that "
            "signed the nodes' certificates.",
        ) from exc
    context.check_hostname = tls.check_hostname
    if tls.client_cert:
        try:
            context.load_cert_chain(tls.client_cert, password=tls.key_password)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"The Cassandra client certificate {tls.client_cert} cannot be loaded: {exc}",
                hint="USERSTREAM_CASSANDRA__TLS_CLIENT_CERT must name a readable PEM file "
                "holding the client's key and its certificate chain (with "
                "USERSTREAM_CASSANDRA__TLS_CLIENT_KEY_PASSWORD when the key is encrypted).",
            ) from exc
    return context


class LoginRefused(TerminalError):
    """Cassandra refused the login (the user or the password is wrong, or the role cannot log
    in); nothing else about the connection is known to be wrong."""


#: OpenSSL's words for a handshake that no retry mends: a certificate not trusted or not
#: naming the address, a node that does not speak TLS, or one that wants a client
#: certificate (others, such as an EOF from a node shutting down, stay transient).
_TLS_MISMATCH = ("CERTIFICATE_VERIFY_FAILED", "WRONG_VERSION_NUMBER", "CERTIFICATE_REQUIRED")


def credentials_file(paths: StatePaths) -> Path:
    return paths.secrets / "cassandra.json"


def cassandra_credentials(settings: Settings) -> tuple[str, str]:
    """(username, password): the settings' when both are set, else the stack's generated ones.

    Raises ``ConfigError`` when neither exists.
    """
    c = settings.cassandra
    if c.username and c.password is not None and c.password.get_secret_value():
        return c.username, c.password.get_secret_value()
    path = credentials_file(settings.paths)
    try:
        data = json.loads(path.read_text())
        return str(data["username"]), str(data["password"])
    except FileNotFoundError:
        raise ConfigError(
            f"No Cassandra credentials: {path} does not exist and "
            "USERSTREAM_CASSANDRA__USERNAME/__PASSWORD are not set.",
            hint="Run `userstream stack up` first (it creates them), or set both variables "
            "for an existing cluster.",
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"The Cassandra credentials file {path} cannot be read ({type(exc).__name__}).",
            hint="Restore it from a backup; it holds the only superuser of the local node.",
        ) from exc


def new_cluster(
    hosts: Sequence[str],
    port: int,
    local_dc: str,
    username: str,
    password: str,
    *,
    tls: Tls,
    connect_timeout: float,
    request_timeout: float,
) -> Cluster:
    """The one way this project builds a driver ``Cluster`` (sessions here, the stream's
    writer in ``cassandra_writer``): token-aware in ``local_dc``, ``LOCAL_QUORUM`` (with three
    replicas a read meets every acknowledged write, and one node may be lost), protocol v5,
    a node that went away tried every ``RECONNECT_S``, TLS when ``tls`` has a CA. Not
    connected yet. Raises ``TransientError`` when no host name resolves and ``ConfigError``
    for TLS settings that cannot work (``ssl_context``)."""
    from cassandra import (  # type: ignore[attr-defined]
        ConsistencyLevel,
        ProtocolVersion,
        UnresolvableContactPoints,
    )
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

    _quiet_reconnect_warnings()
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=local_dc)),
        consistency_level=ConsistencyLevel.LOCAL_QUORUM,
        request_timeout=request_timeout,
    )
    try:
        return Cluster(
            contact_points=list(hosts),
            port=port,
            auth_provider=PlainTextAuthProvider(username=username, password=password),
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            protocol_version=ProtocolVersion.V5,
            reconnection_policy=reconnection_policy(),
            connect_timeout=connect_timeout,
            control_connection_timeout=connect_timeout,
            ssl_context=ssl_context(tls),
        )
    except UnresolvableContactPoints:
        # A name nobody resolves: a typo, or a container network not up yet.
        raise TransientError(
            f"None of the Cassandra hosts {', '.join(hosts)} resolves to an address.",
            hint="Check USERSTREAM_CASSANDRA__HOSTS (and the machine's name resolution).",
        ) from None


def connect_as(
    cassandra: CassandraSettings,
    username: str,
    password: str,
    keyspace: str | None = None,
    *,
    timeout: float = CONNECT_TIMEOUT_S,
) -> Session:
    """A session logged in as ``username``; the caller shuts down ``session.cluster``.

    Raises ``LoginRefused`` when the login is refused, ``TerminalError`` when TLS cannot
    work (an untrusted certificate, a node without TLS) and ``TransientError`` when no node
    answers within ``timeout``.
    """
    from cassandra import AuthenticationFailed  # type: ignore[attr-defined]
    from cassandra.cluster import NoHostAvailable

    c = cassandra
    where = f"{','.join(c.hosts)}:{c.port}"
    cluster = new_cluster(
        c.hosts, c.port, c.local_dc, username, password,
        tls=Tls.of(c), connect_timeout=timeout, request_timeout=REQUEST_TIMEOUT_S,
    )  # fmt: skip
    try:
        with _driver_quiet():
            return cluster.connect(keyspace)
    except NoHostAvailable as exc:
        cluster.shutdown()
        # A dict of errors by host when no control connection could be made; a list of
        # hosts when the control connection logged in but no pool did (a login being
        # disabled right now): nothing to tell, so the caller tries again.
        errors = exc.errors.values() if isinstance(exc.errors, dict) else ()
        if any(isinstance(e, AuthenticationFailed) for e in errors):
            raise LoginRefused(
                f"Cassandra at {where} refused the login of {username!r}.",
                hint="Check USERSTREAM_CASSANDRA__USERNAME/__PASSWORD, or the credentials "
                "in the state folder's secrets/cassandra.json.",
            ) from None
        # The driver hands a failed handshake over as an OSError quoting OpenSSL's words.
        tls = [e for e in errors if any(word in str(e) for word in _TLS_MISMATCH)]
        if tls:
            raise TerminalError(
                f"TLS with Cassandra at {where} failed: {tls[0]}",
                hint="USERSTREAM_CASSANDRA__TLS_CA_FILE must name the CA that signed the "
                "nodes' certificates, and each certificate the address it is reached at "
                "(or set USERSTREAM_CASSANDRA__TLS_CHECK_HOSTNAME=false); nodes that require "
                "client certificates need USERSTREAM_CASSANDRA__TLS_CLIENT_CERT.",
            ) from None
        hint = (
            "Start the local one with `userstream stack up`, or check "
            "USERSTREAM_CASSANDRA__HOSTS/__PORT (and __TLS_CA_FILE for nodes that require TLS)."
        )
        if c.tls_ca and not c.tls_client_cert and any(_ended_handshake(e) for e in errors):
            # What a node that requires client certificates does to a client without one;
            # a node shutting down does the same, so it stays worth another try.
            hint = (
                "The node ended the TLS handshake: if it requires client certificates "
                "(require_client_auth), set USERSTREAM_CASSANDRA__TLS_CLIENT_CERT."
            )
        said = f": {next(iter(errors))}" if errors else "."
        raise TransientError(f"No Cassandra node answered at {where}{said}", hint=hint) from exc
    except BaseException:
        cluster.shutdown()
        raise


def _ended_handshake(error: object) -> bool:
    return isinstance(error, ssl.SSLEOFError) or "EOF occurred in violation" in str(error)


@contextmanager
def _driver_quiet() -> Iterator[None]:
    """Hide the driver's own traceback of a failed connect: we raise one sentence instead."""
    driver_log = logging.getLogger("cassandra.cluster")
    before = driver_log.level
    driver_log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        driver_log.setLevel(before)


def connect(settings: Settings, keyspace: str | None = None) -> Session:
    """A session with the project's credentials (see ``cassandra_credentials``).

    The caller owns it and must call ``session.cluster.shutdown()``; prefer ``session()``.
    """
    username, password = cassandra_credentials(settings)
    return connect_as(settings.cassandra, username, password, keyspace)


@contextmanager
def session(settings: Settings, keyspace: str | None = None) -> Iterator[Session]:
    """``connect`` as a context manager that always shuts the cluster down."""
    sess = connect(settings, keyspace)
    try:
        yield sess
    finally:
        sess.cluster.shutdown()
