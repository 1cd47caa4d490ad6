"""Prometheus metrics of the producer, in the process's default registry.

Counters are per process, cumulative over every run in it (the Prometheus convention:
a scraper computes rates); a single run's figures are in ``ProduceSummary``. They live in
the default registry so whatever already exposes it (an Airflow worker, a test) sees them,
and :func:`serve_metrics` exposes it on 127.0.0.1 for ``userstream produce --metrics-port``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from prometheus_client import Counter, start_http_server


@dataclass(frozen=True)
class ProducerMetrics:
    fetched: Counter
    produced: Counter
    dead_lettered: Counter
    delivery_failures: Counter
    pages: Counter


@cache
def producer_metrics() -> ProducerMetrics:
    """The producer's counters, created once per process (a second registration would fail)."""
    return ProducerMetrics(
        fetched=Counter("userstream_users_fetched_total", "Users received from the API."),
        produced=Counter(
            "userstream_users_produced_total", "Users acknowledged by Kafka on the main topic."
        ),
        dead_lettered=Counter(
            "userstream_users_dead_lettered_total",
            "Users acknowledged by Kafka on the dead-letter topic.",
        ),
        delivery_failures=Counter(
            "userstream_delivery_failures_total", "Messages Kafka did not acknowledge."
        ),
        pages=Counter("userstream_pages_fetched_total", "Pages received from the API."),
    )


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    """Expose the default registry at ``http://<host>:<port>/metrics`` (a daemon thread)."""
    start_http_server(port, addr=host)
