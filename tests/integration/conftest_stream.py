"""Helpers for the stream's integration tests: an isolated topic/keyspace/checkpoint, users
produced the way the producer does, and readers for Cassandra and the DLQ topic."""

from __future__ import annotations

import functools
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

from userstream.config import Settings
from userstream.kafka import client_config
from userstream.source.standin.data import make_page
from userstream.streaming import control, driver_settings, progress_file, supervisor

SOURCE_URL = b"http://127.0.0.1:8765/api/1.4/"

# (key, value, expected reason) — poison the job must reject, never stop on.
POISON: list[tuple[bytes | None, bytes, str]] = [
    (b"poison-1", b"this is not json", "value is not valid JSON"),
    (b"poison-2", b"[1, 2, 3]", "value is a JSON array, not an object"),
    (b"poison-3", b"{}", "login.uuid is missing"),
    (b"poison-4", b'{"login": {"uuid": null}, "name": {"first": "A", "last": "B"}}',
     "login.uuid is missing"),
    (b"poison-5", b'{"login": {"uuid": "not-a-uuid"}}',
     "login.uuid is not a canonical lower-case UUID"),
    (b"00000000-0000-4000-8000-000000000001",
     b'{"login": {"uuid": "00000000-0000-4000-8000-000000000002"}, "name": {"first": "A"}}',
     "message key '00000000-0000-4000-8000-000000000001' does not match login.uuid"),
    (None, b"", "empty value"),
]  # fmt: skip


def isolated(stack: Settings, unique: str, **spark: Any) -> Settings:
    """``stack`` with this test's own topic, keyspace, checkpoint and job name."""
    name = f"it_stream_{unique}"
    spark_settings = {
        "job_name": f"stream-{unique}",
        "trigger_interval": "1 second",
        "driver_memory": "768m",
        "max_offsets_per_trigger": 500,
        **spark,
    }
    return stack.model_copy(
        update={
            "kafka": stack.kafka.model_copy(update={"topic": name, "partitions": 2}),
            "cassandra": stack.cassandra.model_copy(update={"keyspace": name}),
            "spark": stack.spark.model_copy(update=spark_settings),
        }
    )


@contextmanager
def stream_env(settings: Settings) -> Iterator[Settings]:
    """Create topics and schema; afterwards kill the driver and remove everything made."""
    from userstream.kafka.topics import admin_client, ensure_topics
    from userstream.store import session
    from userstream.store.schema import apply_schema

    ensure_topics(settings.kafka)
    apply_schema(settings)
    try:
        yield settings
    finally:
        control.kill(settings)
        with session(settings) as sess:
            sess.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra.keyspace}", timeout=60)
        admin = admin_client(settings.kafka)
        for future in admin.delete_topics(
            [settings.kafka.topic, settings.kafka.dlq_topic], operation_timeout=30
        ).values():
            future.result()
        shutil.rmtree(settings.checkpoint_dir(), ignore_errors=True)
        # The driver's log stays in the state folder's logs/ for a post-mortem.
        for path in (
            progress_file.progress_file(settings),
            driver_settings.settings_file(settings),
            supervisor.state_file(settings),
            supervisor.lock_file(settings),
        ):
            path.unlink(missing_ok=True)


#: An upper bound for slow shared machines, never a performance assertion.
WAIT_S = 600


def wait_until(what: str, check: Any, timeout: float = WAIT_S, poll: float = 0.5) -> None:
    """Poll ``check`` until true; a service still reconnecting after a fault counts as "not yet"
    (a node just killed, before the others see it gone, times a quorum read out)."""
    from cassandra import OperationTimedOut, ReadTimeout, Unavailable  # type: ignore[attr-defined]
    from cassandra.cluster import NoHostAvailable

    from userstream.errors import TransientError

    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (NoHostAvailable, OperationTimedOut, ReadTimeout, Unavailable, TransientError):
            pass
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(poll)


def fake_users(seed: str, count: int) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = []
    page = 1
    while len(users) < count:
        users.extend(make_page(seed, page, min(5000, count - len(users))))
        page += 1
    return users


#: The headers the producer gives every message.
HEADERS: list[tuple[str, str | bytes | None]] = [
    ("ingested_at", b"2026-11-23T10:00:00.123Z"),
    ("source_url", SOURCE_URL),
    ("api_version", b"1.4"),
    ("seed", b"it"),
    ("page", b"1"),
]


def _producer(settings: Settings) -> Producer:
    """A producer configured like the project's: keyed, idempotent, acks=all. Values over
    1 MB are allowed (lz4 makes a repetitive one fit the broker's limit), as a hostile client
    could send."""
    return Producer(
        {
            **client_config.config(settings.kafka, "producer"),
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "compression.type": "lz4",
            "message.max.bytes": 10_000_000,
        }
    )


