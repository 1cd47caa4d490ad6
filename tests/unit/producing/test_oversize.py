"""Messages too large for Kafka: the measure, the decision and the dead letter (no broker).

librdkafka's own size check runs inside ``produce()`` before anything is sent, so a
producer pointed at a closed port is the real judge of the measure, not a mock.
"""

from __future__ import annotations

import logging

import orjson
import pytest
from confluent_kafka import KafkaError, KafkaException, Producer

from userstream import contract
from userstream.config import KafkaSettings
from userstream.errors import ConfigError
from userstream.producing import messages, oversize
from userstream.producing.messages import DlqReason, Headers
from userstream.producing.metrics import producer_metrics
from userstream.producing.sink import KafkaSink, producer_config

NOWHERE = "127.0.0.1:1"
KEY = b"9f07341f-c7e6-45b7-bab0-af6de5a4582d"
HEADERS: Headers = [
    (contract.H_INGESTED_AT, b"2026-11-23T10:00:00.123Z"),
    *messages.page_headers(source_url="http://api/1.4/", api_version="1.4", seed="s", page=7),
]


def _librdkafka_accepts(limit: int, key: bytes | None, value: bytes, headers: Headers) -> bool:
    producer = Producer(
        {
            "bootstrap.servers": NOWHERE,
            "message.max.bytes": limit,
            "logger": logging.getLogger("test.librdkafka"),
        }
    )
    try:
        producer.produce("t_unit", value, key, headers=headers)
    except KafkaException as exc:
        assert exc.args[0].code() == KafkaError.MSG_SIZE_TOO_LARGE
        return False
    finally:
        producer.purge()
    return True


@pytest.mark.parametrize(
    ("key", "headers"),
    [
        (KEY, HEADERS),
        (None, []),
        (b"k", [("long", b"v" * 300), ("none", None), ("text", "héllo")]),
    ],
)
def test_the_measure_is_the_one_librdkafka_applies(key: bytes | None, headers: Headers) -> None:
    limit = 5000
    fits = b"x" * (limit - oversize.message_size(key, b"", headers))
    assert oversize.message_size(key, fits, headers) == limit
    assert _librdkafka_accepts(limit, key, fits, headers)
    assert not _librdkafka_accepts(limit, key, fits + b"x", headers)


def test_a_message_at_the_limit_passes_and_one_byte_more_is_too_large() -> None:
    limit = 1_000_000
    at_limit = b"x" * (limit - oversize.message_size(KEY, b"", HEADERS))
    assert oversize.check(KEY, at_limit, HEADERS, limit) is None
    too_large = oversize.check(KEY, at_limit + b"x", HEADERS, limit)
    assert too_large == oversize.TooLarge(limit + 1, limit)
    assert too_large.reason() == "message of 1000001 bytes exceeds the limit of 1000000 bytes"
    assert oversize.check(KEY, b"{}", HEADERS, limit) is None


def test_the_reason_says_who_refused_a_message_under_our_limit() -> None:
    assert (
        oversize.TooLarge(1200, 1000, "the broker")
        .reason()
        .startswith("message of 1200 bytes exceeds the limit of 1000 bytes")
    )
    broker = oversize.TooLarge(900, 1000, "the broker").reason()
    assert broker.startswith("message of 900 bytes was refused as too large by the broker")
    assert "max.message.bytes" in broker and "kafka.max_message_bytes=1000" in broker


def _headers(headers: Headers) -> dict[str, bytes]:
    return {
        name: value.encode() if isinstance(value, str) else value or b"" for name, value in headers
    }


def test_the_dead_letter_keeps_key_and_headers_and_the_first_64_kib_of_the_value() -> None:
    value = orjson.dumps(
        {"login": {"uuid": KEY.decode()}, "location": {"country": "x" * 2_000_000}}
    )
    too_large = oversize.check(KEY, value, HEADERS, 1_000_000)
    assert too_large is not None
    cut, headers = oversize.dead_letter(KEY, value, HEADERS, too_large)
    assert cut == value[: oversize.DLQ_VALUE_BYTES]
    assert headers[: len(HEADERS)] == HEADERS
    added = _headers(headers[len(HEADERS) :])
    assert added == {
        contract.H_DLQ_REASON: b"too_large",
        contract.H_DLQ_DETAIL: f"message of {too_large.size} bytes exceeds the limit of "
        "1000000 bytes".encode(),
        contract.H_ORIGINAL_SIZE: str(too_large.size).encode(),
        contract.H_VALUE_TRUNCATED: b"true",
    }
    assert oversize.is_dead_letter(headers) and not oversize.is_dead_letter(HEADERS)


def test_under_a_small_limit_the_dead_letter_is_cut_to_fit_it() -> None:
    limit = 2000
    value = b"y" * 5000
    too_large = oversize.check(KEY, value, HEADERS, limit)
    assert too_large is not None
    cut, headers = oversize.dead_letter(KEY, value, HEADERS, too_large)
    assert oversize.message_size(KEY, cut, headers) in (limit, limit - 1)  # "true" < "false"
    assert value.startswith(cut) and len(cut) > 1000
    assert _librdkafka_accepts(limit, KEY, cut, headers)


