"""Refusing to start on a port another program holds."""

from __future__ import annotations

from userstream.errors import ConfigError
from userstream.host.net import listener_pids, port_free


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
