"""The stream's Prometheus metrics, served by the driver on 127.0.0.1 (``spark.metrics_port``).

- ``userstream_stream_rows_total{table, outcome}``: users stored in ``user_profiles`` and
  records written to ``user_profiles_rejects``;
- ``userstream_stream_rejects_total{reason}``: rejects by reason (without its particulars);
- ``userstream_stream_batch_duration_seconds``: each micro-batch's write, a histogram;
- ``userstream_stream_lag_messages{topic, partition}``: messages waiting after the last batch;
- ``userstream_end_to_end_latency_seconds``: ``ingested_at`` → the write acknowledged, a
  histogram of each batch's latency sample (at most 1,000 users per partition and batch, so
  its count is not the number of users: ``rows_total`` is).

Every series the alerts and the Grafana dashboard select exists from the start, at 0, so
they read 0 rather than "no data" before the first batch: both row counts, the rejects of
reason "other" (the one reason known in advance) and the lag of each configured partition
(``kafka.partitions``, until the first batch measures the topic's own).

A micro-batch replayed in the same driver counts once (the counters take the difference).
Metrics never stop the stream: a port that cannot be bound is logged and skipped.

The same port answers ``/progress`` with the driver's progress (what the progress file holds,
without the newest users' names) as JSON: how Airflow's ``ensure_stream`` judges a stream
whose state folder it does not share (``airflow.stream_progress_url``, on Kubernetes).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

from userstream.contract import PROFILES_TABLE, REJECTS_TABLE
from userstream.streaming.counts import OTHER_REASON

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0)
_BATCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class StreamMetrics:
    """One driver's metrics, in a registry of their own, for ``topic`` of ``partitions``."""

    def __init__(self, topic: str, partitions: int) -> None:
        self.registry = CollectorRegistry()
        self.rows = Counter(
            "userstream_stream_rows",
            "Rows the stream wrote, by table and outcome.",
            ["table", "outcome"],
            registry=self.registry,
        )
        self.rejects = Counter(
            "userstream_stream_rejects",
            "Records rejected, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.batch_duration = Histogram(
            "userstream_stream_batch_duration_seconds",
            "Time to write one micro-batch (Spark's read included).",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.lag = Gauge(
            "userstream_stream_lag_messages",
            "Messages of the topic not yet processed, after the last micro-batch.",
            ["topic", "partition"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "userstream_end_to_end_latency_seconds",
            "From the producer's ingested_at to the acknowledged write (sampled per batch).",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        # Every series exists from the start, so a dashboard shows 0 rather than nothing.
        self.rows.labels(PROFILES_TABLE, "stored")
        self.rows.labels(REJECTS_TABLE, "rejected")
        self.rejects.labels(OTHER_REASON)
        self._assumed = {(topic, str(partition)) for partition in range(partitions)}
        for labels in self._assumed:
            self.lag.labels(*labels)

    def serve(
        self,
        port: int,
        host: str = HOST,
        progress: Callable[[], dict[str, Any]] | None = None,
    ) -> str | None:
        """Serve ``/metrics`` (and ``/progress`` from ``progress``) on ``host``:``port`` (0:
        any free port); the metrics URL, or None when it cannot be served (logged, never
        raised)."""
        app = _app(make_wsgi_app(self.registry), progress)
        for candidate in dict.fromkeys((port, 0)):
            try:
                server = make_server(host, candidate, app, _Server, handler_class=_Quiet)
            except OSError as exc:
                log.warning("stream_metrics_port_taken port=%d error=%s", candidate, exc)
                continue
            threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
            shown = HOST if host in ("0.0.0.0", "::") else host  # noqa: S104 - compared
            return f"http://{shown}:{server.server_port}/metrics"
        return None

    def record_batch(
        self, counts: dict[str, Any], replayed: dict[str, Any], latency_ms: Sequence[float]
    ) -> None:
        """Count one written micro-batch (``replayed``: its earlier counts, or empty;
        ``latency_ms``: its latency sample)."""
        self.rows.labels(PROFILES_TABLE, "stored").inc(
            max(0, counts["stored"] - replayed.get("stored", 0))
        )
        self.rows.labels(REJECTS_TABLE, "rejected").inc(
            max(0, counts["rejected"] - replayed.get("rejected", 0))
        )
        before = replayed.get("reasons", {})
        for reason, n in counts["reasons"].items():
            if n > before.get(reason, 0):
                self.rejects.labels(reason).inc(n - before.get(reason, 0))
        self.batch_duration.observe(counts["batch_ms"] / 1000)
        if not replayed:
            for ms in latency_ms:
                self.latency.observe(ms / 1000)

    def record_lag(self, progress: dict[str, Any]) -> None:
        """Set the lag per partition from a ``StreamingQueryProgress`` (as JSON)."""
        measured = set()
        for source in progress.get("sources") or ():
            latest, done = _offsets(source.get("latestOffset")), _offsets(source.get("endOffset"))
            for topic, partitions in latest.items():
                for partition, end in partitions.items():
                    behind = max(0, int(end) - int(done.get(topic, {}).get(partition, end)))
                    self.lag.labels(topic, str(partition)).set(behind)
                    measured.add((topic, str(partition)))
        if measured:
            # A topic created earlier with fewer partitions than configured keeps its own
            # (topics.ensure_topics leaves it): the assumed ones it lacks go.
            for labels in self._assumed - measured:
                self.lag.remove(*labels)
            self._assumed = set()


def _offsets(value: Any) -> dict[str, dict[str, int]]:
    """Kafka source offsets (``{"topic": {"0": 12}}``, as JSON text or parsed)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Every scrape is not a log line."""


_App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _app(metrics: _App, progress: Callable[[], dict[str, Any]] | None) -> _App:
    """``/progress`` as JSON (404 without ``progress``); everything else Prometheus'."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/progress":
            return metrics(environ, start_response)
        if progress is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no progress here\n"]
        body = orjson.dumps(public_progress(progress()))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    return app


def public_progress(state: dict[str, Any]) -> dict[str, Any]:
    """The progress without the newest users (names and places: not for a metrics port)."""
    totals = {k: v for k, v in (state.get("totals") or {}).items() if k != "newest"}
    return {**state, "totals": totals}
