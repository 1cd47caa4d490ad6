"""The streaming query: Kafka source, ``foreachBatch`` writer, checkpoint and trigger, and the
tables it needs.

Source choices: ``startingOffsets=earliest`` applies only to the first start (afterwards the
checkpoint decides); ``failOnDataLoss=true`` because offsets that vanished before being
processed (retention, a recreated topic) are lost users, which must stop the stream loudly
rather than be skipped silently.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from userstream.config import Settings
from userstream.contract import BY_COUNTRY_TABLE, PROFILES_TABLE, REJECTS_TABLE
from userstream.errors import ConfigError
from userstream.streaming.sinks import BatchWriter, kafka_client_options

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.streaming import StreamingQuery


def check_tables(settings: Settings) -> None:
    """Raise ``ConfigError`` unless the job's keyspace and tables exist."""
    from userstream.store import session

    keyspace = settings.cassandra.keyspace
    with session(settings) as sess:
        meta = sess.cluster.metadata.keyspaces.get(keyspace)
        tables = set(meta.tables) if meta is not None else set()
        profiles = meta.tables.get(PROFILES_TABLE) if meta is not None else None
        outdated = profiles is not None and "fingerprint" not in profiles.columns
    missing = {PROFILES_TABLE, BY_COUNTRY_TABLE, REJECTS_TABLE} - tables
    if missing or outdated:
        if not missing:
            missing = {f"{PROFILES_TABLE}.fingerprint"}
        raise ConfigError(
            f"Keyspace {keyspace!r} lacks {', '.join(sorted(missing))}.",
            hint="Run `userstream db init` first (it applies cassandra/init.cql).",
        )


def start_query(
    spark: SparkSession, settings: Settings, writer: BatchWriter, *, available_now: bool
) -> StreamingQuery:
    """Start the query from the checkpoint (or the topic's beginning on the first run)."""
    s = settings.spark
    source = (
        spark.readStream.format("kafka")
        .options(**kafka_client_options(settings))
        .option("subscribe", settings.kafka.topic)
        .option("startingOffsets", "earliest")
        .option("maxOffsetsPerTrigger", str(s.max_offsets_per_trigger))
        .option("includeHeaders", "true")
        .option("failOnDataLoss", "true")
        .load()
    )
    checkpoint = settings.checkpoint_location()
    if settings.checkpoint_is_local():
        settings.checkpoint_dir().mkdir(parents=True, exist_ok=True)
    stream = (
        source.writeStream.queryName(s.job_name)
        .foreachBatch(writer)
        .option("checkpointLocation", str(checkpoint))
    )
    if available_now:
        stream = stream.trigger(availableNow=True)
    else:
        stream = stream.trigger(processingTime=s.trigger_interval)
    return stream.start()
