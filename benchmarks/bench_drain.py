"""Drain rate of the Spark job against the raw Cassandra ceiling, measured in one run.

1. Pre-fill a fresh topic with N users (the stand-in generator, API 1.4 shape), keyed and
   with the producer's headers.
2. Drain it with the job (``control.drain``: availableNow, maxOffsetsPerTrigger steps)
   into a fresh keyspace; report users/s over the micro-batches' own time and over the
   wall clock (which adds the JVM start).
3. Upsert the same rows again straight from cassandra-driver (prepared statement,
   ``execute_concurrent_with_args``) and report upserts/s: the ceiling on this machine.

Needs the local stack (`userstream stack up`). Everything it creates is removed after.
Usage: python benchmarks/bench_drain.py [users]   (default 100000)
"""

from __future__ import annotations

import sys
import time

import orjson
from _scratch import scratch_pipeline
from confluent_kafka import Producer

from userstream.source.fake_data import make_page
from userstream.store import session
from userstream.streaming import control
from userstream.streaming.schema import PROFILE_COLUMNS

CONCURRENCY = 128


def prefill(settings, users: int) -> float:
    producer = Producer(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "compression.type": "lz4",
        }
    )
    started = time.perf_counter()
    page, sent = 1, 0
    while sent < users:
        batch = make_page("bench-drain", page, min(5000, users - sent))
        for user in batch:
            headers = [("ingested_at", b"2026-11-23T10:00:00.000Z"), ("source_url", b"bench")]
            while True:
                try:
                    producer.produce(
                        settings.kafka.topic,
                        orjson.dumps(user),
                        user["login"]["uuid"].encode(),
                        headers=headers,
                    )
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
        sent += len(batch)
        page += 1
    if producer.flush(120):
        raise SystemExit("prefill: messages still undelivered after 120 s")
    return time.perf_counter() - started


def ceiling(settings) -> tuple[int, float]:
    from cassandra.concurrent import execute_concurrent_with_args

    ks = settings.cassandra.keyspace
    columns = ", ".join(PROFILE_COLUMNS)
    with session(settings, ks) as sess:
        rows = [tuple(r) for r in sess.execute(f"SELECT {columns} FROM user_profiles")]
        insert = sess.prepare(
            f"INSERT INTO user_profiles ({columns}) "
            f"VALUES ({', '.join('?' for _ in PROFILE_COLUMNS)})"
        )
        started = time.perf_counter()
        results = execute_concurrent_with_args(
            sess, insert, rows, concurrency=CONCURRENCY, raise_on_first_error=True
        )
        elapsed = time.perf_counter() - started
    assert all(ok for ok, _ in results)
    return len(rows), elapsed


def main() -> None:
    users = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with scratch_pipeline("bench_drain") as settings:
        _run(settings, users)


def _run(settings, users: int) -> None:
    fill_s = prefill(settings, users)
    print(f"prefill: {users:,} users in {fill_s:.1f} s ({users / fill_s:,.0f} users/s)")
    started = time.perf_counter()
    state = control.drain(settings, timeout=3600)
    wall = time.perf_counter() - started
    totals = state["totals"]
    batch_s = totals["batch_ms"] / 1000
    stored = totals["stored"]
    print(
        f"drain: {stored:,} users stored in {totals['batches']} micro-batches "
        f"(maxOffsetsPerTrigger={settings.spark.max_offsets_per_trigger:,}, "
        f"master={settings.spark.master}, driver {settings.spark.driver_memory})"
    )
    print(f"  over batch time: {batch_s:.1f} s → {stored / batch_s:,.0f} users/s")
    print(f"  over wall clock (incl. JVM start): {wall:.1f} s → {stored / wall:,.0f} users/s")
    rows, raw_s = ceiling(settings)
    raw_rate = rows / raw_s
    print(
        f"ceiling: {rows:,} upserts into user_profiles from cassandra-driver "
        f"(prepared, execute_concurrent_with_args, concurrency {CONCURRENCY}) in "
        f"{raw_s:.1f} s → {raw_rate:,.0f} upserts/s"
    )
    print(f"ratio: drain / ceiling = {stored / batch_s / raw_rate:.2f} (batch time), "
          f"{stored / wall / raw_rate:.2f} (wall clock)")  # fmt: skip
    print("note: the job writes each user to two tables (user_profiles, users_by_country);")
    print("      the ceiling writes one.")


if __name__ == "__main__":
    main()
