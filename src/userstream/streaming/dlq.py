"""The stream's dead letters: each rejected record to ``<topic>.dlq``, once per position.

Key and value are the original bytes with the API's credentials removed (``records.redact``);
a value the stream read only the beginning of (over ``records.MAX_MESSAGE_BYTES``) or a key
over ``records.MAX_KEY_BYTES`` is sent cut, with ``value_truncated``/``key_truncated: true``.
The headers say why and where from: ``dlq_reason`` (the sentence), ``source_topic``,
``source_partition``, ``source_offset`` (the position: the key to deduplicate on) and
``ingested_at``. Which rejects are sent, and when, is the sink's decision
(``cassandra_writer``); this module only produces and surfaces failures.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from userstream.contract import H_DLQ_REASON, H_INGESTED_AT, H_VALUE_TRUNCATED
from userstream.errors import TransientError
from userstream.streaming.records import redact

if TYPE_CHECKING:
    from userstream.streaming.records import Record

FLUSH_TIMEOUT_S = 60.0
#: Below the flush timeout: a message not delivered by then has failed (and is purged), so
#: it cannot also arrive later beside the replay's copy.
MESSAGE_TIMEOUT_MS = 45_000


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
            "message.timeout.ms": MESSAGE_TIMEOUT_MS,
        }
        self._producer: Any = None
        #: One send at a time: the sink's writer threads share this producer.
        self._lock = threading.Lock()

    def send(self, rejects: Sequence[tuple[Record, str, dt.datetime | None]]) -> None:
        """Produce and flush; raises ``TransientError`` unless every message was acknowledged."""
        with self._lock:
            self._send(rejects)

    def _send(self, rejects: Sequence[tuple[Record, str, dt.datetime | None]]) -> None:
        from confluent_kafka import Producer

        if self._producer is None:
            self._producer = Producer(self._config)
        errors: list[str] = []

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(str(err))

        for record, reason, at in rejects:
            headers = [
                (H_DLQ_REASON, reason[:2000].encode()),
                ("source_topic", record.topic.encode()),
                ("source_partition", str(record.partition).encode()),
                ("source_offset", str(record.offset).encode()),
                (H_VALUE_TRUNCATED, b"true" if record.size is not None else b"false"),
            ]
            if record.key_size is not None:
                headers.append(("key_truncated", b"true"))
            if at is not None:
                stamp = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
                headers.append((H_INGESTED_AT, stamp.encode()))
            while True:
                try:
                    self._producer.produce(
                        self.topic,
                        redact(record.value),
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
            # Start over on the replay: nothing of this attempt may be delivered late, and a
            # producer in a fatal state (idempotence) is not reused.
            self._producer.purge()
            self._producer.flush(0)
            self._producer = None
            raise TransientError(
                f"{left or len(errors)} dead letter(s) to {self.topic!r} were not acknowledged"
                + (f": {errors[0]}" if errors else ""),
                hint="The micro-batch is replayed from the checkpoint.",
            )
