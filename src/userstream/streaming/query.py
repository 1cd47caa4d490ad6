"""The streaming query: Kafka source, ``foreachBatch`` writer, checkpoint and trigger, and the
tables it needs.

Source choices: ``startingOffsets=earliest`` applies only to the first start (afterwards the
checkpoint decides); ``failOnDataLoss=true`` because offsets that vanished before being
processed (retention, a recreated topic) are lost users, which must stop the stream loudly
rather than be skipped silently.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from userstream import schemas
from userstream.config import Settings
from userstream.contract import BY_COUNTRY_TABLE, PROFILES_TABLE, REJECTS_TABLE
from userstream.errors import ConfigError
from userstream.streaming.batch_writer import SOURCE_COLUMNS, BatchWriter, kafka_client_options

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
        columns = set(profiles.columns) if profiles is not None else set()
    missing = {PROFILES_TABLE, BY_COUNTRY_TABLE, REJECTS_TABLE} - tables
    if not missing:
        added = schemas.in_use(settings.kafka.value_schema).added
        wanted = ("fingerprint", *(f.name for f in added))
        missing = {f"{PROFILES_TABLE}.{name}" for name in wanted if name not in columns}
    if missing:
        raise ConfigError(
            f"Keyspace {keyspace!r} lacks {', '.join(sorted(missing))}.",
            hint="Run `userstream db init` first (it applies cassandra/init.cql).",
        )


#: Beside Spark's own files in a local checkpoint: the Kafka cluster whose offsets it holds.
KAFKA_MARK = "userstream-kafka.json"


def check_checkpoint_kafka(settings: Settings) -> None:
    """Raise ``ConfigError`` when the checkpoint holds offsets of another Kafka cluster.

    A checkpoint's offsets mean something only in the topic they were read from. The local
    runtime has two Kafkas (one node, or the three-node cluster, each with its own data) and
    a Kafka may be recreated: resumed against another one, Spark would skip the first users
    of a longer topic, or stop on a shorter one. The first start records the cluster's id
    (an older checkpoint without the record is taken as this cluster's). A checkpoint
    elsewhere (hdfs://, s3a://) is Spark's alone and is not checked.
    """
    if not settings.checkpoint_is_local():
        return
    from confluent_kafka.admin import AdminClient

    from userstream.files import write_json
    from userstream.kafka import client_config

    folder = settings.checkpoint_dir()
    mark = folder / KAFKA_MARK
    admin = AdminClient({**client_config.config(settings.kafka, "stream")})
    cluster_id = admin.describe_cluster(request_timeout=30).result().cluster_id
    if mark.is_file():
        recorded = json.loads(mark.read_text()).get("kafka_cluster_id")
        if recorded != cluster_id:
            raise ConfigError(
                f"The stream's checkpoint {folder} holds offsets of another Kafka cluster "
                f"(id {recorded}) than the one at {settings.kafka.bootstrap_servers} "
                f"(id {cluster_id}); resumed here, it would skip or refuse users.",
                hint="Point the stream at the Kafka it read before (the single node and "
                "`stack up --cluster` keep separate data), or give it another checkpoint "
                "(USERSTREAM_SPARK__CHECKPOINT_DIR) to read this topic from its beginning.",
            )
        return
    folder.mkdir(parents=True, exist_ok=True)
    write_json(mark, {"kafka_cluster_id": cluster_id, "topic": settings.kafka.topic})


def start_query(
    spark: SparkSession, settings: Settings, writer: BatchWriter, *, available_now: bool
) -> StreamingQuery:
    """Start the query from the checkpoint (or the topic's beginning on the first run).

    The source is cut to ``batch_writer.SOURCE_COLUMNS`` here, in the stream's own plan, which
    Spark plans once per micro-batch anyway: selected inside ``foreachBatch`` they would be
    analysed, optimised and compiled a second time for every batch (docs/performance.md)."""
    s = settings.spark
    source = (
        spark.readStream.format("kafka")
        .options(**kafka_client_options(settings.kafka))
        .option("subscribe", settings.kafka.topic)
        .option("startingOffsets", "earliest")
        .option("maxOffsetsPerTrigger", str(s.max_offsets_per_trigger))
        .option("includeHeaders", "true")
        .option("failOnDataLoss", "true")
        .load()
        .selectExpr(*SOURCE_COLUMNS)
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
