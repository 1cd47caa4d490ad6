"""The producer against the real local Kafka and the in-process API stand-in.

Each test has its own topic (``t_<unique>``) and consumer group; values are compared with
what the API returned for the same seed/page, fetched independently over HTTP.
"""

from __future__ import annotations

import contextlib
import json
import random
import string
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import NewTopic

from tests.integration.static_api import StaticApi
from userstream import schemas
from userstream.config import KafkaSettings, Settings
from userstream.credentials import FIELDS
from userstream.errors import TransientError
from userstream.kafka import client_config
from userstream.kafka.topics import admin_client, ensure_topics
from userstream.producing.avro_values import to_record
from userstream.producing.messages import DlqReason
from userstream.producing.run import ProduceError, run_producer
from userstream.registry import client_config as registry_config
from userstream.source.standin.data import make_page
from userstream.source.standin.faults import Faults
from userstream.source.standin.server import FakeApiServer

pytestmark = pytest.mark.integration

HEADERS = {"ingested_at", "source_url", "api_version", "seed", "page", "producer"}


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: bytes
    headers: dict[str, str]
    partition: int
    offset: int


def read_topic(kafka: KafkaSettings, topic: str, *, timeout: float = 60.0) -> list[Record]:
    """Every message of ``topic``, from the beginning up to the end offsets seen at the
    start, with a fresh consumer group (nothing committed)."""
    consumer = Consumer(
        {
            **client_config.config(kafka, "admin"),
            "group.id": f"test-{uuid.uuid4().hex[:10]}",
            "enable.auto.commit": False,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        }
        todo = {p for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in todo])
        records: list[Record] = []
        waited = 0.0
        while todo:
            msg = consumer.poll(1.0)
            if msg is None:
                waited += 1.0
                assert waited < timeout, f"{topic}: partitions {todo} not read to the end"
                continue
            assert msg.error() is None, msg.error()
            records.append(
                Record(
                    key=msg.key(),
                    value=msg.value(),
                    headers={k: v.decode() for k, v in msg.headers() or []},
                    partition=msg.partition(),
                    offset=msg.offset(),
                )
            )
            if msg.offset() + 1 >= ends[msg.partition()]:
                todo.discard(msg.partition())
        return records
    finally:
        consumer.close()


def as_produced(user: dict[str, Any]) -> dict[str, Any]:
    """``user`` as the producer must send it: without the API's credentials."""
    return {**user, "login": {k: v for k, v in user["login"].items() if k not in FIELDS}}


def as_avro(user: dict[str, Any]) -> dict[str, Any]:
    """``user`` as the producer's Avro value holds it (``to_record``; credentials dropped)."""
    return to_record(as_produced(user))


def decoded(settings: Settings, records: list[Record]) -> dict[bytes | None, Any]:
    """The Avro values of ``records`` by key, read by confluent-kafka's own
    ``AvroDeserializer`` (the writer schema by id from the registry): a client we did not
    write. Each value must be Confluent-framed."""
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    client = SchemaRegistryClient(registry_config.config(settings.registry, settings.paths))
    deserialize = AvroDeserializer(client)
    context = SerializationContext(settings.kafka.topic, MessageField.VALUE)
    users = {}
    for record in records:
        assert record.value[:1] == b"\x00", record.value[:40]
        user = deserialize(record.value, context)
        user["login"]["uuid"] = str(user["login"]["uuid"])  # fastavro reads a uuid as UUID
        users[record.key] = user
    return users


def api_users(url: str, *, seed: str, results: int, pages: int) -> list[Any]:
    """The users the API serves for pages 1..pages, fetched directly (not via the producer)."""
    users: list[Any] = []
    with httpx.Client(timeout=30) as client:
        for page in range(1, pages + 1):
            response = client.get(url, params={"seed": seed, "page": page, "results": results})
            response.raise_for_status()
            users += response.json()["results"]
    return users


def delete_topics(kafka: KafkaSettings) -> None:
    admin = admin_client(kafka)
    for future in admin.delete_topics([kafka.topic, kafka.dlq_topic]).values():
        # Already gone is fine; leftovers are unique test topics anyway.
        with contextlib.suppress(Exception):
            future.result()


@pytest.fixture
def settings(stack: Settings, unique: str) -> Iterator[Settings]:
    """The stack's settings with this test's own topic, values as JSON (what these tests
    compare with the API's); the topics are deleted after."""
    kafka = stack.kafka.model_copy(update={"topic": f"t_{unique}", "value_format": "json"})
    own = stack.model_copy(update={"kafka": kafka})
    yield own
    delete_topics(kafka)


