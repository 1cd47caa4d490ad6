"""Drain rate of the Spark job against the raw Cassandra ceiling, measured in one run.

1. Pre-fill a fresh topic with N users: the stand-in's generator (API 1.4 shape), each
   message built like the producer builds it (key login.uuid, the value in
   ``kafka.value_format``: USERSTREAM_KAFKA__VALUE_FORMAT=json for JSON, the producer's
   headers with a fresh ingested_at) and sent through the producer's own Kafka sink.
2. Drain it with the job (``control.drain``: availableNow, maxOffsetsPerTrigger per
   micro-batch) into a fresh keyspace. Job rate = users stored / the micro-batches' own time
   (``totals.batch_ms``), and also / the wall clock (which adds the JVM start).
3. The ceiling: read back the rows the job wrote to both of its tables (user_profiles and
   users_by_country) and upsert exactly those rows into a second fresh keyspace with the
   same schema, from cassandra-driver (prepared INSERTs, ``execute_concurrent_with_args``,
   concurrency 128; absent values as UNSET, like the job: no tombstones), timing both
   tables' writes together. Ceiling = N / that time: what this machine's Cassandra takes
   of the same work from one Python client. ratio = job rate (batch time) / ceiling.
4. The batched ceiling: the same rows again, into a third keyspace, in unlogged batches of
   the job's size (``cassandra_writer.BATCH_ROWS``): what the job's own way of writing could
   reach with nothing else to do (no Kafka, no Spark, no judging). ratio_batched compares.

With --json the last line of stdout is one JSON object:
  {"users", "value_format", "job_users_per_s", "ceiling_users_per_s", "ratio",
   "batched_ceiling_users_per_s", "ratio_batched"}
  (job_users_per_s over the micro-batches' time; rates rounded to whole users/s).

Starts the local Kafka and Cassandra when they do not answer (and leaves them running, as
`userstream stack up` does). Everything it creates (both keyspaces, the topics, the
checkpoint) is removed after.
"""

from __future__ import annotations

import sys
import time

from _report import arg_parser, emit_json, job_settings, loud
from _scratch import scratch_keyspace, scratch_pipeline, with_keyspace
from cassandra.concurrent import execute_concurrent, execute_concurrent_with_args
from cassandra.query import UNSET_VALUE, BatchStatement, BatchType, SimpleStatement

from userstream import contract
from userstream.config import Settings
from userstream.contract import MAX_RESULTS
from userstream.errors import UserstreamError
from userstream.producing import messages
from userstream.producing.avro_values import value_encoder
from userstream.producing.metrics import producer_metrics
from userstream.producing.sink import KafkaSink
from userstream.source.standin.data import VERSION, make_page
from userstream.store import session
from userstream.streaming import control
from userstream.streaming.cassandra_writer import BATCH_ROWS

CONCURRENCY = 128
#: The tables the job writes each valid user to (cassandra/init.cql).
TABLES = ("user_profiles", "users_by_country")
SOURCE_URL = "bench_drain:stand-in-generator"
SEED = "bench-drain"


def prefill(settings: Settings, users: int) -> float:
    """Produce ``users`` stand-in users to the topic; returns the seconds it took."""
    encode = value_encoder(settings)
    sink = KafkaSink(settings.kafka, producer_metrics())
    sink.start()
    clock = messages.IngestClock()
    started = time.perf_counter()
    for page, first in enumerate(range(0, users, MAX_RESULTS), start=1):
        batch = make_page(SEED, page, min(MAX_RESULTS, users - first))
        headers = messages.page_headers(
            source_url=SOURCE_URL, api_version=VERSION, seed=SEED, page=page
        )
        for user in batch:
            out = messages.build(user, encode)
            stamped = [(contract.H_INGESTED_AT, clock.now()), *headers]
            sink.send(out.key, out.value, stamped, dlq=out.dlq_reason is not None)
    sink.flush(settings.kafka.delivery_timeout_ms / 1000)
    if sink.counts.produced != users:
        raise SystemExit(
            f"prefill: Kafka acknowledged {sink.counts.produced:,} of {users:,} users "
            f"({sink.counts.dead_lettered} dead-lettered, {sink.counts.failed} failed: "
            f"{'; '.join(sink.counts.errors) or 'no detail'})"
        )
    return time.perf_counter() - started