def test_the_cut_never_splits_a_character() -> None:
    value = "é".encode() * 100_000  # two bytes each: 64 KiB is a boundary, 64 KiB - 1 is not
    cut, _ = oversize.dead_letter(KEY, value, [], oversize.TooLarge(len(value), 100_000))
    assert len(cut) <= oversize.DLQ_VALUE_BYTES
    cut.decode()  # whole characters only
    odd, _ = oversize.dead_letter(b"k", b"a" + value, [], oversize.TooLarge(len(value), 100_000))
    odd.decode()


def test_a_refused_message_smaller_than_64_kib_keeps_its_whole_value() -> None:
    value = b'{"login":{}}'
    cut, headers = oversize.dead_letter(
        KEY, value, HEADERS, oversize.TooLarge(900, 1000, "the broker")
    )
    assert cut == value
    assert _headers(headers)[contract.H_VALUE_TRUNCATED] == b"false"


def test_a_user_already_headed_for_the_dlq_keeps_its_first_reason() -> None:
    headers = [*HEADERS, (contract.H_DLQ_REASON, DlqReason.MISSING_UUID.value.encode())]
    _, dead = oversize.dead_letter(None, b"x" * 70_000, headers, oversize.TooLarge(70_300, 65_000))
    assert [v for k, v in dead if k == contract.H_DLQ_REASON] == [b"missing_uuid"]
    assert _headers(dead)[contract.H_DLQ_DETAIL].startswith(b"message of 70300 bytes exceeds")


def test_a_too_large_user_is_dead_lettered_without_its_credentials() -> None:
    login = {"uuid": KEY.decode(), "password": "racers", "salt": "B5ywSDUM", "sha1": "3fa1"}
    out = messages.build({"login": login, "extra": "x" * 2_000_000})
    too_large = oversize.check(out.key, out.value, HEADERS, 1_000_000)
    assert too_large is not None
    cut, _ = oversize.dead_letter(out.key, out.value, HEADERS, too_large)
    # The login is within the 64 KiB kept, without its credentials.
    assert cut.startswith(b'{"login":{"uuid":"' + KEY + b'"},"extra":"xxx')
    for text in (b"password", b"racers", b"salt", b"B5ywSDUM", b"sha1", b"3fa1"):
        assert text not in cut


def test_the_limit_is_the_producers_message_max_bytes_and_set_in_one_place() -> None:
    assert producer_config(KafkaSettings())["message.max.bytes"] == 1_000_000
    assert producer_config(KafkaSettings(max_message_bytes=4000))["message.max.bytes"] == 4000
    with pytest.raises(ConfigError, match="USERSTREAM_KAFKA__MAX_MESSAGE_BYTES"):
        producer_config(KafkaSettings(client_config={"message.max.bytes": "2000000"}))


def _sink(**update: object) -> KafkaSink:
    kafka = KafkaSettings(bootstrap_servers=NOWHERE, topic="t_unit", **update)  # type: ignore[arg-type]
    sink = KafkaSink(kafka, producer_metrics())
    sink.start()
    return sink


def test_the_sink_sends_a_too_large_message_to_the_dlq_instead() -> None:
    # No broker: the dead letter then times out, and its error names the topic it went to.
    sink = _sink(delivery_timeout_ms=1000, max_message_bytes=10_000)
    sink.send(KEY, b"z" * 20_000, HEADERS, dlq=False)
    sink.send(KEY, b"{}", HEADERS, dlq=False)
    sink.flush(30)
    assert (sink.counts.produced, sink.counts.dead_lettered, sink.counts.failed) == (0, 0, 2)
    assert sorted(e.split("[")[0] for e in sink.counts.errors) == ["t_unit", "t_unit.dlq"]


def test_a_message_librdkafka_refuses_at_produce_is_dead_lettered_not_failed() -> None:
    # Headers this large slip past the quick check; librdkafka's refusal is caught instead.
    sink = _sink(delivery_timeout_ms=1000, max_message_bytes=40_000)
    headers: Headers = [*HEADERS, ("padding", b"p" * 30_000)]
    sink.send(KEY, b"v" * 20_000, headers, dlq=False)
    # Queued for the DLQ, not failed (librdkafka may also count its own events as pending).
    assert sink.pending() >= 1 and sink.counts.failed == 0
    sink.flush(30)
    assert sink.counts.failed == 1 and sink.counts.errors[0].startswith("t_unit.dlq")


def test_a_dead_letter_that_cannot_fit_is_a_failure_not_a_loop() -> None:
    # The headers alone exceed the limit: not even an empty value fits.
    sink = _sink(delivery_timeout_ms=1000, max_message_bytes=1000)
    sink.send(KEY, b"v" * 10, [("padding", b"p" * 2000)], dlq=False)
    sink.flush(30)
    assert (sink.counts.dead_lettered, sink.counts.failed) == (0, 1)
    assert "t_unit.dlq" in sink.counts.errors[0] and "too large" in sink.counts.errors[0]
