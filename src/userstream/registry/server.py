"""The local registry as a process: ``python -m userstream.registry`` (what ``userstream
stack up`` starts) runs ``serve`` in the foreground until SIGINT or SIGTERM.

It takes every setting from ``userstream.config.load_settings()`` (the environment and
``.env``): it listens on ``registry.host:port``, keeps its schemas in the compacted topic
``registry.topic`` of ``kafka.*`` (logged in as the admin role, created with
``kafka.replication_factor`` copies), reads that topic to its end before it answers, and asks
every client for the login ``registry.client_config.ensure_local_login`` keeps in the state
folder (generated there on first use: never on a command line).
"""

from __future__ import annotations

import errno
import logging
import socket

import uvicorn

from userstream.config import Settings
from userstream.errors import ConfigError
from userstream.registry.app import build_app
from userstream.registry.client_config import ensure_local_login
from userstream.registry.log import KafkaLog
from userstream.registry.store import Registry

log = logging.getLogger(__name__)


def bind(host: str, port: int) -> socket.socket:
    """Take ``host:port`` now, so a taken port fails with the fix instead of a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno != errno.EADDRINUSE:
            raise
        raise ConfigError(
            f"The schema registry cannot start: port {port} on {host} is already in use.",
            hint="Stop that program, or choose another port: USERSTREAM_REGISTRY__PORT.",
        ) from None
    return sock


def serve(settings: Settings) -> None:
    """Load the registry from its topic and serve it until SIGINT or SIGTERM."""
    r = settings.registry
    sock = bind(r.host, r.port)
    login = ensure_local_login(settings.paths)
    schema_log = KafkaLog(settings.kafka, r.topic)
    try:
        schema_log.start()
        registry = Registry(schema_log, default_compatibility=r.compatibility)
        registry.load()
        config = uvicorn.Config(
            build_app(registry, login.username, login.password),
            log_level="warning",
            access_log=False,
            lifespan="off",
            server_header=False,
        )
        log.info("registry_serving address=%s topic=%s kafka=%s compatibility=%s",
                 r.address, r.topic, settings.kafka.bootstrap_servers,
                 registry.compatibility())  # fmt: skip
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        schema_log.close()
        log.info("registry_stopped address=%s", r.address)
