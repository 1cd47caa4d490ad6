"""The local Kafka + Cassandra stack against the real servers: round trips, security, restart.

Each test works in its own topic / keyspace / consumer group. The restart test stops and starts
the shared stack (data must survive it); the failure tests run in a private state folder on
ports of their own, sharing only the fetched jars.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import orjson
import pytest

from userstream.config import Settings, load_settings
from userstream.errors import ConfigError, TerminalError
from userstream.host import process
from userstream.kafka import client_config
from userstream.stack import cassandra, housekeeper, kafka, schema_registry
from userstream.stack.local import DISK_PART, HOUSEKEEPER_PART, stack_down, stack_status, stack_up
from userstream.store import connect, connect_as

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_stack(shared_own_stack: Settings) -> Settings:
    """The session's private stack (``shared_own_stack``): this module leaves it as it was."""
    return shared_own_stack


def _ours(settings: Settings) -> bool:
    """True when the stack under test is the one of this state folder (not an external one)."""
    return (
        process.running(settings.paths, kafka.NAME) is not None
        and process.running(settings.paths, cassandra.NAME) is not None
    )


def _produce(settings: Settings, topic: str, key: str, value: bytes) -> None:
    from confluent_kafka import Producer

    errors: list[object] = []
    producer = Producer(
        {
            **client_config.config(settings.kafka, "admin"),
            "enable.idempotence": True,
            "acks": "all",
        }
    )
    producer.produce(topic, key=key, value=value, on_delivery=lambda e, _m: e and errors.append(e))
    assert producer.flush(30) == 0
    assert errors == []


