"""End-to-end latency at a fixed input rate: produce time (ingested_at) → row in Cassandra.

1. Start the Spark job on a fresh topic and keyspace (the configured trigger interval and
   maxOffsetsPerTrigger, so the figures describe the settings a user runs with).
2. Produce users from the in-process stand-in API at a fixed rate with the real producer.
3. When every user is stored, read ``ingested_at`` and ``processed_at`` of each row and print
   p50/p95/p99/max of the difference. ``processed_at`` is stamped when the micro-batch is
   transformed, just before its rows are written, so this is the time to visibility less the
   write itself (milliseconds at these batch sizes).

Needs the local stack (`userstream stack up`). Everything it creates is removed after.
Usage: python benchmarks/bench_latency.py [users_per_s] [seconds]   (default 200 60)
"""

from __future__ import annotations

import statistics
import sys
import time

from _scratch import scratch_pipeline

from userstream.producer import run_producer
from userstream.source.fake_server import FakeApiServer
from userstream.store import session
from userstream.streaming import control


def _percentile(sorted_ms: list[float], p: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, round(p / 100 * (len(sorted_ms) - 1)))]


def main() -> None:
    rate = float(sys.argv[1]) if len(sys.argv) > 1 else 200.0
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    count = int(rate * seconds)
    with scratch_pipeline("bench_latency") as settings:
        control.start(settings)
        with FakeApiServer() as api:
            summary = run_producer(settings, source_url=api.url, count=count, rate=rate)
        print(
            f"produced {summary.produced:,} users at {summary.users_per_s:,.0f} users/s "
            f"(asked {rate:g}/s for {seconds:g} s); trigger interval "
            f"{settings.spark.trigger_interval}, maxOffsetsPerTrigger "
            f"{settings.spark.max_offsets_per_trigger:,}, master {settings.spark.master}"
        )
        deadline = time.monotonic() + 600
        with session(settings, settings.cassandra.keyspace) as sess:
            while True:
                rows = list(sess.execute("SELECT ingested_at, processed_at FROM user_profiles"))
                if len(rows) >= summary.produced or time.monotonic() > deadline:
                    break
                time.sleep(2)
    latencies = sorted(
        (r.processed_at - r.ingested_at).total_seconds() * 1000
        for r in rows
        if r.processed_at and r.ingested_at
    )
    print(f"stored {len(rows):,} of {summary.produced:,}")
    if not latencies:
        raise SystemExit("no user reached Cassandra within 600 s: see the stream's log")
    print(
        "latency ingested_at → processed_at (ms): "
        f"p50 {_percentile(latencies, 50):,.0f}  p95 {_percentile(latencies, 95):,.0f}  "
        f"p99 {_percentile(latencies, 99):,.0f}  max {latencies[-1]:,.0f}  "
        f"mean {statistics.fmean(latencies):,.0f}"
    )


if __name__ == "__main__":
    main()