def _send(
    producer: Producer,
    topic: str,
    key: bytes | None,
    value: bytes,
    on_delivery: Callable[[Any, Any], None],
) -> None:
    while True:
        try:
            producer.produce(topic, value, key, headers=HEADERS, on_delivery=on_delivery)
            break
        except BufferError:
            producer.poll(0.1)
    producer.poll(0)


def produce(
    settings: Settings, messages: list[tuple[bytes | None, bytes]]
) -> list[tuple[int, int]]:
    """Produce like the producer (``_producer``), with its headers; returns each message's
    (partition, offset), in order."""
    producer = _producer(settings)
    errors: list[Any] = []
    positions: list[tuple[int, int]] = [(-1, -1)] * len(messages)

    def on_delivery(index: int, err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(err)
        else:
            positions[index] = (msg.partition(), msg.offset())

    for index, (key, value) in enumerate(messages):
        _send(producer, settings.kafka.topic, key, value, functools.partial(on_delivery, index))
    assert producer.flush(60) == 0
    assert not errors, errors[:3]
    return positions


class Arrivals:
    """Users arriving at a steady ``rate`` a second, from a thread of their own, until
    ``stop``: produced like the producer, from fake pages of ``seed``. ``sent`` lists the ids
    the brokers acknowledged; ``errors`` the (id, error) of each delivery that failed.
    Use as a context manager: ``stop`` waits until every message is delivered, and raises
    what ended the thread, if anything did."""

    def __init__(self, settings: Settings, seed: str, rate: float) -> None:
        self.settings, self.seed, self.rate = settings, seed, rate
        self.sent: list[str] = []
        self.errors: list[tuple[str, Any]] = []
        self._failure: BaseException | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"arrivals-{seed}", daemon=True)

    def __enter__(self) -> Arrivals:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def alive(self) -> bool:
        """Still sending; raises what ended the thread when something did."""
        if self._failure is not None:
            raise AssertionError(f"the arrivals stopped: {self._failure!r}") from self._failure
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=WAIT_S + 30)  # past the final flush's own bound
        assert not self.alive(), "the arrivals did not end"

    def _delivered(self, err: Any, msg: Any) -> None:
        key = msg.key().decode()
        if err is not None:
            self.errors.append((key, err))
        else:
            self.sent.append(key)

    def _run(self) -> None:
        try:
            self._send_until_stopped()
        except BaseException as exc:
            self._failure = exc

    def _send_until_stopped(self) -> None:
        producer = _producer(self.settings)
        tick = 0.2
        per_tick, owed, page = self.rate * tick, 0.0, 0
        users: list[dict[str, Any]] = []
        next_at = time.monotonic()
        while not self._stopping.is_set():
            owed += per_tick
            while owed >= 1:
                if not users:
                    page += 1
                    users = make_page(self.seed, page, 500)
                user = users.pop()
                value = orjson.dumps(user)
                key = user["login"]["uuid"].encode()
                _send(producer, self.settings.kafka.topic, key, value, self._delivered)
                owed -= 1
            next_at += tick
            while (left := next_at - time.monotonic()) > 0:
                producer.poll(left)  # returns early when it serves a delivery
        left = producer.flush(WAIT_S)
        if left:
            raise AssertionError(f"{left} messages left undelivered after {WAIT_S} s")


def user_messages(users: list[dict[str, Any]]) -> list[tuple[bytes | None, bytes]]:
    return [(u["login"]["uuid"].encode(), orjson.dumps(u)) for u in users]


def read_dlq(settings: Settings, expected: int, *, timeout: float = 60) -> list[Any]:
    """Every message of the DLQ topic (waits until at least ``expected`` have arrived)."""
    consumer = Consumer(
        {
            **client_config.config(settings.kafka, "admin"),
            "group.id": f"it-dlq-{settings.spark.job_name}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    try:
        parts = [TopicPartition(settings.kafka.dlq_topic, p, 0) for p in range(2)]
        consumer.assign(parts)
        messages: list[Any] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                if len(messages) >= expected:
                    break
                continue
            assert msg.error() is None, msg.error()
            messages.append(msg)
        return messages
    finally:
        consumer.close()


def executor_of(worker_pid: int) -> int | None:
    """The pid of the Spark executor a standalone worker runs, None when it runs none."""
    import psutil

    for child in psutil.Process(worker_pid).children(recursive=True):
        try:
            if "org.apache.spark.executor.CoarseGrainedExecutorBackend" in child.cmdline():
                return child.pid
        except psutil.Error:
            continue
    return None
