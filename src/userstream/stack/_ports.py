"""Refusing to start on a port another program holds."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from userstream.errors import ConfigError
from userstream.host import process
from userstream.host.net import listener_pids, port_free

if TYPE_CHECKING:
    from userstream.config import StatePaths


class ServerNode(Protocol):
    """A node of Kafka or Cassandra, as far as its ports are concerned."""

    @property
    def name(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def metrics_host(self) -> str: ...


def require_free(label: str, host: str, ports: list[int], env: str) -> None:
    """Raise ``ConfigError`` naming the first taken port, its holder when known, and the fix."""
    for port in ports:
        if port_free(host, port):
            continue
        holders = sorted(listener_pids(port))
        who = f" by pid {', '.join(map(str, holders))}" if holders else ""
        raise ConfigError(
            f"{label} cannot start: port {port} on {host} is already in use{who}.",
            hint=f"Stop that program, or choose another port (e.g. {env}).",
        )


def require_free_nodes(
    paths: StatePaths,
    label: str,
    nodes: Iterable[ServerNode],
    ports: tuple[list[int], str],
    metrics: tuple[int, str],
) -> None:
    """``require_free`` for each node that does not run yet: its ``ports`` on its host and
    its metrics port on its metrics host, each with the variable that moves it."""
    for node in nodes:
        if process.running(paths, node.name) is None:
            require_free(label, node.host, *ports)
            require_free(label, node.metrics_host, [metrics[0]], metrics[1])
