"""Prometheus metrics of the producer: live counters in the process, and every run's
counts added to a file that the dashboard serves (the textfile pattern for batch jobs).

Live: counters in the process's default registry, cumulative over every run in it (the
Prometheus convention: a scraper computes rates). :func:`serve_metrics` exposes them on
127.0.0.1 for ``userstream produce --metrics-port``.

Batch runs: a producer started by an Airflow task lives for seconds, so nothing could scrape
it. Each run therefore adds its counts, per topic, to ``<state>/metrics/producer.prom``
(:func:`record_run`) and stamps ``userstream_producer_last_run_timestamp_seconds``. The
dashboard, a long-running process, serves that file at ``/metrics`` — node_exporter's
textfile collector, without another process. We chose it over a Pushgateway because a laptop
without Docker has none to push to; the file is the same text a Pushgateway would hold. What it
serves (:func:`served_runs`) holds the configured topic's counters at 0 before its first run, so
a rate or an alert on them reads 0 rather than "no data"; the last-run stamp has no such zero
(0 would say 1970) and appears with the first run.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from userstream.config import StatePaths
from userstream.files import write_private

if TYPE_CHECKING:
    from prometheus_client.metrics import Counter as CounterChild

log = logging.getLogger(__name__)

USERS = "userstream_producer_users"
FETCHED = "userstream_producer_users_fetched"
PAGES = "userstream_producer_pages_fetched"
LAST_RUN = "userstream_producer_last_run_timestamp_seconds"
OUTCOMES = ("produced", "dead_lettered", "failed")
_USERS_HELP = "Users by outcome: acknowledged on the topic, on the dead-letter topic, or failed."
_FETCHED_HELP = "Users received from the API."
_PAGES_HELP = "Pages received from the API."


@dataclass(frozen=True)
class ProducerMetrics:
    fetched: Counter
    produced: CounterChild
    dead_lettered: CounterChild
    failed: CounterChild
    pages: Counter


@cache
def producer_metrics() -> ProducerMetrics:
    """The producer's counters, created once per process (a second registration would fail)."""
    users = Counter(USERS, _USERS_HELP, ["outcome"])
    return ProducerMetrics(
        fetched=Counter(FETCHED, _FETCHED_HELP),
        produced=users.labels(outcome="produced"),
        dead_lettered=users.labels(outcome="dead_lettered"),
        failed=users.labels(outcome="failed"),
        pages=Counter(PAGES, _PAGES_HELP),
    )


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    """Expose the default registry at ``http://<host>:<port>/metrics`` (a daemon thread)."""
    start_http_server(port, addr=host)


def runs_file(paths: StatePaths) -> Path:
    """Where every producer run's counts add up (served by the dashboard at ``/metrics``)."""
    return paths.root / "metrics" / "producer.prom"


def served_runs(path: Path, topic: str) -> str:
    """The runs' totals in ``path`` as Prometheus text, with each counter of ``topic`` (every
    outcome, users and pages fetched) at 0 until a run adds to it."""
    zeros = [(USERS, topic, outcome) for outcome in OUTCOMES] + [
        (FETCHED, topic, ""),
        (PAGES, topic, ""),
    ]
    return _render(dict.fromkeys(zeros, 0.0) | _read(path))


def record_run(paths: StatePaths, topic: str, counts: dict[str, int], pages: int) -> None:
    """Add one run's counts (``fetched`` and each of ``OUTCOMES``) to :func:`runs_file`.

    Best effort: the run's outcome does not depend on it, so a failure is logged, not raised.
    Runs that end at once take turns (a lock beside the file).
    """
    from userstream.host.locks import component_lock

    try:
        with component_lock(paths, "producer-metrics"):
            path = runs_file(paths)
            totals = _read(path)
            for outcome in OUTCOMES:
                key = (USERS, topic, outcome)
                totals[key] = totals.get(key, 0.0) + counts.get(outcome, 0)
            for name, n in ((FETCHED, counts.get("fetched", 0)), (PAGES, pages)):
                totals[(name, topic, "")] = totals.get((name, topic, ""), 0.0) + n
            totals[(LAST_RUN, topic, "")] = time.time()
            write_private(path, _render(totals))
    except OSError as exc:
        log.warning("producer_metrics_not_recorded file=%s error=%s", runs_file(paths), exc)


Key = tuple[str, str, str]  # (metric, topic, outcome or "")


def _read(path: Path) -> dict[Key, float]:
    """The totals in ``path`` (empty when missing or unreadable: counting starts afresh)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    totals: dict[Key, float] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                name = sample.name.removesuffix("_total")
                key = (name, sample.labels.get("topic", ""), sample.labels.get("outcome", ""))
                totals[key] = sample.value
    except ValueError as exc:
        log.warning("producer_metrics_file_unreadable file=%s error=%s", path, exc)
        return {}
    return totals


def _render(totals: dict[Key, float]) -> str:
    registry = CollectorRegistry()
    users = Counter(USERS, _USERS_HELP, ["topic", "outcome"], registry=registry)
    fetched = Counter(FETCHED, _FETCHED_HELP, ["topic"], registry=registry)
    pages = Counter(PAGES, _PAGES_HELP, ["topic"], registry=registry)
    last = Gauge(LAST_RUN, "When a producer run last ended (Unix time).", ["topic"],
                 registry=registry)  # fmt: skip
    for (name, topic, outcome), value in sorted(totals.items()):
        if name == USERS:
            users.labels(topic=topic, outcome=outcome).inc(value)
        elif name == FETCHED:
            fetched.labels(topic=topic).inc(value)
        elif name == PAGES:
            pages.labels(topic=topic).inc(value)
        elif name == LAST_RUN:
            last.labels(topic=topic).set(value)
    # Creation stamps would change on every rewrite; the file carries totals only.
    return (
        "\n".join(
            line
            for line in generate_latest(registry).decode().splitlines()
            if "_created" not in line
        )
        + "\n"
    )
