"""Accept or reject each cleaned row, with one reason a person can act on.

A record is rejected when it cannot be a user profile: the value is empty, not JSON, not a
JSON object, or lacks what identifies and describes a person. The required set is

- ``login.uuid``, a valid UUID (it is the primary key), equal to the message key when the
  message has one (the key is the identity the producer partitioned by);
- ``name.first`` and ``name.last``;
- ``email``, shaped like ``local@domain.tld``;
- ``dob.date``, an ISO-8601 timestamp;
- ``nat``.

Everything else is optional and becomes null when missing or unparsable (the API omits
fields for some nationalities). Rows without ``country`` or ``registered_at`` are still
stored in ``user_profiles`` but cannot be listed in ``users_by_country`` (its key).
Validation never raises: a bad record becomes a reject row, never a failed batch. The
patterns and required fields live in ``contract`` (shared with ``userstream.quality``).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from userstream.streaming.contract import EMAIL_PATTERN, UUID_PATTERN

__all__ = ["EMAIL_PATTERN", "UUID_PATTERN", "reject_reason", "split", "with_reason"]


def reject_reason() -> Column:
    """The first failed rule as a sentence, null for a valid row (needs ``clean`` columns)."""
    c = F.col
    value_blank = c("raw_value").isNull() | (F.trim(c("raw_value")) == F.lit(""))
    key = F.lower(F.trim(c("raw_key")))
    rules: list[tuple[Column, str]] = [
        (value_blank, "empty value"),
        (~c("json_valid"), "value is not valid JSON"),
        (~c("json_object"), "value is not a JSON object"),  # refined below with the kind
        (c("id").isNull(), "login.uuid is missing"),
        (~c("id").rlike(UUID_PATTERN), "login.uuid is not a valid UUID"),
        (key.isNotNull() & (key != c("id")), "message key does not match login.uuid"),
        (c("first_name").isNull(), "name.first is missing"),
        (c("last_name").isNull(), "name.last is missing"),
        (c("email").isNull(), "email is missing"),
        (~c("email").rlike(EMAIL_PATTERN), "email is not a valid address"),
        (c("dob").isNull(), "dob.date is missing or not an ISO-8601 timestamp"),
        (c("nationality").isNull(), "nat is missing"),
    ]
    reason: Column = F.lit(None).cast("string")
    for condition, text in reversed(rules):
        if text == "value is not a JSON object":
            message = F.concat(F.lit("value is a JSON "), c("json_kind"), F.lit(", not an object"))
        else:
            message = F.lit(text)
        reason = F.when(condition, message).otherwise(reason)
    return reason


def with_reason(cleaned: DataFrame) -> DataFrame:
    """Add ``reason``: null for a valid row, else why it is rejected."""
    return cleaned.withColumn("reason", reject_reason())


def split(cleaned: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(valid rows, rejected rows) of a cleaned DataFrame; both keep ``reason``."""
    judged = with_reason(cleaned)
    return judged.where(F.col("reason").isNull()), judged.where(F.col("reason").isNotNull())
