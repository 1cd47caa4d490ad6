"""The stream's dead letters: each rejected record to ``<topic>.dlq``, once per position.

Key and value are the original bytes (a value over ``MAX_DLQ_VALUE_BYTES`` is cut, with
``value_truncated: true``), and the headers say why and where from: ``dlq_reason`` (the
sentence), ``source_topic``, ``source_partition``, ``source_offset`` (the position: the
key to deduplicate on) and ``ingested_at``. Which rejects are sent, and when, is the
sink's decision (``cassandra_sink``); this module only produces and surfaces failures.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from userstream.errors import TransientError
from userstream.producing.messages import H_DLQ_REASON, H_INGESTED_AT, H_VALUE_TRUNCATED

if TYPE_CHECKING:
    from userstream.streaming.records import Record

#: The largest value put on the DLQ (a real user is ~1.1 KB; Kafka's default limit is 1 MB).
MAX_DLQ_VALUE_BYTES = 64 * 1024
FLUSH_TIMEOUT_S = 60.0


class DeadLetters:
    """An idempotent, fully acknowledged producer for one DLQ topic (created on first use)."""

    def __init__(self, bootstrap_servers: str, client_config: dict[str, str], topic: str) -> None:
        self.topic = topic
        self._config: dict[str, Any] = {
            "bootstrap.servers": bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            **client_config,
        }
        self._producer: Any = None

    def send(self, rejects: Sequence[tuple[Record, str, dt.datetime | None]]) -> None:
        """Produce and flush; raises ``TransientError`` unless every message was acknowledged."""
        from confluent_kafka import Producer

        if self._producer is None:
            self._producer = Producer(self._config)
        errors: list[str] = []

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(str(err))

        for record, reason, at in rejects:
            value = record.value
            cut = value is not None and len(value) > MAX_DLQ_VALUE_BYTES
            headers = [
                (H_DLQ_REASON, reason.encode()),
                ("source_topic", record.topic.encode()),
                ("source_partition", str(record.partition).encode()),
                ("source_offset", str(record.offset).encode()),
                (H_VALUE_TRUNCATED, b"true" if cut else b"false"),
            ]
            if at is not None:
                stamp = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
                headers.append((H_INGESTED_AT, stamp.encode()))
            while True:
                try:
                    self._producer.produce(
                        self.topic,
                        value[:MAX_DLQ_VALUE_BYTES] if cut and value is not None else value,
                        record.key,
                        headers=headers,
                        on_delivery=on_delivery,
                    )
                    break
                except BufferError:
                    self._producer.poll(0.1)
            self._producer.poll(0)
        left = self._producer.flush(FLUSH_TIMEOUT_S)
        if left or errors:
            raise TransientError(
                f"{left or len(errors)} dead letter(s) to {self.topic!r} were not acknowledged"
                + (f": {errors[0]}" if errors else ""),
                hint="The micro-batch is replayed from the checkpoint.",
            )
