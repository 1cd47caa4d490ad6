"""Producer throughput: users/s into Kafka with acks=all and idempotence, as shipped.

(a) end to end: the local stand-in API → run_producer → Kafka (fetch + build + produce).
(b) produce only: already-fetched ~1.2 KB users through the same message building and
    sink, sweeping linger.ms × batch.size (the figures that chose the KafkaSettings defaults).

Needs the local Kafka (`userstream stack up`). Each case uses its own topic, deleted after.
Usage: python benchmarks/bench_producer.py [users_per_case]   (default 100000)
"""

from __future__ import annotations

import random
import sys
import threading
import time
import uuid

from userstream.config import KafkaSettings, load_settings
from userstream.metrics import producer_metrics
from userstream.producing import messages
from userstream.producing.sink import KafkaSink
from userstream.topics import admin_client, ensure_topics

LINGER_MS = (0, 5, 20, 50)
BATCH_SIZE = (131_072, 1_000_000)


def fake_user(rng: random.Random) -> dict:
    """A user shaped like the API's (about 1.2 KB as JSON)."""
    first, last = rng.choice(["Laura", "Marten", "Ana"]), rng.choice(["Woods", "Faber", "Silva"])
    return {
        "gender": "female",
        "name": {"title": "Miss", "first": first, "last": last},
        "location": {
            "street": {"number": rng.randint(1, 9999), "name": "Henry Street"},
            "city": "Blessington",
            "state": "Wexford",
            "country": "Ireland",
            "postcode": rng.randint(10000, 99999),
            "coordinates": {"latitude": "2.0565", "longitude": "95.2422"},
            "timezone": {"offset": "+1:00", "description": "Brussels, Copenhagen, Madrid, Paris"},
        },
        "email": f"{first.lower()}.{last.lower()}@example.com",
        "login": {
            "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "username": "angryostrich988",
            "password": "racers",
            "salt": "B5ywSDUM",
            "md5": f"{rng.getrandbits(128):032x}",
            "sha1": f"{rng.getrandbits(160):040x}",
            "sha256": f"{rng.getrandbits(256):064x}",
        },
        "dob": {"date": "1967-07-23T09:18:33.666Z", "age": 59},
        "registered": {"date": "2018-10-18T04:05:51.990Z", "age": 8},
        "phone": "031-623-5189",
        "cell": "081-807-8083",
        "id": {"name": "PPS", "value": "1101776T"},
        "picture": {
            "large": "https://randomuser.me/api/portraits/women/88.jpg",
            "medium": "https://randomuser.me/api/portraits/med/women/88.jpg",
            "thumbnail": "https://randomuser.me/api/portraits/thumb/women/88.jpg",
        },
        "nat": "IE",
    }


def produce_only(kafka: KafkaSettings, users: list[dict]) -> float:
    """Users/s through message building + the sink, flush included."""
    ensure_topics(kafka)
    sink = KafkaSink(kafka, producer_metrics())
    sink.start()
    headers = messages.page_headers(source_url="bench", api_version="1.4", seed="b", page=1)
    clock = messages.IngestClock()
    started = time.perf_counter()
    for user in users:
        out = messages.build(user)
        sink.send(out.key, out.value, [(messages.H_INGESTED_AT, clock.now()), *headers], dlq=False)
    sink.flush(60)
    seconds = time.perf_counter() - started
    assert sink.counts.produced == len(users) and not sink.counts.failed, sink.counts.errors
    return len(users) / seconds


def end_to_end(kafka: KafkaSettings, n: int) -> float | None:
    """Users/s from the in-process stand-in API to Kafka acknowledgements."""
    try:
        from userstream.source.fake_server import FakeApiServer
    except ImportError:
        return None
    from userstream.producer import run_producer

    settings = load_settings().model_copy(update={"kafka": kafka})
    with FakeApiServer("127.0.0.1") as server:
        summary = run_producer(
            settings, source_url=server.url, count=n, seed="bench", stop=threading.Event()
        )
    return summary.users_per_s


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    base = load_settings().kafka
    run_id = uuid.uuid4().hex[:8]
    rng = random.Random(7)
    users = [fake_user(rng) for _ in range(n)]
    size = sum(len(messages.build(u).value) for u in users[:1000]) / 1000
    topics: list[str] = []

    def settings_for(case: str, **update: object) -> KafkaSettings:
        topic = f"bench_producer_{run_id}_{case}"
        topics.extend([topic, f"{topic}.dlq"])
        return base.model_copy(update={"topic": topic, **update})

    try:
        print(
            f"(b) produce only: {n:,} users of {size:,.0f} B, acks=all, idempotent, "
            f"compression={base.compression}"
        )
        # Warm-up: the first producer of a fresh broker waits for its idempotence PID.
        produce_only(settings_for("warmup"), users[:2000])
        print(f"{'linger.ms':>10} {'batch.size':>11} {'users/s':>10} {'MB/s':>7}")
        for linger in LINGER_MS:
            for batch in BATCH_SIZE:
                kafka = settings_for(f"l{linger}_b{batch}", linger_ms=linger, batch_size=batch)
                rate = produce_only(kafka, users)
                print(f"{linger:>10} {batch:>11,} {rate:>10,.0f} {rate * size / 1e6:>7.1f}")
        rate_e2e = end_to_end(settings_for("e2e"), n)
        if rate_e2e is None:
            print("(a) end to end: skipped (userstream.source.fake_server not available)")
        else:
            print(
                f"(a) end to end, stand-in API → Kafka, defaults "
                f"(linger.ms={base.linger_ms}, batch.size={base.batch_size:,}): "
                f"{rate_e2e:,.0f} users/s"
            )
    finally:
        admin = admin_client(base)
        existing = set(admin.list_topics(timeout=10).topics)
        doomed = [t for t in topics if t in existing]
        for future in admin.delete_topics(doomed, operation_timeout=30).values() if doomed else []:
            try:
                future.result()
            except Exception as exc:
                print(f"cleanup: {exc}", file=sys.stderr)


if __name__ == "__main__":
    main()
