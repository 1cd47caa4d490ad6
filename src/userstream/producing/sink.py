"""The Kafka side of the producer: an idempotent confluent-kafka Producer that never drops.

Guarantee: effectively once per ``send()``. ``enable.idempotence=true`` + ``acks=all`` make
librdkafka's own retries (broker restart, leader change) write each message exactly once and
in order per partition. Every message ends in exactly one bucket: delivered to the main
topic, delivered to the DLQ topic, or failed — failures are collected in the delivery
callback and reported after :meth:`KafkaSink.flush`, never swallowed. A full local queue
(``BufferError``) is back-pressure: we serve callbacks and retry, we never drop.

A message too large for Kafka is not a failure: one over ``kafka.max_message_bytes`` is
never produced, and one refused as too large (by librdkafka at ``produce()`` or by the
broker in the delivery report) is not retried; either way a cut copy goes to the DLQ
(:mod:`userstream.producing.oversize`) and counts as dead-lettered once it is delivered.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from userstream.config import KafkaSettings
from userstream.errors import ConfigError
from userstream.kafka import client_config
from userstream.producing import oversize
from userstream.producing.messages import Headers
from userstream.producing.metrics import ProducerMetrics

log = logging.getLogger(__name__)

# Settings that carry the no-loss/no-duplicate promise; client_config may not weaken them.
_GUARANTEES: dict[str, str] = {"enable.idempotence": "true", "acks": "all"}
# Settings with a typed home in KafkaSettings; client_config may not set them a second time.
_OWNED = {"message.max.bytes": "USERSTREAM_KAFKA__MAX_MESSAGE_BYTES"}
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
    """The librdkafka configuration: tuning from settings, then the producer role's login
    and ``client_config``, then the guarantees (which ``client_config`` may repeat but not
    contradict)."""
    config: dict[str, Any] = {
        "client.id": "userstream-producer",
        "compression.type": kafka.compression,
        "linger.ms": kafka.linger_ms,
        "batch.size": kafka.batch_size,
        "message.timeout.ms": kafka.delivery_timeout_ms,
        "message.max.bytes": kafka.max_message_bytes,
    }
    for key, value in kafka.client_config.items():
        if key in _OWNED:
            raise ConfigError(
                f"kafka.client_config sets {key}, which the producer takes from "
                f"{_OWNED[key]} (the same limit decides what goes to the dead-letter topic).",
                hint=f"Move the value to {_OWNED[key]}.",
            )
        wanted = _GUARANTEES.get(key)
        if wanted is not None and str(value).lower() != wanted:
            raise ConfigError(
                f"kafka.client_config sets {key}={value}, but the producer needs {key}={wanted} "
                "so that retries never lose or duplicate a user.",
                hint=f"Remove {key} from USERSTREAM_KAFKA__CLIENT_CONFIG.",
            )
    config.update(client_config.config(kafka, "producer"))
    config.update(_GUARANTEES)
    return config


# Headers as held while in flight: a tuple of tuples of bytes, which the garbage collector
# stops tracking (a list of them costs a full collection's attention per message).
_Held = tuple[tuple[str, str | bytes | None], ...]


class _InFlight:
    """The headers of messages awaiting their delivery report, by topic and key.

    A delivery report does not carry the headers (confluent-kafka drops them), and a message
    the broker refuses as too large is dead-lettered with them. Measured on the local broker:
    a per-message callback carrying them halves the sink's throughput; this map adds about
    2 µs of CPU per message to the sink (~7 µs before), lost in a whole run's ~90 µs.
    Reports for one key on one topic come in produce order (one partition, idempotent
    producer), so a key in flight more than once is a queue. Key-less messages go to
    random partitions: for those the headers may be another key-less message's of the run.
    """

    def __init__(self) -> None:
        self._topics: dict[str, dict[bytes | None, _Held | deque[_Held]]] = {}

    def add(self, topic: str, key: bytes | None, headers: Headers) -> None:
        by_key = self._topics.get(topic)
        if by_key is None:
            by_key = self._topics[topic] = {}
        held = by_key.get(key)
        if held is None:
            by_key[key] = tuple(headers)
        elif isinstance(held, deque):
            held.append(tuple(headers))
        else:
            by_key[key] = deque((held, tuple(headers)))

    def pop(self, topic: str, key: bytes | None) -> _Held:
        by_key = self._topics.get(topic)
        if by_key is None:
            return ()
        held = by_key.pop(key, None)
        if not isinstance(held, deque):
            return held or ()
        first = held.popleft()
        if held:
            by_key[key] = held
        return first


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
        self._quick_limit = oversize.quick_limit(kafka.max_message_bytes)
        self._in_flight = _InFlight()
        # Refused as too large, waiting to be dead-lettered: (key, value, headers, by whom).
        self._refused: deque[tuple[bytes | None, bytes, Headers, oversize.RefusedBy]] = deque()

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
        """Queue one message; blocks (serving callbacks) while the local queue is full.

        A message over ``kafka.max_message_bytes`` goes to the DLQ, cut, instead.
        """
        producer = self._require()
        too_large = None
        if len(value) + len(key or b"") > self._quick_limit:  # else it fits: skip the measure
            too_large = oversize.check(key, value, headers, self._kafka.max_message_bytes)
        if too_large is not None:
            self._dead_letter(key, value, headers, too_large)
        else:
            self._produce(self._kafka.dlq_topic if dlq else self._kafka.topic, key, value, headers)
        producer.poll(0)
        if self._refused:
            self._dead_letter_refused()

    def _produce(self, topic: str, key: bytes | None, value: bytes, headers: Headers) -> None:
        producer = self._require()
        while True:
            try:
                producer.produce(topic, value, key, headers=headers)
            except BufferError:
                # Back-pressure: the broker is slower than the API or away; wait, never drop.
                producer.poll(0.1)
                continue
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if oversize.is_size_error(error) and not oversize.is_dead_letter(headers):
                    self._refused.append((key, value, headers, oversize.LIBRDKAFKA))
                else:
                    # Refused before queueing (fatal producer state, a dead letter that
                    # still does not fit): a counted failure.
                    self._fail(f"{topic}: {error.str()}")
            else:
                self._in_flight.add(topic, key, headers)
            break

    def _dead_letter(
        self, key: bytes | None, value: bytes, headers: Headers, too_large: oversize.TooLarge
    ) -> None:
        dlq_value, dlq_headers = oversize.dead_letter(key, value, headers, too_large)
        log.warning(
            "dead_letter_too_large key=%s size=%d limit=%d kept=%d refused_by=%s",
            key.decode(errors="replace") if key is not None else "-",
            too_large.size,
            too_large.limit,
            len(dlq_value),
            too_large.refused_by or "-",
        )
        self._produce(self._kafka.dlq_topic, key, dlq_value, dlq_headers)

    def _dead_letter_refused(self) -> None:
        """Send to the DLQ what was refused as too large since the last call (collected by
        ``_produce`` and the delivery callback, which must not produce themselves)."""
        limit = self._kafka.max_message_bytes
        while self._refused:
            key, value, headers, refused_by = self._refused.popleft()
            size = oversize.message_size(key, value, headers)
            self._dead_letter(key, value, headers, oversize.TooLarge(size, limit, refused_by))

    def pending(self) -> int:
        return len(self._require()) if self._producer is not None else 0

    def flush(self, timeout: float) -> None:
        """Wait for every queued message's outcome, dead letters for refused ones included.
        Whatever is still undelivered after ``timeout`` is purged and counted as failed
        (its callbacks report why)."""
        producer = self._require()
        deadline = time.monotonic() + timeout
        remaining = producer.flush(timeout)
        while self._refused and not remaining:
            self._dead_letter_refused()
            remaining = producer.flush(max(deadline - time.monotonic(), 0.0))
        if remaining:
            log.warning("flush_timeout pending=%d timeout_s=%s", remaining, timeout)
            producer.purge(in_queue=True, in_flight=True)
            left = producer.flush(_PURGE_WAIT_S)
            if left:
                for _ in range(left):
                    self._fail("message still undelivered after the flush timeout")
        while self._refused:  # refused after the deadline: no time left for a dead letter
            key = self._refused.popleft()[0]
            self._fail(f"key {key!r} refused as too large after the flush timeout")

    def _require(self) -> Producer:
        if self._producer is None:
            raise RuntimeError("KafkaSink.start() must be called before sending")
        return self._producer

    def _fail(self, text: str) -> None:
        self.counts.failed += 1
        self.counts.note_error(text)
        self._metrics.failed.inc()

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        held = self._in_flight.pop(msg.topic() or "", msg.key())
        if err is not None:
            headers = list(held)
            if oversize.is_size_error(err) and not oversize.is_dead_letter(headers):
                self._refused.append((msg.key(), msg.value() or b"", headers, oversize.BROKER))
            else:
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