def _consume_all(settings: Settings, topic: str, expected: int) -> list[tuple[bytes, bytes]]:
    """Read ``topic`` from the start with a fresh group until ``expected`` messages (bounded)."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            **client_config.config(settings.kafka, "admin"),
            "group.id": f"it-stack-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    got: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + 60
    try:
        while len(got) < expected and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            got.append((msg.key(), msg.value()))
    finally:
        consumer.close()
    return got


def _create_topic(kafka_admin: object, topic: str) -> None:
    from confluent_kafka.admin import NewTopic

    futures = kafka_admin.create_topics([NewTopic(topic, 1, 1)])  # type: ignore[attr-defined]
    futures[topic].result(30)
    # create_topics returns once the controller accepted it; wait until the broker serves it.
    deadline = time.monotonic() + 30
    while True:
        meta = kafka_admin.list_topics(topic=topic, timeout=10)  # type: ignore[attr-defined]
        parts = meta.topics[topic].partitions if topic in meta.topics else {}
        if parts and all(p.leader >= 0 for p in parts.values()):
            return
        assert time.monotonic() < deadline, f"topic {topic} never got a leader"
        time.sleep(0.2)


@pytest.fixture
def topic(kafka_admin: object, unique: str) -> Iterator[str]:
    name = f"it_stack_{unique}"
    _create_topic(kafka_admin, name)
    yield name
    kafka_admin.delete_topics([name])[name].result(30)  # type: ignore[attr-defined]


@pytest.fixture
def keyspace(cassandra_session: object, unique: str) -> Iterator[str]:
    name = f"it_stack_{unique}"
    cassandra_session.execute(  # type: ignore[attr-defined]
        f"CREATE KEYSPACE {name} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    cassandra_session.execute(  # type: ignore[attr-defined]
        f"CREATE TABLE {name}.kv (id uuid PRIMARY KEY, name text, at timestamp)"
    )
    yield name
    # The restart test leaves the cluster's session reconnecting; a fresh one drops reliably.
    with_fresh = connect(load_settings())
    try:
        with_fresh.execute(f"DROP KEYSPACE IF EXISTS {name}")
    finally:
        with_fresh.cluster.shutdown()


def test_broker_lists_topics_and_round_trips(stack: Settings, kafka_admin: object, topic: str):
    metadata = kafka_admin.list_topics(timeout=10)  # type: ignore[attr-defined]
    assert topic in metadata.topics
    assert len(metadata.brokers) == 1
    _produce(stack, topic, "k1", b'{"hello": 1}')
    assert _consume_all(stack, topic, 1) == [(b"k1", b'{"hello": 1}')]


def test_cassandra_round_trip(cassandra_session: object, keyspace: str) -> None:
    row_id = uuid.uuid4()
    insert = cassandra_session.prepare(  # type: ignore[attr-defined]
        f"INSERT INTO {keyspace}.kv (id, name) VALUES (?, ?)"
    )
    cassandra_session.execute(insert, (row_id, "ada"))  # type: ignore[attr-defined]
    select = cassandra_session.prepare(  # type: ignore[attr-defined]
        f"SELECT name FROM {keyspace}.kv WHERE id = ?"
    )
    assert cassandra_session.execute(select, (row_id,)).one().name == "ada"  # type: ignore[attr-defined]


def test_default_login_is_refused(stack: Settings) -> None:
    if stack.cassandra.username:
        pytest.skip("an operator-managed cluster: its default role is not ours to check")
    with pytest.raises(TerminalError, match="refused the login of 'cassandra'"):
        connect_as(stack.cassandra, "cassandra", "cassandra")


def test_query_command_answers_5_0(stack: Settings) -> None:
    cli = [sys.executable, "-m", "userstream"]
    done = subprocess.run(
        [*cli, "query", "SELECT release_version, host_id FROM system.local", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "USERSTREAM_STATE_DIR": str(stack.paths.root)},
    )
    assert done.returncode == 0, done.stderr
    rows = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == 1
    assert rows[0]["release_version"].startswith("5.0.")
    uuid.UUID(rows[0]["host_id"])  # uuids come out as text


def test_query_command_reports_bad_cql(stack: Settings) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "userstream", "query", "SELEC nothing"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "USERSTREAM_STATE_DIR": str(stack.paths.root)},
    )
    assert done.returncode == 1
    assert "Cassandra refused the statement" in done.stderr
    assert "Traceback" not in done.stderr


def test_status_is_truthful(stack: Settings) -> None:
    if not _ours(stack):
        pytest.skip("the stack under test was not started from this state folder")
    by_name = {c.name: c for c in stack_status(stack)}
    assert set(by_name) == {"kafka", "schema registry", "cassandra", HOUSEKEEPER_PART, DISK_PART}
    disk = by_name.pop(DISK_PART)
    assert disk.healthy and disk.pid is None and " free; the state folder holds " in disk.detail
    names = {"schema registry": schema_registry.process_name(stack.registry),
             HOUSEKEEPER_PART: housekeeper.NAME}  # fmt: skip
    for name, component in by_name.items():
        assert component.running and component.healthy, component
        proc = process.running(stack.paths, names.get(name, name))
        assert proc is not None
        assert component.pid == proc.pid
    assert by_name["cassandra"].version is not None
    assert by_name["cassandra"].version.startswith("5.0.")
    assert by_name["kafka"].version is not None
    assert by_name["kafka"].version.startswith("4.")


def test_up_is_idempotent(stack: Settings) -> None:
    if not _ours(stack):
        pytest.skip("the stack under test was not started from this state folder")
    before = {c.name: c.pid for c in stack_status(stack)}
    lines: list[str] = []
    stack_up(stack, progress=lines.append)
    assert {c.name: c.pid for c in stack_status(stack)} == before
    assert sum("already running" in line for line in lines) == 3


def test_restart_keeps_messages_and_rows(own_stack: Settings, unique: str) -> None:
    # A stack of this module's own: stopping it never stops a developer's.
    from userstream.kafka.topics import admin_client

    topic = keyspace = f"it_stack_{unique}"
    _create_topic(admin_client(own_stack.kafka), topic)
    session = connect(own_stack)
    try:
        session.execute(
            f"CREATE KEYSPACE {keyspace} WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        session.execute(f"CREATE TABLE {keyspace}.kv (id uuid PRIMARY KEY, name text)")
        row_id = uuid.uuid4()
        insert = session.prepare(f"INSERT INTO {keyspace}.kv (id, name) VALUES (?, ?)")
        session.execute(insert, (row_id, "survivor"))
    finally:
        session.cluster.shutdown()
    _produce(own_stack, topic, "survivor", b"kept")
    pids = [c.pid for c in stack_status(own_stack) if c.name != DISK_PART]

    stack_down(own_stack, progress=lambda _line: None)
    try:
        assert all(not c.running for c in stack_status(own_stack) if c.name != DISK_PART)
        for pid in pids:
            assert pid is not None
            assert not process._alive(pid), f"pid {pid} still running after stack down"
    finally:
        stack_up(own_stack, progress=lambda _line: None)

    assert _consume_all(own_stack, topic, 1) == [(b"survivor", b"kept")]
    fresh = connect(own_stack)
    try:
        select = fresh.prepare(f"SELECT name FROM {keyspace}.kv WHERE id = ?")
        assert fresh.execute(select, (row_id,)).one().name == "survivor"
    finally:
        fresh.cluster.shutdown()


# Failures, in a private state folder on private ports sharing only the fetched jars
# (`private`, in conftest.py).


@pytest.mark.parametrize("taken", ["kafka", "cassandra", "registry"])
def test_taken_port_is_refused_before_starting(private: Settings, taken: str) -> None:
    # Whichever part's port is taken, nothing is started: Cassandra, which starts beside
    # Kafka, would take a minute to start and be stopped again.
    port = getattr(private, taken).port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(ConfigError, match=f"port {port} .* in use"):
            stack_up(private, progress=lambda _line: None)
    for name in (kafka.NAME, cassandra.NAME, housekeeper.NAME):
        assert process.running(private.paths, name) is None
        assert not private.paths.log_file(name).exists(), f"{name} was started"


def test_server_dying_at_start_is_reported_with_its_log(private: Settings) -> None:
    broken = private.model_copy(
        update={"cassandra": private.cassandra.model_copy(update={"heap": "1x"})}
    )
    with pytest.raises(TerminalError, match="Cassandra exited while starting") as caught:
        cassandra.start(broken)
    assert caught.value.log == broken.paths.log_file("cassandra")
    assert "Invalid initial heap size" in str(caught.value)  # the tail of its log
    assert process.running(broken.paths, cassandra.NAME) is None


def test_kafka_format_failure_is_reported(private: Settings) -> None:
    broken = private.model_copy(update={"kafka": private.kafka.model_copy(update={"heap": "1x"})})
    with pytest.raises(TerminalError, match=r"Formatting Kafka.s storage .* failed") as caught:
        kafka.start(broken)
    assert "Invalid initial heap size" in str(caught.value)
    assert caught.value.log is not None and caught.value.log.stat().st_mode & 0o777 == 0o600
    assert process.running(broken.paths, kafka.NAME) is None


def test_cassandra_failure_stops_the_kafka_it_started(private: Settings) -> None:
    broken = private.model_copy(
        update={"cassandra": private.cassandra.model_copy(update={"heap": "1x"})}
    )
    lines: list[str] = []
    try:
        with pytest.raises(TerminalError, match="Cassandra exited while starting"):
            stack_up(broken, progress=lines.append)
        assert any(line.startswith("Kafka: ready") for line in lines)
        assert process.running(broken.paths, kafka.NAME) is None
        assert process.running(broken.paths, cassandra.NAME) is None
        assert process.running(broken.paths, housekeeper.NAME) is None
    finally:
        kafka.stop(broken)


@pytest.mark.faults  # starts both clusters: the long suite
def test_a_spark_cluster_failure_stops_the_kafka_and_cassandra_clusters_it_started(
    private: Settings,
) -> None:
    from userstream.host.net import free_ports
    from userstream.pipeline import on_local_cluster
    from userstream.stack import spark

    master_port, ui_port = free_ports(2)
    ports = {"spark_master_port": master_port, "spark_master_ui_port": ui_port}
    settings = on_local_cluster(
        private.model_copy(update={"cluster": private.cluster.model_copy(update=ports)})
    )
    lines: list[str] = []
    try:
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", settings.cluster.spark_master_port))
            squatter.listen()
            with pytest.raises(ConfigError, match="in use"):
                stack_up(settings, cluster=True, progress=lines.append)
        assert any(line.startswith("Cassandra cluster (3 nodes): ready") for line in lines), lines
        assert "Cassandra: stopping it again, because the stack did not come up" in lines
        assert kafka.running_nodes(settings) == set()
        assert cassandra.running_nodes(settings) == set()
        assert all(
            process.running(settings.paths, n) is None for n in spark.names(settings.cluster)
        )
    finally:
        stack_down(settings, progress=lambda _line: None)