@pytest.fixture
def avro_settings(settings: Settings) -> Settings:
    """``settings`` with the default value format, Avro through the local registry."""
    kafka = settings.kafka.model_copy(update={"value_format": "avro"})
    return settings.model_copy(update={"kafka": kafka})


def test_users_land_as_confluent_avro_that_confluents_own_deserializer_reads(
    avro_settings: Settings,
) -> None:
    from confluent_kafka.schema_registry import SchemaRegistryClient

    settings = avro_settings
    with FakeApiServer() as api:
        summary = run_producer(settings, source_url=api.url, count=300, batch_size=300, seed="av")
        sent = api_users(api.url, seed="av", results=300, pages=1)
    assert (summary.produced, summary.dead_lettered, summary.failed) == (300, 0, 0)
    client = SchemaRegistryClient(registry_config.config(settings.registry, settings.paths))
    registered = client.get_latest_version(schemas.subject(settings.kafka.topic))
    main = read_topic(settings.kafka, settings.kafka.topic)
    for record in main:
        assert int.from_bytes(record.value[1:5], "big") == registered.schema_id
        assert set(record.headers) >= HEADERS
    got = decoded(settings, main)
    assert got == {u["login"]["uuid"].encode(): as_avro(u) for u in sent}
    assert all("password" not in user["login"] for user in got.values())


def test_a_user_that_does_not_fit_the_schema_goes_to_the_dlq_with_the_reason(
    avro_settings: Settings,
) -> None:
    users = make_page("misfit", 1, 4)
    misfit = users[1]
    misfit["dob"]["date"] = "the day before yesterday"
    page = {"results": users, "info": {"seed": "m", "results": 4, "page": 1, "version": "1.4"}}
    with StaticApi(json.dumps(page).encode()) as api:
        summary = run_producer(avro_settings, source_url=api.url, count=4, batch_size=4, seed="m")
    assert (summary.produced, summary.dead_lettered, summary.failed) == (3, 1, 0)
    main = read_topic(avro_settings.kafka, avro_settings.kafka.topic)
    assert sorted(r.key for r in main) == sorted(
        u["login"]["uuid"].encode() for u in users if u is not misfit
    )
    [dead] = read_topic(avro_settings.kafka, avro_settings.kafka.dlq_topic)
    assert dead.key == misfit["login"]["uuid"].encode()
    assert dead.headers["dlq_reason"] == DlqReason.NOT_IN_SCHEMA
    assert dead.headers["dlq_detail"] == "dob.date is not an ISO-8601 timestamp"
    assert json.loads(dead.value) == as_produced(misfit)


def test_n_users_land_once_each_keyed_by_uuid_with_values_as_sent(settings: Settings) -> None:
    n, batch = 2500, 1000  # three pages, the last one cut after 500 users
    with FakeApiServer() as api:
        url = api.url
        summary = run_producer(
            settings, source_url=url, count=n, batch_size=batch, seed="alpha", track_deliveries=True
        )
        expected = api_users(url, seed="alpha", results=batch, pages=3)[:n]

    assert (summary.fetched, summary.produced, summary.dead_lettered, summary.failed) == (
        n,
        n,
        0,
        0,
    )
    assert summary.pages == 3 and summary.seed == "alpha"
    records = read_topic(settings.kafka, settings.kafka.topic)
    assert len(records) == n
    by_key = {r.key.decode(): r for r in records if r.key is not None}
    assert len(by_key) == n
    for user in expected:
        record = by_key[user["login"]["uuid"]]
        # As sent, without the credentials the API sent with it.
        assert json.loads(record.value) == as_produced(user) != user
        assert set(record.headers) >= HEADERS
        assert record.headers["seed"] == "alpha"
        assert record.headers["source_url"] == url
        assert record.headers["api_version"] == "1.4"
        assert record.headers["producer"].startswith("userstream/")
    pages = Counter(r.headers["page"] for r in records)
    assert pages == {"1": 1000, "2": 1000, "3": 500}
    # Every delivery reported to the caller is a message in the topic, and the reverse.
    assert sorted((d.key, d.partition, d.offset) for d in summary.deliveries) == sorted(
        (r.key.decode(), r.partition, r.offset) for r in records if r.key is not None
    )
    assert read_topic(settings.kafka, settings.kafka.dlq_topic) == []


