"""Ports: is one free, who listens on it, is a server answering yet (TCP, HTTP)."""

from __future__ import annotations

import ipaddress
import os
import socket

import psutil


def port_free(host: str, port: int) -> bool:
    """True when nothing listens on ``host:port`` (a bind would succeed)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    # A listener on the wildcard address also takes the port for us.
    return not port_open(host, port)


_HANDED_OUT: set[int] = set()


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 right now (the kernel's picks), for a
    private stack of a test or a benchmark. A port is handed out once per process: the
    kernel may pick a port again as soon as it is released, before whoever it was given to
    has bound it, and two parts of one stack on one port fail the start."""
    socks: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            sock = socket.socket()
            socks.append(sock)  # held until the end, so the kernel picks another each time
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            if port not in _HANDED_OUT:
                ports.append(port)
        _HANDED_OUT.update(ports)
        return ports
    finally:
        for sock in socks:
            sock.close()


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when a TCP connect to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def listener_pids(port: int) -> set[int]:
    """Pids of the processes listening on TCP ``port``; empty when unknown (another user's
    process, or a system that shows sockets to root alone, as macOS does)."""
    try:
        sockets = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return set()
    return {
        s.pid
        for s in sockets
        if s.pid and s.status == psutil.CONN_LISTEN and s.laddr and s.laddr.port == port
    }


def process_group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def answers_http(url: str, timeout: float = 2.0) -> bool:
    """True when a GET of ``url`` answers 200 (a server that is up and ready)."""
    import httpx

    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def on_this_machine(host: str) -> bool:
    """Whether ``host`` names this machine's loopback (where the local runtime listens):
    ``localhost`` or a 127.x / ::1 address; a name is not looked up."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_address(address: str) -> tuple[str, int | None]:
    """``host:port`` (``[v6]:port`` too) as (host, port); a bare host has port None."""
    address = address.strip()
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else None
    host, sep, port = address.rpartition(":")
    if not sep or ":" in host:  # no port, or a bare IPv6 address
        return address, None
    return host, int(port)