def ceiling(
    job: Settings, target: Settings, *, batched: bool = False
) -> tuple[dict[str, int], float]:
    """Upsert the rows the job wrote into ``target``'s keyspace; (rows per table, seconds).

    One prepared INSERT per row (the raw driver); with ``batched``, the same rows in unlogged
    batches of ``BATCH_ROWS`` like the job's writes (one node: one replica set)."""
    source_ks, target_ks = job.cassandra.keyspace, target.cassandra.keyspace
    work = []
    with session(job) as sess:
        for table in TABLES:
            columns = list(sess.cluster.metadata.keyspaces[source_ks].tables[table].columns)
            names = ", ".join(columns)
            read = SimpleStatement(f"SELECT {names} FROM {source_ks}.{table}", fetch_size=5000)
            rows = [
                tuple(UNSET_VALUE if v is None else v for v in row)
                for row in sess.execute(read, timeout=120)
            ]
            marks = ", ".join("?" * len(columns))
            insert = sess.prepare(f"INSERT INTO {target_ks}.{table} ({names}) VALUES ({marks})")
            work.append((table, insert, rows))
        started = time.perf_counter()
        for _, insert, rows in work:
            if batched:
                batches = []
                for i in range(0, len(rows), BATCH_ROWS):
                    batch = BatchStatement(batch_type=BatchType.UNLOGGED)
                    for row in rows[i : i + BATCH_ROWS]:
                        batch.add(insert, row)
                    batches.append((batch, None))
                execute_concurrent(sess, batches, concurrency=16, raise_on_first_error=True)
            else:
                execute_concurrent_with_args(
                    sess, insert, rows, concurrency=CONCURRENCY, raise_on_first_error=True
                )
        elapsed = time.perf_counter() - started
    return {table: len(rows) for table, _, rows in work}, elapsed


def main() -> None:
    parser = arg_parser(__doc__ or "")
    parser.add_argument(
        "--users", type=int, default=100_000, help="users to pre-fill (default 100000)"
    )
    args = parser.parse_args()
    if args.users < 1:
        parser.error("--users must be at least 1")
    users = args.users

    with scratch_pipeline("bench_drain") as settings:
        fill_s = prefill(settings, users)
        print(f"prefill: {users:,} users in {fill_s:.1f} s ({users / fill_s:,.0f} users/s)")
        print(f"job: {job_settings(settings)}", flush=True)
        started = time.perf_counter()
        state = control.drain(settings, timeout=3600)
        wall = time.perf_counter() - started
        totals = state["totals"]
        stored, batches, batch_s = totals["stored"], totals["batches"], totals["batch_ms"] / 1000
        job_rate = stored / batch_s
        print(
            f"drain: the job stored {stored:,} users in {batches} micro-batch"
            f"{'' if batches == 1 else 'es'}, "
            f"{batch_s:.1f} s of batch time ({job_rate:,.0f} users/s) and {wall:.1f} s of "
            f"wall clock including the JVM start ({stored / wall:,.0f} users/s)"
        )
        if stored != users:
            loud(f"THE JOB STORED {stored:,} OF {users:,} USERS (totals: {totals})")
        ceiling_ks = with_keyspace(settings, f"{settings.cassandra.keyspace}_ceiling")
        with scratch_keyspace(ceiling_ks):
            rows, raw_s = ceiling(settings, ceiling_ks)
        batched_ks = with_keyspace(settings, f"{settings.cassandra.keyspace}_batched")
        with scratch_keyspace(batched_ks):
            _, batched_s = ceiling(settings, batched_ks, batched=True)
    if rows[TABLES[0]] != users:
        loud(f"user_profiles holds {rows[TABLES[0]]:,} rows for {users:,} users produced")
    raw_rate = users / raw_s
    ratio = job_rate / raw_rate
    listed = " and ".join(f"{n:,} rows of {table}" for table, n in rows.items())
    print(
        f"ceiling: upserting the same {listed} from cassandra-driver (prepared, "
        f"execute_concurrent_with_args, concurrency {CONCURRENCY}, absent values unset) "
        f"took {raw_s:.1f} s: {raw_rate:,.0f} users/s"
    )
    batched_rate = users / batched_s
    print(
        f"batched ceiling: the same rows in unlogged batches of {BATCH_ROWS} (as the job "
        f"writes) took {batched_s:.1f} s: {batched_rate:,.0f} users/s"
    )
    print(
        f"ratio: the job drains at {ratio:.2f} of the ceiling over its batch time "
        f"({stored / wall / raw_rate:.2f} over the wall clock), "
        f"{job_rate / batched_rate:.2f} of the batched ceiling"
    )
    emit_json(
        args.json,
        {
            "users": users,
            "value_format": settings.kafka.value_format,
            "job_users_per_s": round(job_rate),
            "ceiling_users_per_s": round(raw_rate),
            "ratio": round(ratio, 3),
            "batched_ceiling_users_per_s": round(batched_rate),
            "ratio_batched": round(job_rate / batched_rate, 3),
        },
    )
    if stored != users:
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    except UserstreamError as exc:  # what is wrong and what to do, without a traceback
        print(f"{sys.argv[0]}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
