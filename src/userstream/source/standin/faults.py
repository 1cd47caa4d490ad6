"""What the stand-in can break on purpose, so clients and pipelines can be tested against it.

Counters are per server and deterministic: "every Nth request" counts API requests from 1
in arrival order, so a single-threaded client sees the same faults on every run.
"""

from __future__ import annotations

from dataclasses import dataclass

COWBOY = (
    "Whoa, ease up there cowboy. You've requested {users} users in the last minute. "
    "Help us keep this service free and spare some bandwidth for other users please :)"
)


@dataclass(frozen=True)
class Faults:
    """Fault injection for :class:`~userstream.source.standin.server.FakeApiServer`.

    - ``user_budget``: users each client (by IP) may fetch per ``budget_window_s``; past it
      the server answers 429 with the real service's "cowboy" message.
    - ``retry_after_s``: sent as ``Retry-After`` on 429 and on injected 5xx answers.
    - ``error_first`` / ``error_every``: the first N requests, and every Nth request, answer
      ``error_status`` (default 503) with an empty body, like the real service's bare 5xx.
    - ``latency_s``: added before every answer.
    - ``empty_first`` / ``empty_every``: answer 200 with ``"results": []``.
    - ``malformed_first`` / ``malformed_every``: answer 200 with a truncated JSON body.
    - ``dirty_share``: share (0..1) of users broken the way real data is broken (letters in
      phone numbers, coordinates out of range, a missing field, a null uuid, an age sent as
      a string); which users are dirty is decided by the seed, so it is reproducible.
    """

    user_budget: int | None = None
    budget_window_s: float = 300.0
    retry_after_s: int | None = None
    error_status: int = 503
    error_first: int = 0
    error_every: int = 0
    latency_s: float = 0.0
    empty_first: int = 0
    empty_every: int = 0
    malformed_first: int = 0
    malformed_every: int = 0
    dirty_share: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.dirty_share <= 1.0:
            raise ValueError(f"dirty_share must be within 0..1, got {self.dirty_share}")
        if not 100 <= self.error_status <= 599:
            raise ValueError(f"error_status must be an HTTP status, got {self.error_status}")


def hits(n: int, first: int, every: int) -> bool:
    """Whether request number ``n`` (from 1) falls on a ``first``/``every`` fault schedule."""
    return n <= first or (every > 0 and n % every == 0)
