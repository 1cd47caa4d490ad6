"""Messages too large for Kafka: how big a message is, and the dead letter that replaces it.

The limit is ``kafka.max_message_bytes`` (also the producer's ``message.max.bytes``). A
message is measured the way librdkafka measures it before accepting it: key + value +
headers (each name and value with its length prefix) + :data:`RECORD_OVERHEAD` bytes of
record framing. One over the limit is never produced. A message that librdkafka refuses
at ``produce()`` or the broker refuses in the delivery report (``MSG_SIZE_TOO_LARGE``: a
topic whose ``max.message.bytes`` is lower than ours) is dead-lettered the same way.

The dead letter keeps the key and every original header, adds ``dlq_reason=too_large``
(unless the user was already headed for the DLQ with another reason, which it keeps),
``dlq_detail`` (the reason as a sentence), ``original_size`` and ``value_truncated``, and
carries the first :data:`DLQ_VALUE_BYTES` (64 KiB) of the value — less when that would not
fit under the limit, and cut back to a whole UTF-8 character. The value is the one
``messages.build`` made, so it carries no credential either. A refused message smaller
than that (a broker refusal) keeps its whole value. A dead letter that is refused in turn
is a failure, never dead-lettered again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from confluent_kafka import KafkaError

from userstream.contract import H_DLQ_DETAIL, H_DLQ_REASON, H_ORIGINAL_SIZE, H_VALUE_TRUNCATED
from userstream.producing.messages import DlqReason, Headers

#: librdkafka's worst-case framing of one v2 record (length, attributes, timestamp and
#: offset deltas, key and value lengths, header count), added before its size check.
RECORD_OVERHEAD = 36
#: How much of a too-large value the dead letter keeps: enough to see whose it is and
#: what blew up, small enough for any sane limit.
DLQ_VALUE_BYTES = 64 * 1024
#: Values this far under the limit skip the exact measure (our headers are ~200 bytes); a
#: message that still does not fit is refused by librdkafka and dead-lettered all the same.
_HEADERS_ALLOWANCE = 16 * 1024
RefusedBy = Literal["", "librdkafka", "the broker"]
LIBRDKAFKA: Final = "librdkafka"
BROKER: Final = "the broker"


@dataclass(frozen=True, slots=True)
class TooLarge:
    """Why one message cannot go to Kafka as it is: ``size`` against ``limit`` (both as
    :func:`message_size` counts), and who refused it when it was not our own check
    (``"librdkafka"`` or ``"the broker"``)."""

    size: int
    limit: int
    refused_by: RefusedBy = ""

    def reason(self) -> str:
        if self.size > self.limit:
            return f"message of {self.size} bytes exceeds the limit of {self.limit} bytes"
        text = f"message of {self.size} bytes was refused as too large by {self.refused_by}"
        if self.refused_by == BROKER:
            # A broker refusal names no limit; one set lower than ours is the usual cause
            # (the broker refuses a whole batch, so small messages can share the fate).
            text += (
                " (the topic's max.message.bytes or the broker's message.max.bytes is "
                f"below kafka.max_message_bytes={self.limit})"
            )
        return text


def _varint_size(n: int) -> int:
    """Bytes of Kafka's zigzag varint for a non-negative ``n``."""
    zigzag, size = n << 1, 1
    while zigzag >= 0x80:
        zigzag >>= 7
        size += 1
    return size


def _blob_size(blob: str | bytes | None) -> int:
    if blob is None:
        return 1  # length -1
    n = len(blob.encode() if isinstance(blob, str) else blob)
    return _varint_size(n) + n


def message_size(key: bytes | None, value: bytes, headers: Headers) -> int:
    """The message's size as librdkafka checks it against ``message.max.bytes``."""
    size = RECORD_OVERHEAD + len(key or b"") + len(value)
    for name, header_value in headers:
        size += _blob_size(name) + _blob_size(header_value)
    return size


def quick_limit(limit: int) -> int:
    """Key + value bytes up to which a message needs no measuring: it fits ``limit``."""
    return limit - _HEADERS_ALLOWANCE


def check(key: bytes | None, value: bytes, headers: Headers, limit: int) -> TooLarge | None:
    """``TooLarge`` when the message is over ``limit``, else ``None``."""
    if len(value) + len(key or b"") <= quick_limit(limit):
        return None  # the hot path: one comparison per message
    size = message_size(key, value, headers)
    return TooLarge(size, limit) if size > limit else None


def is_size_error(error: KafkaError) -> bool:
    """librdkafka's local ``MSG_SIZE_TOO_LARGE`` and the broker's MESSAGE_TOO_LARGE (one code)."""
    return error.code() == KafkaError.MSG_SIZE_TOO_LARGE


def is_dead_letter(headers: Headers) -> bool:
    """Whether these are the headers of a size dead letter already (never cut twice)."""
    return any(name == H_ORIGINAL_SIZE for name, _ in headers)


def dead_letter(
    key: bytes | None, value: bytes, headers: Headers, too_large: TooLarge
) -> tuple[bytes, Headers]:
    """The DLQ value and headers standing in for a message that is too large.

    The result fits ``too_large.limit`` unless the key and headers alone do not (then the
    value is empty and producing it fails, which is counted).
    """
    reason = [(H_DLQ_REASON, DlqReason.TOO_LARGE.value.encode())]
    if any(name == H_DLQ_REASON for name, _ in headers):
        reason = []
    extra: Headers = [
        *reason,
        (H_DLQ_DETAIL, too_large.reason().encode()),
        (H_ORIGINAL_SIZE, str(too_large.size).encode()),
    ]
    # Budget with the longer flag ("false"), so either flag fits.
    fixed = message_size(key, b"", [*headers, *extra, (H_VALUE_TRUNCATED, b"false")])
    keep = max(0, min(DLQ_VALUE_BYTES, too_large.limit - fixed))
    truncated = len(value) > keep
    if truncated:
        # Back off to a character boundary: the cut value is still valid UTF-8 text.
        while keep > 0 and value[keep] & 0xC0 == 0x80:
            keep -= 1
        value = value[:keep]
    flag = b"true" if truncated else b"false"
    return value, [*headers, *extra, (H_VALUE_TRUNCATED, flag)]
