"""The one interface of the local runtime's data servers: Kafka (``stack/kafka.py``) and
Cassandra (``stack/cassandra.py``) are each a module of this shape, and ``stack/local.py``
starts, stops and reports them through it alone. mypy checks both modules against it where
``local.SERVERS`` lists them."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from userstream.config import Settings


@dataclass(frozen=True)
class ComponentStatus:
    """One part of ``stack status``: a process of ours, or a service of the user's."""

    name: str
    running: bool
    pid: int | None
    address: str
    version: str | None
    healthy: bool
    detail: str
    #: Where its Prometheus metrics are served (when it runs; None: not ours to know).
    metrics_url: str | None


def external(name: str, address: str, answers: bool, detail: str) -> ComponentStatus:
    """A service of the user's (an existing cluster, Compose's), judged by its answer alone:
    no pid, no version or metrics of ours."""
    return ComponentStatus(name, answers, None, address, None, answers, f"external: {detail}",
                           None)  # fmt: skip


def node_status(
    name: str,
    pid: int | None,
    address: str,
    version: str | None,
    healthy: bool,
    detail: str,
    metrics_url: str | None,
) -> ComponentStatus:
    """A local node's part: "not running" without a pid, else ``detail`` (what its answer
    said)."""
    running = pid is not None
    return ComponentStatus(name, running, pid, address, version, running and healthy,
                           detail if running else "not running", metrics_url)  # fmt: skip


class Node(Protocol):
    """One process of a server: its pid-file and log name."""

    @property
    def name(self) -> str: ...


class Server(Protocol):
    """A server the local runtime runs: one node, or the local cluster's ``CLUSTER_NODES``."""

    #: Its pid-file name when it runs as one node, and what the user reads.
    NAME: str
    LABEL: str
    CLUSTER_NODES: int

    def cluster_nodes(self, settings: Settings) -> Sequence[Node]: ...

    def clustered(self, settings: Settings) -> bool:
        """Whether the local cluster of it runs (or is left from one)."""
        ...

    def running_nodes(self, settings: Settings) -> set[str]:
        """The names of its nodes that run now."""
        ...

    def address(self, settings: Settings, *, cluster: bool = False) -> str: ...

    def serves(self, settings: Settings) -> bool:
        """Whether it answers clients now."""
        ...

    def version(self, settings: Settings) -> str | None: ...

    def check_ports(self, settings: Settings, *, cluster: bool = False) -> None:
        """Raise ``ConfigError`` when a port a node not running yet needs is taken."""
        ...

    def start(self, settings: Settings, *, cluster: bool = False) -> float | None:
        """Start it and wait until it serves; the seconds it took, None when it ran."""
        ...

    def stop(self, settings: Settings, *, keep: Collection[str] = ()) -> bool:
        """Stop its nodes but those named in ``keep``; whether one was running."""
        ...

    def status(self, settings: Settings) -> list[ComponentStatus]:
        """Its parts in ``stack status``: each local node, or the user's service it is."""
        ...
