"""The Kafka side of the producer: an idempotent confluent-kafka Producer that never drops.

Guarantee: effectively once per ``send()``. ``enable.idempotence=true`` + ``acks=all`` make
librdkafka's own retries (broker restart, leader change) write each message exactly once and
in order per partition. Every message ends in exactly one bucket: delivered to the main
topic, delivered to the DLQ topic, or failed — failures are collected in the delivery
callback and reported after :meth:`KafkaSink.flush`, never swallowed. A full local queue
(``BufferError``) is back-pressure: we serve callbacks and retry, we never drop.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from userstream.config import KafkaSettings
from userstream.errors import ConfigError
from userstream.metrics import ProducerMetrics
from userstream.producing.messages import Headers

log = logging.getLogger(__name__)

# Settings that carry the no-loss/no-duplicate promise; client_config may not weaken them.
_GUARANTEES: dict[str, str] = {"enable.idempotence": "true", "acks": "all"}
_MAX_ERRORS_KEPT = 5
# After a flush timeout, how long to wait for the purged messages' callbacks.
_PURGE_WAIT_S = 10.0


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message acknowledged by the broker on the main topic."""

    key: str | None
    partition: int
    offset: int


@dataclass
class SinkCounts:
    """What the broker acknowledged or refused, as seen by the delivery callbacks."""

    produced: int = 0
    dead_lettered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    partitions: Counter[int] = field(default_factory=Counter)
    deliveries: list[Delivery] = field(default_factory=list)

    def note_error(self, text: str) -> None:
        if len(self.errors) < _MAX_ERRORS_KEPT:
            self.errors.append(text)


def producer_config(kafka: KafkaSettings) -> dict[str, Any]:
    """The librdkafka configuration: tuning from settings, then ``client_config``, then the
    guarantees (which ``client_config`` may repeat but not contradict)."""
    config: dict[str, Any] = {
        "bootstrap.servers": kafka.bootstrap_servers,
        "client.id": "userstream-producer",
        "compression.type": kafka.compression,
        "linger.ms": kafka.linger_ms,
        "batch.size": kafka.batch_size,
        "message.timeout.ms": kafka.delivery_timeout_ms,
    }
    for key, value in kafka.client_config.items():
        wanted = _GUARANTEES.get(key)
        if wanted is not None and str(value).lower() != wanted:
            raise ConfigError(
                f"kafka.client_config sets {key}={value}, but the producer needs {key}={wanted} "
                "so that retries never lose or duplicate a user.",
                hint=f"Remove {key} from USERSTREAM_KAFKA__CLIENT_CONFIG.",
            )
        config[key] = value
    config.update(_GUARANTEES)
    return config


class KafkaSink:
    """Sends messages to the main topic or its DLQ and accounts for every one of them.

    The constructor only stores arguments; :meth:`start` creates the client (it connects
    lazily). ``track_deliveries`` keeps one :class:`Delivery` per main-topic message
    (for bounded runs whose landing is checked afterwards).
    """

    def __init__(
        self, kafka: KafkaSettings, metrics: ProducerMetrics, *, track_deliveries: bool = False
    ) -> None:
        self._kafka = kafka
        self._metrics = metrics
        self._track = track_deliveries
        self._producer: Producer | None = None
        self.counts = SinkCounts()
        self.fatal: KafkaError | None = None

    @property
    def topic(self) -> str:
        return self._kafka.topic

    def start(self) -> None:
        config = producer_config(self._kafka)
        config["on_delivery"] = self._on_delivery
        config["error_cb"] = self._on_error
        # librdkafka's own log lines become log events instead of raw stderr output.
        config["logger"] = logging.getLogger("librdkafka.producer")
        try:
            self._producer = Producer(config)
        except KafkaException as exc:
            raise ConfigError(f"The Kafka producer configuration was refused: {exc}.") from exc

    def send(self, key: bytes | None, value: bytes, headers: Headers, *, dlq: bool) -> None:
        """Queue one message; blocks (serving callbacks) while the local queue is full."""
        producer = self._require()
        topic = self._kafka.dlq_topic if dlq else self._kafka.topic
        while True:
            try:
                producer.produce(topic, value, key, headers=headers)
            except BufferError:
                # Back-pressure: the broker is slower than the API or away; wait, never drop.
                producer.poll(0.1)
                continue
            except KafkaException as exc:
                # Refused before queueing (too large, fatal producer state): a counted failure.
                self._fail(f"{topic}: {exc.args[0]}")
            break
        producer.poll(0)

    def pending(self) -> int:
        return len(self._require()) if self._producer is not None else 0

    def flush(self, timeout: float) -> None:
        """Wait for every queued message's outcome. Whatever is still undelivered after
        ``timeout`` is purged and counted as failed (its callbacks report why)."""
        producer = self._require()
        remaining = producer.flush(timeout)
        if remaining:
            log.warning("flush_timeout pending=%d timeout_s=%s", remaining, timeout)
            producer.purge(in_queue=True, in_flight=True)
            left = producer.flush(_PURGE_WAIT_S)
            if left:
                for _ in range(left):
                    self._fail("message still undelivered after the flush timeout")

    def _require(self) -> Producer:
        if self._producer is None:
            raise RuntimeError("KafkaSink.start() must be called before sending")
        return self._producer

    def _fail(self, text: str) -> None:
        self.counts.failed += 1
        self.counts.note_error(text)
        self._metrics.delivery_failures.inc()

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._fail(f"{msg.topic()}[{msg.partition()}]: {err.str()}")
            return
        partition = msg.partition() or 0
        if msg.topic() == self._kafka.topic:
            self.counts.produced += 1
            self.counts.partitions[partition] += 1
            self._metrics.produced.inc()
            if self._track:
                key = msg.key()
                self.counts.deliveries.append(
                    Delivery(
                        key=key.decode(errors="replace") if key is not None else None,
                        partition=partition,
                        offset=msg.offset() or 0,
                    )
                )
        else:
            self.counts.dead_lettered += 1
            self._metrics.dead_lettered.inc()

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self.fatal = err
            log.error("kafka_fatal error=%s", err.str())
        else:
            # Transient client-level errors (broker away, connection refused): librdkafka
            # keeps retrying until message.timeout.ms; the delivery callback has the outcome.
            log.warning("kafka_error code=%s error=%s", err.name(), err.str())
