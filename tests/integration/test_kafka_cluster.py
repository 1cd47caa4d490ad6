"""Kafka as the local cluster's three nodes (``stack up --cluster``): three KRaft voters on
127.0.0.1-3, topics with a replica on each and ``min.insync.replicas=2``, and the stream
(local[2]) on them with a Cassandra of this module's own.

Brokers are SIGKILLed while users arrive — one, then two at once — and every user is stored
exactly once, rejects are not doubled, and users keep landing while one node is down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest

from tests.integration.conftest import open_session, private_settings
from tests.integration.conftest_stream import (
    POISON,
    fake_users,
    isolated,
    produce,
    stream_env,
    user_messages,
    wait_until,
)
from userstream.config import Settings
from userstream.errors import ConfigError
from userstream.host import process
from userstream.kafka import topics
from userstream.pipeline import on_local_kafka_cluster
from userstream.stack import cassandra, kafka
from userstream.stack.local import stack_down, stack_status
from userstream.streaming import control

pytestmark = [pytest.mark.integration, pytest.mark.faults]
log = logging.getLogger(__name__)

#: How long killed nodes stay down: the faults themselves, not waits.
TWO_DOWN_S = 15


@pytest.fixture(scope="module")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A Kafka cluster and a Cassandra node of this module's own, on free ports; every Kafka
    client pointed at the cluster as ``up --cluster`` points them. The stream runs on
    local[2] (the Spark and Cassandra clusters have their own tests)."""
    own = private_settings(tmp_path_factory.mktemp("kafka_cluster") / "state")
    settings = on_local_kafka_cluster(own)
    try:
        kafka.start(settings, cluster=True)
        cassandra.start(settings)
        yield settings
    finally:
        stack_down(settings, progress=lambda _line: None)


@pytest.fixture
def settings(kafka_cluster: Settings, unique: str) -> Iterator[Settings]:
    with stream_env(isolated(kafka_cluster, unique, max_offsets_per_trigger=150)) as s:
        yield s


def test_three_voters_each_named_by_status_and_topics_with_three_replicas(
    settings: Settings,
) -> None:
    parts = {p.name: p for p in stack_status(settings)}
    nodes = kafka.cluster_nodes(settings)
    assert "kafka" not in parts
    for node in nodes:
        part = parts[node.name]
        assert part.running and part.healthy, part
        assert part.address == f"{node.host}:{settings.kafka.port}"
    # Started again, it starts nothing; the single node refuses to start beside it.
    assert kafka.start(settings, cluster=True) is None
    with pytest.raises(ConfigError, match="runs as a cluster"):
        kafka.start(settings)
    admin = topics.admin_client(settings.kafka)
    metadata = admin.list_topics(timeout=30)
    assert len(metadata.brokers) == 3
    for name in (settings.kafka.topic, settings.kafka.dlq_topic):
        for partition in metadata.topics[name].partitions.values():
            assert sorted(partition.replicas) == [1, 2, 3], (name, partition)
    from confluent_kafka.admin import ConfigResource

    resource = ConfigResource("topic", settings.kafka.topic)
    config = admin.describe_configs([resource])[resource].result(timeout=30)
    assert config["min.insync.replicas"].value == "2"


def test_brokers_sigkilled_under_load_lose_and_double_nothing(settings: Settings) -> None:
    ks = settings.cassandra.keyspace
    users = fake_users(f"{settings.kafka.topic}-brokers", 1500)
    first, one_down, back, two_down = users[:300], users[300:700], users[700:1000], users[1000:]
    produce(settings, user_messages(first) + [(k, v) for k, v, _ in POISON])

    with open_session(settings) as cql:

        def stored() -> int:
            return cql.execute(f"SELECT count(*) FROM {ks}.user_profiles").one()[0]

        control.start(settings)
        wait_until("the first users", lambda: stored() == len(first))

        # One node down: users keep arriving and keep landing.
        others = {n: process.running(settings.paths, n) for n in ("kafka-1", "kafka-3")}
        assert process.kill(settings.paths, "kafka-2")
        produce(settings, user_messages(one_down))
        wait_until("users stored with a node down", lambda: stored() == 700, timeout=180)
        started = time.monotonic()
        assert kafka.start(settings, cluster=True) is not None
        log.warning("kafka-2 back in %.1f s", time.monotonic() - started)
        # It started kafka-2 alone: the others are the same processes.
        assert {n: process.running(settings.paths, n) for n in others} == others
        produce(settings, user_messages(back))
        wait_until("users stored after it came back", lambda: stored() == 1000, timeout=180)

        # Two at once: one replica left, below min.insync.replicas, so writes wait (acks=all)
        # until one is back; nothing is written once only, nothing is lost.
        assert process.kill(settings.paths, "kafka-1")
        assert process.kill(settings.paths, "kafka-3")
        failures: list[BaseException] = []

        def produce_two_down() -> None:
            try:
                produce(settings, user_messages(two_down))
            except BaseException as exc:
                failures.append(exc)

        producing = threading.Thread(target=produce_two_down)
        producing.start()
        try:
            time.sleep(TWO_DOWN_S)
            # One replica of three is below min.insync.replicas: nothing new is stored yet.
            assert stored() == 1000
        finally:
            kafka.start(settings, cluster=True)
        answered = time.monotonic()
        producing.join(timeout=300)
        assert not producing.is_alive()
        assert not failures, failures
        wait_until("every user stored", lambda: stored() == len(users), timeout=240)
        seconds = time.monotonic() - answered
        print(f"\nrecovery: every user stored {seconds:.1f} s after two nodes answered again")
        wait_until("the end of the topic", lambda: control.lag(settings) == {0: 0, 1: 0})
        ids = [str(r.id) for r in cql.execute(f"SELECT id FROM {ks}.user_profiles")]
        rejects = [r.reason for r in cql.execute(f"SELECT reason FROM {ks}.user_profiles_rejects")]
    assert sorted(ids) == sorted(u["login"]["uuid"] for u in users)
    assert sorted(rejects) == sorted(reason for _, _, reason in POISON)
    assert control.running(settings) is not None
    assert control.stop(settings)