def test_the_same_seed_replays_the_same_keys(settings: Settings) -> None:
    with FakeApiServer() as api:
        replay = {"count": 300, "batch_size": 100, "seed": "r", "track_deliveries": True}
        first = run_producer(settings, source_url=api.url, **replay)
        second = run_producer(settings, source_url=api.url, **replay)
    assert [d.key for d in first.deliveries] != []
    assert sorted(d.key for d in first.deliveries) == sorted(d.key for d in second.deliveries)


def test_without_a_seed_one_is_generated_and_reported(settings: Settings) -> None:
    with FakeApiServer() as api:
        summary = run_producer(settings, source_url=api.url, count=10)
    assert summary.seed
    records = read_topic(settings.kafka, settings.kafka.topic)
    assert {r.headers["seed"] for r in records} == {summary.seed}


GOOD = "1cd1e622-12bb-4b35-a2c9-63ff7bda6c73"
CRAFTED: list[tuple[Any, str | None]] = [
    ({"login": {"uuid": GOOD}, "name": {"first": "Marten"}}, None),
    ([1, 2, 3], DlqReason.NOT_AN_OBJECT),
    ({"name": {"first": "no login"}}, DlqReason.MISSING_LOGIN),
    ({"login": "x"}, DlqReason.LOGIN_NOT_AN_OBJECT),
    ({"login": {"username": "u"}}, DlqReason.MISSING_UUID),
    ({"login": {"uuid": None}}, DlqReason.MISSING_UUID),
    ({"login": {"uuid": 7}}, DlqReason.UUID_NOT_A_STRING),
    ({"login": {"uuid": "not-a-uuid"}}, DlqReason.INVALID_UUID),
]


def test_malformed_users_go_to_the_dlq_with_reasons(settings: Settings) -> None:
    page = {
        "results": [user for user, _ in CRAFTED],
        "info": {"seed": "c", "results": len(CRAFTED), "page": 1, "version": "1.4"},
    }
    with StaticApi(json.dumps(page).encode()) as api:
        summary = run_producer(
            settings, source_url=api.url, count=len(CRAFTED), batch_size=len(CRAFTED), seed="c"
        )
    assert (summary.produced, summary.dead_lettered, summary.failed) == (1, len(CRAFTED) - 1, 0)
    main = read_topic(settings.kafka, settings.kafka.topic)
    assert [(r.key, json.loads(r.value)) for r in main] == [(GOOD.encode(), CRAFTED[0][0])]
    dlq = read_topic(settings.kafka, settings.kafka.dlq_topic)
    assert sorted((r.headers["dlq_reason"], r.value) for r in dlq) == sorted(
        (str(reason), json.dumps(user, separators=(",", ":")).encode())
        for user, reason in CRAFTED[1:]
    )
    assert all(set(r.headers) >= HEADERS for r in dlq)
    keys = {r.headers["dlq_reason"]: r.key for r in dlq}
    assert keys[DlqReason.INVALID_UUID] == b"not-a-uuid"
    assert keys[DlqReason.NOT_AN_OBJECT] is None


def test_dirty_users_from_the_stand_in_are_all_accounted_for(settings: Settings) -> None:
    n = 2000
    with FakeApiServer(faults=Faults(dirty_share=0.3)) as api:
        summary = run_producer(settings, source_url=api.url, count=n, batch_size=n, seed="d")
        sent = api_users(api.url, seed="d", results=n, pages=1)
    bad = [u for u in sent if not isinstance((u.get("login") or {}).get("uuid"), str)]
    assert bad, "the stand-in sent no user without a uuid; the test would prove nothing"
    assert summary.dead_lettered == len(bad)
    assert summary.produced + summary.dead_lettered == n and summary.failed == 0
    assert len(read_topic(settings.kafka, settings.kafka.topic)) == n - len(bad)
    dlq = read_topic(settings.kafka, settings.kafka.dlq_topic)
    assert sorted(json.loads(r.value)["login"]["uuid"] is None for r in dlq) == [True] * len(bad)


def create_topics(kafka: KafkaSettings, *, main: dict[str, str], dlq: dict[str, str]) -> None:
    """Both topics with topic-level configs, before the producer's ensure_topics (which
    leaves existing topics as they are)."""
    topics = [
        NewTopic(kafka.topic, kafka.partitions, 1, config=main),
        NewTopic(kafka.dlq_topic, kafka.partitions, 1, config=dlq),
    ]
    admin = admin_client(kafka)  # kept: the futures fail once the client is collected
    for future in admin.create_topics(topics, operation_timeout=30).values():
        future.result()


def random_letters(n: int) -> str:
    # Random letters: no codec squeezes 1.5 MB of them under the limit.
    return "".join(random.Random(n).choices(string.ascii_letters, k=n))


