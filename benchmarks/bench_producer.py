"""Producer throughput: users/s into Kafka with acks=all and idempotence, as shipped.

(a) end to end: the local stand-in API → run_producer → Kafka (fetch + build + produce).
(b) produce only: already-fetched ~1.1 KB users (the stand-in's generator) through the
    same message building and sink, sweeping linger.ms × batch.size (the figures that chose
    the KafkaSettings defaults), in the configured value format.
(c) the value formats side by side at the defaults: bytes per user and produce-only users/s
    for JSON and for Avro (the Confluent wire format, through the serializer and the local
    registry), and end to end for each.

Needs the local Kafka and schema registry (`userstream stack up`). Each case uses its own
topic, deleted after.
Usage: python benchmarks/bench_producer.py [users_per_case] [--json]   (default 100000)
With --json the last line of stdout is {"users", "value_format", "bytes_per_user",
"end_to_end_users_per_s", "produce_only": [{"linger_ms", "batch_size", "users_per_s"}, ...],
"formats": {"json"|"avro": {"bytes_per_user", "produce_only_users_per_s",
"end_to_end_users_per_s"}}}.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from _report import arg_parser, emit_json

from userstream import contract
from userstream.config import KafkaSettings, Settings, load_settings
from userstream.kafka.topics import admin_client, ensure_topics
from userstream.producing import messages
from userstream.producing.avro_values import value_encoder
from userstream.producing.metrics import producer_metrics
from userstream.producing.run import run_producer
from userstream.producing.sink import KafkaSink
from userstream.source.standin.data import make_page
from userstream.source.standin.server import FakeApiServer

LINGER_MS = (0, 5, 20, 50)
BATCH_SIZE = (131_072, 1_000_000)


Encode = Callable[[Any], bytes] | None


def encoder(kafka: KafkaSettings) -> Encode:
    """The value encoder of ``kafka.value_format`` (Avro: registered for its topic)."""
    return value_encoder(_settings(kafka))


def _settings(kafka: KafkaSettings) -> Settings:
    return load_settings().model_copy(update={"kafka": kafka})


def produce_only(kafka: KafkaSettings, users: list[dict]) -> float:
    """Users/s through message building + the sink, flush included."""
    ensure_topics(kafka)
    encode = encoder(kafka)
    sink = KafkaSink(kafka, producer_metrics())
    sink.start()
    headers = messages.page_headers(source_url="bench", api_version="1.4", seed="b", page=1)
    clock = messages.IngestClock()
    started = time.perf_counter()
    for user in users:
        out = messages.build(user, encode)
        sink.send(out.key, out.value, [(contract.H_INGESTED_AT, clock.now()), *headers], dlq=False)
    sink.flush(60)
    seconds = time.perf_counter() - started
    assert sink.counts.produced == len(users) and not sink.counts.failed, sink.counts.errors
    return len(users) / seconds


def bytes_per_user(kafka: KafkaSettings, users: list[dict]) -> float:
    """The mean value size of ``users`` in ``kafka.value_format`` (before compression)."""
    ensure_topics(kafka)
    encode = encoder(kafka)
    return sum(len(messages.build(u, encode).value) for u in users) / len(users)


def end_to_end(kafka: KafkaSettings, n: int) -> float:
    """Users/s from the in-process stand-in API to Kafka acknowledgements."""
    settings = _settings(kafka)
    with FakeApiServer("127.0.0.1") as server:
        summary = run_producer(settings, source_url=server.url, count=n, seed="bench")
    return summary.users_per_s


def main() -> None:
    parser = arg_parser(__doc__ or "")
    parser.add_argument("users", nargs="?", type=int, default=100_000, help="users per case")
    args = parser.parse_args()
    n = args.users
    cases: list[dict[str, int]] = []
    base = load_settings().kafka
    run_id = uuid.uuid4().hex[:8]
    # The stand-in's generator: real API shape and quirks, about 1.1 KB per user.
    users = [u for p in range(1, n // 5000 + 2) for u in make_page("bench", p, 5000)][:n]
    topics: list[str] = []
    formats: dict[str, dict[str, int]] = {}

    def settings_for(case: str, **update: object) -> KafkaSettings:
        topic = f"bench_producer_{run_id}_{case}"
        topics.extend([topic, f"{topic}.dlq"])
        return base.model_copy(update={"topic": topic, **update})

    try:
        size = bytes_per_user(settings_for("size", value_format=base.value_format), users[:1000])
        print(
            f"(b) produce only: {n:,} users of {size:,.0f} B, acks=all, idempotent, "
            f"compression={base.compression}, values as {base.value_format}"
        )
        # Warm-up: the first producer of a fresh broker waits for its idempotence PID.
        produce_only(settings_for("warmup"), users[:2000])
        print(f"{'linger.ms':>10} {'batch.size':>11} {'users/s':>10} {'MB/s':>7}")
        for linger in LINGER_MS:
            for batch in BATCH_SIZE:
                kafka = settings_for(f"l{linger}_b{batch}", linger_ms=linger, batch_size=batch)
                rate = produce_only(kafka, users)
                cases.append({"linger_ms": linger, "batch_size": batch, "users_per_s": round(rate)})
                print(f"{linger:>10} {batch:>11,} {rate:>10,.0f} {rate * size / 1e6:>7.1f}")
        rate_e2e = end_to_end(settings_for("e2e"), n)
        print(
            f"(a) end to end, stand-in API → Kafka, defaults "
            f"(linger.ms={base.linger_ms}, batch.size={base.batch_size:,}, "
            f"{base.value_format}): {rate_e2e:,.0f} users/s"
        )
        print("(c) the value formats at the defaults, in one run")
        print(
            f"{'format':>7} {'B/user':>7} {'produce-only users/s':>21} {'end to end users/s':>19}"
        )
        for fmt in ("json", "avro"):
            size_f = bytes_per_user(settings_for(f"size_{fmt}", value_format=fmt), users[:1000])
            only = produce_only(settings_for(f"only_{fmt}", value_format=fmt), users)
            e2e = end_to_end(settings_for(f"e2e_{fmt}", value_format=fmt), n)
            formats[fmt] = {
                "bytes_per_user": round(size_f),
                "produce_only_users_per_s": round(only),
                "end_to_end_users_per_s": round(e2e),
            }
            print(f"{fmt:>7} {size_f:>7,.0f} {only:>15,.0f} {e2e:>13,.0f}")
    finally:
        admin = admin_client(base)
        existing = set(admin.list_topics(timeout=10).topics)
        doomed = [t for t in topics if t in existing]
        for future in admin.delete_topics(doomed, operation_timeout=30).values() if doomed else []:
            try:
                future.result()
            except Exception as exc:
                print(f"cleanup: {exc}", file=sys.stderr)
    emit_json(
        args.json,
        {
            "users": n,
            "value_format": base.value_format,
            "bytes_per_user": round(size),
            "end_to_end_users_per_s": round(rate_e2e),
            "produce_only": cases,
            "formats": formats,
        },
    )


if __name__ == "__main__":
    main()
