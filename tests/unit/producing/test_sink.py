"""The sink's accounting when Kafka cannot be reached: failures are counted, never lost.

No broker is needed: the bootstrap address is a closed local port.
"""

from __future__ import annotations

from userstream.config import KafkaSettings
from userstream.producing.metrics import producer_metrics
from userstream.producing.sink import KafkaSink

NOWHERE = "127.0.0.1:1"


def _sink(**update: object) -> KafkaSink:
    kafka = KafkaSettings(bootstrap_servers=NOWHERE, topic="t_unit", **update)  # type: ignore[arg-type]
    sink = KafkaSink(kafka, producer_metrics(), track_deliveries=True)
    sink.start()
    return sink


def test_messages_that_time_out_are_counted_as_failed_after_flush() -> None:
    sink = _sink(delivery_timeout_ms=1000)
    before = producer_metrics().failed._value.get()
    for i in range(5):
        sink.send(f"k{i}".encode(), b"{}", [], dlq=i == 4)
    sink.flush(30)
    assert (sink.counts.produced, sink.counts.dead_lettered, sink.counts.failed) == (0, 0, 5)
    assert sink.counts.errors and "t_unit" in sink.counts.errors[0]
    assert sink.counts.deliveries == []
    assert producer_metrics().failed._value.get() == before + 5


def test_a_flush_that_times_out_purges_and_counts_what_is_left() -> None:
    sink = _sink(delivery_timeout_ms=300_000)
    for i in range(3):
        sink.send(f"k{i}".encode(), b"{}", [], dlq=False)
    sink.flush(0.5)
    assert sink.counts.failed == 3
    assert sink.pending() == 0