def test_a_user_too_large_for_kafka_goes_to_the_dlq_cut_and_the_run_goes_on(
    settings: Settings,
) -> None:
    users = make_page("big", 1, 6)
    big = users[2]
    big["location"]["country"] = random_letters(1_500_000)
    page = {"results": users, "info": {"seed": "big", "results": 6, "page": 1, "version": "1.4"}}
    with StaticApi(json.dumps(page).encode()) as api:
        summary = run_producer(settings, source_url=api.url, count=6, batch_size=6, seed="big")

    assert (summary.fetched, summary.produced, summary.dead_lettered, summary.failed) == (
        6,
        5,
        1,
        0,
    )
    main = read_topic(settings.kafka, settings.kafka.topic)
    assert sorted((r.key, json.loads(r.value)) for r in main) == sorted(
        (u["login"]["uuid"].encode(), as_produced(u)) for u in users if u is not big
    )
    [dead] = read_topic(settings.kafka, settings.kafka.dlq_topic)
    assert dead.key == big["login"]["uuid"].encode()
    assert set(dead.headers) >= HEADERS
    assert dead.headers["dlq_reason"] == DlqReason.TOO_LARGE
    size = int(dead.headers["original_size"])
    assert size > 1_500_000
    assert dead.headers["dlq_detail"] == (
        f"message of {size} bytes exceeds the limit of {settings.kafka.max_message_bytes} bytes"
    )
    assert dead.headers["value_truncated"] == "true"
    assert len(dead.value) == 64 * 1024
    assert (
        json.dumps(as_produced(big), ensure_ascii=False, separators=(",", ":"))
        .encode()
        .startswith(dead.value)
    )


def test_users_the_broker_refuses_as_too_large_go_to_the_dlq_whole(settings: Settings) -> None:
    # The main topic takes no batch over 100 bytes (far below kafka.max_message_bytes): the
    # broker refuses every batch, and each user in it is dead-lettered from its delivery report.
    create_topics(settings.kafka, main={"max.message.bytes": "100"}, dlq={})
    with FakeApiServer() as api:
        summary = run_producer(settings, source_url=api.url, count=30, batch_size=30, seed="b")
        sent = api_users(api.url, seed="b", results=30, pages=1)
    assert (summary.produced, summary.dead_lettered, summary.failed) == (0, 30, 0)
    assert read_topic(settings.kafka, settings.kafka.topic) == []
    dlq = read_topic(settings.kafka, settings.kafka.dlq_topic)
    assert sorted(json.loads(r.value)["login"]["uuid"] for r in dlq) == sorted(
        u["login"]["uuid"] for u in sent
    )
    for record in dlq:
        assert set(record.headers) >= HEADERS and record.headers["seed"] == "b"
        assert record.headers["dlq_reason"] == DlqReason.TOO_LARGE
        assert record.headers["value_truncated"] == "false"
        assert "refused as too large by the broker" in record.headers["dlq_detail"]


def test_refused_messages_raise_after_the_flush_with_counts(settings: Settings) -> None:
    # Both topics refuse anything over 100 bytes: every user is refused, and so is its dead
    # letter. Every user fails, none is dropped silently, and none is dead-lettered twice.
    create_topics(
        settings.kafka, main={"max.message.bytes": "100"}, dlq={"max.message.bytes": "100"}
    )
    with FakeApiServer() as api, pytest.raises(ProduceError) as caught:
        run_producer(settings, source_url=api.url, count=20, seed="f")
    summary = caught.value.summary
    assert (summary.fetched, summary.produced, summary.dead_lettered, summary.failed) == (
        20,
        0,
        0,
        20,
    )
    assert "20 of 20 users were not delivered" in str(caught.value)
    assert summary.errors and all(".dlq" in e for e in summary.errors)


def test_ensure_topics_creates_both_and_leaves_existing_ones_alone(settings: Settings) -> None:
    kafka = settings.kafka.model_copy(update={"partitions": 3})
    ensure_topics(kafka)
    ensure_topics(kafka.model_copy(update={"partitions": 1}))  # exists: left as is
    topics = admin_client(kafka).list_topics(timeout=10).topics
    assert len(topics[kafka.topic].partitions) == 3
    assert len(topics[kafka.dlq_topic].partitions) == 3


def test_ensure_topics_says_when_the_broker_is_unreachable(stack: Settings) -> None:
    nowhere = stack.kafka.model_copy(update={"bootstrap_servers": "127.0.0.1:1"})
    with pytest.raises(TransientError, match="did not answer"):
        ensure_topics(nowhere, timeout=3)
