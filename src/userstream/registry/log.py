"""Where the registry keeps what it was told: an append-only log of keyed records, replayed
on start. ``KafkaLog`` is a compacted Kafka topic, as Confluent's registry keeps its
``_schemas``; ``MemoryLog`` holds the records in this process (tests).

``append`` returns only once the record is durable (Kafka: acknowledged by every in-sync
replica, ``acks=all``, idempotent producer), so the registry applies a change only after it
is stored, and a restart replays everything it ever answered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from userstream.errors import ConfigError, TransientError

if TYPE_CHECKING:
    from confluent_kafka import Producer

    from userstream.config import KafkaSettings

log = logging.getLogger(__name__)

Record = tuple[bytes, bytes | None]


class StoreError(Exception):
    """A record could not be stored (nothing was applied); the message says why."""


class SchemaLog(Protocol):
    """The registry's durable store: keyed records, the latest per key the one that counts."""

    def replay(self) -> Iterator[Record]:
        """Every record stored so far, oldest first (a ``None`` value deletes its key)."""
        ...

    def append(self, key: bytes, value: bytes | None) -> None:
        """Store one record; returns once it is durable, else raises ``StoreError``."""
        ...

    def close(self) -> None: ...


class MemoryLog:
    """A ``SchemaLog`` in this process's memory. Set ``broken`` to a reason to make every
    ``append`` fail with it (a store that is down)."""

    def __init__(self, records: list[Record] | None = None) -> None:
        self.records: list[Record] = list(records or [])
        self.broken: str | None = None

    def replay(self) -> Iterator[Record]:
        yield from list(self.records)

    def append(self, key: bytes, value: bytes | None) -> None:
        if self.broken is not None:
            raise StoreError(self.broken)
        self.records.append((key, value))

    def close(self) -> None:
        pass


class KafkaLog:
    """A ``SchemaLog`` on a compacted topic of one partition, with the Kafka admin role's
    client settings (``kafka.client_config``). ``start()`` creates the topic when missing
    (``cleanup.policy=compact``, ``replication_factor`` copies) and connects; nothing
    touches the network before it."""

    #: How long one append may wait for the brokers' acknowledgement.
    APPEND_TIMEOUT_S = 30.0

    def __init__(self, kafka: KafkaSettings, topic: str, *, timeout: float = 60.0) -> None:
        self.kafka = kafka
        self.topic = topic
        self.timeout = timeout
        self._producer: Producer | None = None

    def _client(self) -> dict[str, Any]:
        from userstream.kafka import client_config

        return dict(client_config.config(self.kafka, "admin"))

    def start(self) -> None:
        """Ensure the topic and connect the producer. Raises ``TransientError`` when Kafka
        does not answer in ``timeout`` s, ``ConfigError`` when it refuses the topic."""
        from confluent_kafka import Producer

        self._ensure_topic()
        self._producer = Producer(
            {
                **self._client(),
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 0,
                "logger": logging.getLogger("librdkafka.registry"),
            }
        )

    def _ensure_topic(self) -> None:
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import AdminClient, NewTopic

        conf: dict[str, Any] = {
            **self._client(),
            "logger": logging.getLogger("librdkafka.registry"),
        }
        admin = AdminClient(conf)
        deadline = time.monotonic() + self.timeout
        rf = self.kafka.replication_factor
        new = NewTopic(self.topic, 1, rf, config={"cleanup.policy": "compact"})
        future = admin.create_topics([new], request_timeout=self.timeout)[self.topic]
        try:
            future.result()
            log.info("registry_topic_created topic=%s replication_factor=%d", self.topic, rf)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise (ConfigError if error.fatal() or not error.retriable() else TransientError)(
                    f"Kafka at {self.kafka.bootstrap_servers} did not create the registry's "
                    f"topic {self.topic!r}: {error.str()}.",
                    hint="Check USERSTREAM_KAFKA__REPLICATION_FACTOR and that the admin login "
                    "may create topics.",
                ) from exc
        while True:  # a new topic is briefly without a leader
            try:
                topic = admin.list_topics(self.topic, timeout=5).topics.get(self.topic)
            except KafkaException:
                topic = None
            leaders = [p.leader for p in topic.partitions.values()] if topic else []
            if topic is not None and topic.error is None and leaders and min(leaders) >= 0:
                return
            if time.monotonic() > deadline:
                raise TransientError(
                    f"The registry's topic {self.topic!r} has no leader on "
                    f"{self.kafka.bootstrap_servers} after {self.timeout:g} s.",
                    hint="Check the broker's log; start the registry again when it is healthy.",
                )
            time.sleep(0.2)

    def replay(self) -> Iterator[Record]:
        """Read the topic from its start to the end it had when this was called."""
        from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

        consumer = Consumer(
            {
                **self._client(),
                "group.id": "userstream-registry",
                "enable.auto.commit": False,
                "logger": logging.getLogger("librdkafka.registry"),
            }
        )
        try:
            partition = TopicPartition(self.topic, 0)
            try:
                low, high = consumer.get_watermark_offsets(partition, timeout=self.timeout)
            except KafkaException as exc:
                raise TransientError(
                    f"The registry could not read the end of {self.topic!r} on "
                    f"{self.kafka.bootstrap_servers}: {exc}."
                ) from exc
            if high <= low:
                return
            consumer.assign([TopicPartition(self.topic, 0, OFFSET_BEGINNING)])
            deadline = time.monotonic() + self.timeout
            while True:
                message = consumer.poll(1.0)
                if message is None:
                    if time.monotonic() > deadline:
                        raise TransientError(
                            f"The registry did not read {self.topic!r} to its end ({high}) "
                            f"within {self.timeout:g} s."
                        )
                    continue
                if message.error():
                    raise TransientError(
                        f"The registry could not read {self.topic!r}: {message.error()}."
                    )
                key = message.key()
                if key is not None:
                    yield key, message.value()
                offset = message.offset()
                if offset is not None and offset + 1 >= high:
                    return
        finally:
            consumer.close()

    def append(self, key: bytes, value: bytes | None) -> None:
        if self._producer is None:
            raise StoreError("the registry's Kafka log was not started")
        failures: list[str] = []
        acked: list[bool] = []

        def delivered(err: Any, _message: Any) -> None:
            if err is not None:
                failures.append(str(err))
            else:
                acked.append(True)

        from confluent_kafka import KafkaException

        try:
            self._producer.produce(self.topic, key=key, value=value, on_delivery=delivered)
        except (BufferError, KafkaException) as exc:
            raise StoreError(f"Kafka refused the record: {exc}") from exc
        left = self._producer.flush(self.APPEND_TIMEOUT_S)
        if failures:
            raise StoreError(f"Kafka did not store the record: {failures[0]}")
        if left or not acked:
            raise StoreError(f"Kafka did not acknowledge the record in {self.APPEND_TIMEOUT_S} s")

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(self.APPEND_TIMEOUT_S)
            self._producer = None
