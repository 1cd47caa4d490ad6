"""The per-micro-batch write (``foreachBatch``): one Spark job per micro-batch.

The records of a micro-batch (the Kafka source's columns as ``SOURCE_COLUMNS`` cuts them,
selected by ``query.start_query``) are judged, cleaned and written by
``cassandra_writer.write_partition``, which returns the counts: the job's result *is* the
batch's counts, so progress, status and quality need no extra count job, and each value is
parsed once. Where it runs depends on the batch's size:

- up to ``spark.driver_write_max_rows`` records (a real-time trickle; every batch when
  ``spark.max_offsets_per_trigger`` is no larger, the defaults): in this driver process, on
  the records one ``collect`` brings back. Handing a partition to a Python
  worker costs ~200 ms per micro-batch, more than writing a few hundred users;
- more (a backlog): each Kafka partition in an executor's Python worker, in parallel, so a
  drain scales with the executors. The first, bounded ``collect`` is then thrown away; after
  a big batch the next goes to the executors without it.

Beside its counts, each batch reports its latency (p50/p99 ms from each stored user's
``ingested_at`` to the moment its write was acknowledged, from a bounded sorted sample per
partition) and its newest stored users (at most ``NEWEST_USERS``); the totals keep the newest
across batches. The progress file carries both, for the dashboard.

Guarantee: effectively exactly-once into Cassandra. Spark records a micro-batch's offsets
in the checkpoint before running it and commits it only after this function returns, so a
crash replays the same offsets, and every write is an upsert keyed by what the record
determines (see ``cassandra_writer``). A failed batch (Cassandra away past the retry deadline)
raises; it is not committed and is replayed whole.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from userstream import schemas
from userstream.config import KafkaSettings, Settings
from userstream.contract import (
    BY_COUNTRY_TABLE,
    H_INGESTED_AT,
    H_SOURCE_URL,
    PROFILES_TABLE,
    REJECTS_TABLE,
)
from userstream.kafka import client_config
from userstream.registry import client_config as registry_config
from userstream.store import Tls
from userstream.streaming import cassandra_writer
from userstream.streaming.cassandra_writer import SinkConfig, write_partition
from userstream.streaming.counts import NEWEST_USERS, add_reason
from userstream.streaming.metrics import StreamMetrics
from userstream.streaming.records import MAX_KEY_BYTES, MAX_MESSAGE_BYTES, MAX_RAW_CHARS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["BY_COUNTRY_TABLE", "PROFILES_TABLE", "REJECTS_TABLE", "BatchWriter"]

log = logging.getLogger(__name__)


def _header(name: str) -> str:
    """The value of the first header called ``name`` (null when there is none). Positions,
    not a lambda: ``filter(headers, h -> …)`` cannot be compiled into the stage, and Spark
    then generates the whole projection again in every task (a sixth of its CPU at 1,000
    users/s). ``get`` is null for the -1 of an absent header."""
    return f"get(headers.value, array_position(headers.key, '{name}') - 1)"


def _capped(column: str, keep: int, above: int) -> str:
    """``column`` whole up to ``above`` bytes, else only its first ``keep`` bytes: a huge
    message never reaches Python (or the driver's memory) whole; it is rejected by size."""
    cut = f"substring({column}, 1, {keep})"
    return f"CASE WHEN length({column}) > {above} THEN {cut} ELSE {column} END"


#: The Kafka source columns ``cassandra_writer.write_partition`` reads, in its order: key and
#: value (capped) with their sizes, the timestamp as epoch ms (pyspark would turn a timestamp
#: into the host's local time) and only the two headers a row keeps. The stream selects them
#: (``query.start_query``), so they are planned with the micro-batch, not again in here.
SOURCE_COLUMNS = (
    _capped("key", MAX_KEY_BYTES, MAX_KEY_BYTES),
    "length(key)",
    _capped("value", MAX_RAW_CHARS, MAX_MESSAGE_BYTES),
    "length(value)",
    "topic",
    "partition",
    "offset",
    "unix_millis(timestamp)",
    _header(H_INGESTED_AT),
    _header(H_SOURCE_URL),
)


def kafka_client_options(kafka: KafkaSettings) -> dict[str, str]:
    """Options for Spark's Kafka source: the stream role's connection (``kafka.*``) and
    consumer groups named as its ACL allows."""
    return {
        **client_config.spark_options(kafka, "stream"),
        "groupIdPrefix": client_config.STREAM_GROUP_PREFIX,
    }


def latency_summary(ordered: list[float]) -> dict[str, int] | None:
    """p50 and p99 (nearest rank, ms) of sorted latencies; None when there are none."""
    if not ordered:
        return None
    n = len(ordered)
    return {
        "p50": round(ordered[math.ceil(0.5 * n) - 1]),
        "p99": round(ordered[math.ceil(0.99 * n) - 1]),
    }


def newest_users(*groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``NEWEST_USERS`` latest by ``ingested_at`` of ``groups`` (newest first), each id
    once (a replayed batch shows its users again)."""
    merged: dict[str, dict[str, Any]] = {}
    for user in sorted(
        (u for group in groups for u in group),
        key=lambda u: u.get("ingested_at") or "",
        reverse=True,
    ):
        merged.setdefault(user["id"], user)
        if len(merged) == NEWEST_USERS:
            break
    return list(merged.values())


def sink_config(settings: Settings) -> SinkConfig:
    """What the workers need, as plain values (it is pickled with every task)."""
    from userstream.store import cassandra_credentials

    username, password = cassandra_credentials(settings)
    schema = schemas.in_use(settings.kafka.value_schema)
    c = settings.cassandra
    return SinkConfig(
        hosts=tuple(c.hosts),
        port=c.port,
        local_dc=c.local_dc,
        username=username,
        password=password,
        keyspace=c.keyspace,
        bootstrap_servers=settings.kafka.bootstrap_servers,
        kafka_config=tuple(sorted(client_config.config(settings.kafka, "stream").items())),
        dlq_topic=settings.kafka.dlq_topic,
        # Below the driver's stall timeout: a batch gives up (and is replayed) before the
        # driver decides it is stuck.
        retry_deadline_s=settings.spark.batch_timeout_s * 0.75,
        rejects_ttl_s=c.rejects_ttl_days * 86_400,
        tls=Tls.of(c),
        registry_config=tuple(
            sorted(registry_config.config(settings.registry, settings.paths).items())
        ),
        value_schema=None if schema.is_projects else schema.text,
        added=schema.added,
    )


#: How often the stream logs the sum of its micro-batches (``batches_written``).
LOG_EVERY_S = 60.0


@dataclass
class LogWindow:
    """The micro-batches of one ``batches_written`` line."""

    batches: int = 0
    valid: int = 0
    stored: int = 0
    rejected: int = 0
    max_ms: int = 0
    seconds: float = 0.0


@dataclass
class BatchLog:
    """Sums the micro-batches between two ``batches_written`` lines, one per ``every_s``."""

    every_s: float
    #: Batches summed since the process started (the first one is logged on its own).
    batches: int = 0
    _window: LogWindow = field(default_factory=LogWindow)
    _since: float = field(default_factory=lambda: time.monotonic())  # the clock at call time

    def add(self, counts: dict[str, Any]) -> LogWindow | None:
        """Add one batch's counts; the window, ended, once ``every_s`` has passed."""
        self.batches += 1
        w = self._window
        w.batches += 1
        w.valid += counts["valid"]
        w.stored += counts["stored"]
        w.rejected += counts["rejected"]
        w.max_ms = max(w.max_ms, counts["batch_ms"])
        now = time.monotonic()
        if now - self._since < self.every_s:
            return None
        w.seconds = now - self._since
        self._window, self._since = LogWindow(), now
        return w


@dataclass
class BatchWriter:
    """The ``foreachBatch`` function; keeps per-batch counts and running totals.

    ``totals`` counts each batch id once: a batch replayed in the same process (after a
    restart from the checkpoint) replaces its earlier counts instead of adding to them.
    """

    settings: Settings
    counts: dict[int, dict[str, Any]] = field(default_factory=dict)
    totals: dict[str, Any] = field(
        default_factory=lambda: {
            "batches": 0,
            "valid": 0,
            "stored": 0,
            "rejected": 0,
            "batch_ms": 0,
            "reasons": {},
            "newest": [],
        }
    )

    _config: SinkConfig | None = None
    _last_rows: int = 0
    _log: BatchLog = field(default_factory=lambda: BatchLog(LOG_EVERY_S))
    #: Held while ``totals`` changes (Spark's callback thread) and while the driver writes
    #: it to the progress file (its main thread).
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: The driver's Prometheus metrics (``streaming/metrics.py``), counted with the totals.
    metrics: StreamMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = StreamMetrics(self.settings.kafka.topic, self.settings.kafka.partitions)

    def warm_up(self) -> None:
        """Open the driver's Cassandra session now, so the first micro-batch does not wait
        for it. Best effort: when Cassandra is away, the first batch retries."""
        self._config = self._config or sink_config(self.settings)
        try:
            cassandra_writer.connect(self._config)
        except Exception as exc:  # noqa: BLE001 - any failure here is the first batch's to meet
            log.warning("cassandra_warm_up_failed error=%s", exc)

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        if self._config is None:
            self._config = sink_config(self.settings)
        # The wall-clock time of this batch: the only column not derived from the record.
        processed_at = dt.datetime.now(dt.UTC)
        write = functools.partial(write_partition, self._config, processed_at)
        spark = self.settings.spark
        most = spark.driver_write_max_rows
        rows: list[Any] | None
        if most > 0 and spark.max_offsets_per_trigger <= most:
            # No batch is bigger than what the driver writes (the defaults). Spark may give
            # a partition with a tiny share one record more than its share: still the driver's,
            # never a step into the executors that the next batches would follow.
            rows = batch.collect()
        else:
            # After a big batch the next one is likely big too (a backlog): skip the probe.
            probe = most > 0 and self._last_rows <= most
            rows = batch.limit(most + 1).collect() if probe else None
            if rows is not None and len(rows) > most:
                rows = None
        in_driver = rows is not None
        parts = list(write(rows)) if rows is not None else batch.rdd.mapPartitions(write).collect()
        counts: dict[str, Any] = {"valid": 0, "stored": 0, "rejected": 0, "reasons": {}}
        for part in parts:
            for key in ("valid", "stored", "rejected"):
                counts[key] += part[key]
            for reason, n in part["reasons"].items():
                counts["reasons"][reason] = counts["reasons"].get(reason, 0) + n
        # The slowest partition's time in the worker; the rest of batch_ms is Spark's.
        counts["worker_ms"] = max((part["worker_ms"] for part in parts), default=0)
        counts["newest"] = newest_users(*(part["newest"] for part in parts))
        latencies = sorted(ms for part in parts for ms in part["latency_ms"])
        counts["latency_ms"] = latency_summary(latencies)
        counts["batch_ms"] = int((time.monotonic() - started) * 1000)
        self._last_rows = counts["valid"] + counts["rejected"]
        self._add(batch_id, counts, latencies)
        keyspace = self.settings.cassandra.keyspace
        # A batch's own line at INFO only when it is the first or has rejects; the rest sum
        # into one line a minute (a line a batch, 3-4 a second under load, was ~100 MB a day).
        level = logging.INFO if counts["rejected"] or not self._log.batches else logging.DEBUG
        log.log(
            level,
            "batch_written batch=%d valid=%d stored=%d rejected=%d ms=%d worker_ms=%d "
            "written_by=%s keyspace=%s",
            batch_id,
            counts["valid"],
            counts["stored"],
            counts["rejected"],
            counts["batch_ms"],
            counts["worker_ms"],
            "driver" if in_driver else "executors",
            keyspace,
        )
        window = self._log.add(counts)
        if window is not None:
            log.info(
                "batches_written batches=%d valid=%d stored=%d rejected=%d max_ms=%d "
                "seconds=%.0f keyspace=%s",
                window.batches, window.valid, window.stored, window.rejected, window.max_ms,
                window.seconds, keyspace,
            )  # fmt: skip

    def _add(
        self,
        batch_id: int,
        counts: dict[str, Any],
        latencies: list[float] = (),  # type: ignore[assignment]
    ) -> None:
        with self.lock:
            self.metrics.record_batch(counts, self.counts.get(batch_id) or {}, latencies)
            self._add_locked(batch_id, counts)

    def _add_locked(self, batch_id: int, counts: dict[str, Any]) -> None:
        replayed = self.counts.get(batch_id) or {}
        for key in ("valid", "stored", "rejected", "batch_ms"):
            self.totals[key] += counts[key] - replayed.get(key, 0)
        reasons = self.totals["reasons"]
        for reason in set(counts["reasons"]) | set(replayed.get("reasons", {})):
            delta = counts["reasons"].get(reason, 0) - replayed.get("reasons", {}).get(reason, 0)
            add_reason(reasons, reason, delta)
        self.totals["batches"] += 0 if replayed else 1
        self.totals["newest"] = newest_users(counts["newest"], self.totals["newest"])
        self.counts[batch_id] = counts
        # Keep only recent batches; the progress file needs the last one.
        for old in [b for b in self.counts if b < batch_id - 10]:
            del self.counts[old]
