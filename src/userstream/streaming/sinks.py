"""The per-micro-batch writes (``foreachBatch``): Cassandra tables and the dead-letter topic.

Guarantee: effectively exactly-once into Cassandra. Spark records a micro-batch's offsets
in the checkpoint before running it and commits it only after this function returns, so a
crash replays the same offsets; every write here is an upsert keyed by something the
record determines (``id`` for profiles, ``(country, registered_at, id)`` for the query
table, ``(topic, partition, offset)`` for rejects), so the replay converges to the same
rows. Write order: rejects (table, then DLQ topic), then profiles, then the query table;
any failure raises, the batch is not committed and is replayed whole.

The dead-letter topic is at-least-once: a replayed batch produces its rejects again. Each
DLQ message carries ``source_topic``/``source_partition``/``source_offset`` headers, the
key to deduplicate on; the rejects table is the exact record.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from userstream.config import Settings
from userstream.producing.messages import H_DLQ_REASON, H_INGESTED_AT
from userstream.streaming import transforms, validate

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

log = logging.getLogger(__name__)

PROFILES_TABLE = "user_profiles"
BY_COUNTRY_TABLE = "users_by_country"
REJECTS_TABLE = "user_profiles_rejects"
#: The same header the producer uses for its own dead letters.
DLQ_REASON_HEADER = H_DLQ_REASON


def kafka_client_options(settings: Settings) -> dict[str, str]:
    """``kafka.*`` options for Spark's Kafka source and sink (bootstrap plus extra config)."""
    options = {"kafka.bootstrap.servers": settings.kafka.bootstrap_servers}
    for key, value in settings.kafka.client_config.items():
        options[f"kafka.{key}"] = str(value)
    return options


def write_cassandra(rows: DataFrame, keyspace: str, table: str) -> None:
    """Upsert ``rows`` into ``keyspace.table`` (Cassandra writes are upserts by key)."""
    (
        rows.write.format("org.apache.spark.sql.cassandra")
        .options(keyspace=keyspace, table=table)
        .mode("append")
        .save()
    )


def write_dlq(rejected: DataFrame, settings: Settings) -> None:
    """Produce each rejected record to the DLQ topic: original key and value bytes, plus
    headers with the reason and the source position."""
    from pyspark.sql import functions as F

    def header(name: str, column: str) -> Column:
        return F.struct(F.lit(name).alias("key"), F.col(column).cast("binary").alias("value"))

    messages = rejected.select(
        F.col("kafka_key").alias("key"),
        F.col("kafka_value").alias("value"),
        F.array(
            header(DLQ_REASON_HEADER, "reason"),
            header("source_topic", "topic"),
            header("source_partition", "kafka_partition_text"),
            header("source_offset", "kafka_offset_text"),
            header(H_INGESTED_AT, "ingested_at_text"),
        ).alias("headers"),
    )
    (
        messages.write.format("kafka")
        .options(**kafka_client_options(settings))
        # Idempotent, fully acknowledged writes: a rejected record is data too.
        .option("kafka.enable.idempotence", "true")
        .option("kafka.acks", "all")
        .option("topic", settings.kafka.dlq_topic)
        .save()
    )


@dataclass
class BatchWriter:
    """The ``foreachBatch`` function; keeps per-batch counts and running totals.

    ``totals`` counts each batch id once: a batch replayed in the same process (after a
    restart from the checkpoint) replaces its earlier counts instead of adding to them.
    """

    settings: Settings
    counts: dict[int, dict[str, int]] = field(default_factory=dict)
    totals: dict[str, int] = field(
        default_factory=lambda: {
            "batches": 0,
            "valid": 0,
            "stored": 0,
            "rejected": 0,
            "batch_ms": 0,
        }
    )

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        from pyspark import StorageLevel
        from pyspark.sql import functions as F

        keyspace = self.settings.cassandra.keyspace
        started = time.monotonic()
        # The wall-clock time of this batch: the only column not derived from the record.
        # Tz-aware: pyspark would read a naive datetime as the host's local time.
        processed_at = dt.datetime.now(dt.UTC)
        judged = validate.with_reason(
            transforms.clean(transforms.parse(transforms.decode(batch)), keep_bytes=True)
        ).persist(StorageLevel.MEMORY_AND_DISK)
        profiles = None
        try:
            valid = judged.where(F.col("reason").isNull())
            rejected = judged.where(F.col("reason").isNotNull())
            n_rejected = rejected.count()
            if n_rejected:
                write_cassandra(
                    transforms.to_rejects(rejected, processed_at), keyspace, REJECTS_TABLE
                )
                write_dlq(
                    rejected.withColumns(
                        {
                            "kafka_partition_text": F.col("kafka_partition").cast("string"),
                            "kafka_offset_text": F.col("kafka_offset").cast("string"),
                            "ingested_at_text": F.date_format(
                                "ingested_at", "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"
                            ),
                        }
                    ),
                    self.settings,
                )
            profiles = transforms.to_profiles(valid, processed_at).persist(
                StorageLevel.MEMORY_AND_DISK
            )
            n_valid = judged.count() - n_rejected
            n_stored = profiles.count()
            if n_stored:
                write_cassandra(profiles, keyspace, PROFILES_TABLE)
                write_cassandra(transforms.to_by_country(profiles), keyspace, BY_COUNTRY_TABLE)
        finally:
            if profiles is not None:
                profiles.unpersist()
            judged.unpersist()
        counts = {
            "valid": n_valid,
            "rejected": n_rejected,
            "stored": n_stored,
            "batch_ms": int((time.monotonic() - started) * 1000),
        }
        replayed = self.counts.get(batch_id)
        for key, value in counts.items():
            self.totals[key] += value - (replayed or {}).get(key, 0)
        self.totals["batches"] += 0 if replayed else 1
        self.counts[batch_id] = counts
        # Keep only recent batches; the progress file needs the last one.
        for old in [b for b in self.counts if b < batch_id - 10]:
            del self.counts[old]
        log.info(
            "batch_written batch=%d valid=%d stored=%d rejected=%d keyspace=%s",
            batch_id,
            n_valid,
            n_stored,
            n_rejected,
            keyspace,
        )
