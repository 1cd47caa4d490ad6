"""Pure, deterministic DataFrame functions: Kafka record → parsed user → clean, typed row.

Nothing here reads the clock, a random source or the network: the same Kafka record
always yields the same row, which is what makes a replayed micro-batch converge to the
same Cassandra table. The one wall-clock column, ``processed_at``, is passed in by the
caller. Cleaning rules (each deterministic):

- text: surrounding whitespace (also Unicode spaces) removed, an empty result becomes
  null; everything inside is kept exactly (non-Latin names, dirty phone numbers);
- ``email`` lower-cased, ``gender`` lower-cased, ``nationality`` upper-cased, the uuid
  lower-cased;
- ``dob`` / ``registered_at``: ISO-8601 text → timestamp (UTC), unparsable → null;
- ``age``: whole years from ``dob`` to the record's ``ingested_at`` (not to now);
- ``postcode``: text, leading zeros kept, whatever JSON type the API used;
- ``street_number``: int, null when not an integer;
- coordinates: text → double, null when not a number or outside ±90 / ±180;
- ``ingested_at``: the ``ingested_at`` header (ISO-8601 or epoch milliseconds), else the
  Kafka message timestamp.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from userstream.producing.messages import H_INGESTED_AT, H_SOURCE_URL
from userstream.streaming.schema import (
    BY_COUNTRY_COLUMNS,
    CORRUPT_COLUMN,
    PROFILE_COLUMNS,
    REJECT_COLUMNS,
    USER_SCHEMA,
)

_EDGE_SPACE = r"^[\s\p{Z}]+|[\s\p{Z}]+$"
_EPOCH_MS = r"^[0-9]{1,15}$"


def _header(name: str) -> Column:
    """The first header called ``name`` as text, null when absent."""
    matching = F.filter(F.col("headers"), lambda h: h["key"] == F.lit(name))
    return F.element_at(matching, 1)["value"].cast("string")


def _parse_instant(text: Column) -> Column:
    """ISO-8601 text or epoch milliseconds → timestamp; null when neither."""
    trimmed = F.trim(text)
    return F.when(trimmed.rlike(_EPOCH_MS), F.timestamp_millis(trimmed.cast("long"))).otherwise(
        trimmed.cast("timestamp")
    )


def decode(kafka: DataFrame) -> DataFrame:
    """Kafka source rows → raw text plus lineage columns.

    Needs ``key``, ``value`` (binary or string), ``topic``, ``partition``, ``offset`` and
    ``timestamp``; ``headers`` is optional (a source without ``includeHeaders``).
    """
    if "headers" in kafka.columns:
        ingested = F.coalesce(_parse_instant(_header(H_INGESTED_AT)), F.col("timestamp"))
        source_url = _header(H_SOURCE_URL)
    else:
        ingested = F.col("timestamp")
        source_url = F.lit(None).cast("string")
    return kafka.select(
        F.col("key").cast("binary").alias("kafka_key"),
        F.col("value").cast("binary").alias("kafka_value"),
        F.col("key").cast("string").alias("raw_key"),
        F.col("value").cast("string").alias("raw_value"),
        F.col("topic"),
        F.col("partition").cast("int").alias("kafka_partition"),
        F.col("offset").cast("long").alias("kafka_offset"),
        ingested.alias("ingested_at"),
        source_url.alias("source_url"),
    )


def parse(decoded: DataFrame) -> DataFrame:
    """Add ``user`` (the parsed struct) and what the JSON turned out to be.

    ``json_valid``: the value is well-formed JSON; ``json_object``: it is a JSON object;
    ``json_kind``: a word for what it is when not an object (array, string, number, …).
    """
    value = F.col("raw_value")
    valid = F.get_json_object(value, "$").isNotNull()
    is_object = F.json_object_keys(value).isNotNull()
    first = F.substring(F.ltrim(value), 1, 1)
    kind = (
        F.when(is_object, F.lit("object"))
        .when(F.json_array_length(value).isNotNull(), F.lit("array"))
        .when(first == F.lit('"'), F.lit("string"))
        .when(F.ltrim(value).startswith("null"), F.lit("null"))
        .when(F.ltrim(value).rlike("^(true|false)"), F.lit("boolean"))
        .otherwise(F.lit("number"))
    )
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_COLUMN}
    return decoded.select(
        "*",
        F.when(is_object, F.from_json(value, USER_SCHEMA, options)).alias("user"),
        valid.alias("json_valid"),
        is_object.alias("json_object"),
        kind.alias("json_kind"),
    )


def clean_text(column: Column) -> Column:
    """Surrounding whitespace removed; empty becomes null; the inside is kept exactly."""
    stripped = F.regexp_replace(column, _EDGE_SPACE, "")
    return F.when(stripped == F.lit(""), F.lit(None).cast("string")).otherwise(stripped)


def _coordinate(text: Column, limit: float) -> Column:
    number = clean_text(text).cast("double")
    in_range = ~F.isnan(number) & (F.abs(number) <= F.lit(limit))
    return F.when(in_range, number)


def age_at(born: Column, at: Column) -> Column:
    """Whole years between two timestamps (UTC calendar), null when either is null."""
    before_birthday = (F.month(at) < F.month(born)) | (
        (F.month(at) == F.month(born)) & (F.dayofmonth(at) < F.dayofmonth(born))
    )
    return (F.year(at) - F.year(born) - F.when(before_birthday, 1).otherwise(0)).cast("int")


def clean(parsed: DataFrame, *, keep_bytes: bool = False) -> DataFrame:
    """Flatten and type the parsed user into the ``user_profiles`` columns.

    Keeps ``raw_key``, ``raw_value``, ``topic`` and the ``json_*`` flags for validation;
    ``processed_at`` is added later by ``to_profiles``. Rows that are not JSON objects get
    null in every user column. ``keep_bytes`` also keeps the original ``kafka_key`` and
    ``kafka_value`` bytes (for the dead-letter topic).
    """
    u = F.col("user")
    loc = u["location"]
    dob = clean_text(u["dob"]["date"]).cast("timestamp")
    return parsed.select(
        F.lower(clean_text(u["login"]["uuid"])).alias("id"),
        F.lower(clean_text(u["gender"])).alias("gender"),
        clean_text(u["name"]["title"]).alias("title"),
        clean_text(u["name"]["first"]).alias("first_name"),
        clean_text(u["name"]["last"]).alias("last_name"),
        F.lower(clean_text(u["email"])).alias("email"),
        clean_text(u["login"]["username"]).alias("username"),
        dob.alias("dob"),
        age_at(dob, F.col("ingested_at")).alias("age"),
        clean_text(u["registered"]["date"]).cast("timestamp").alias("registered_at"),
        clean_text(u["phone"]).alias("phone"),
        clean_text(u["cell"]).alias("cell"),
        clean_text(loc["street"]["number"]).cast("int").alias("street_number"),
        clean_text(loc["street"]["name"]).alias("street_name"),
        clean_text(loc["city"]).alias("city"),
        clean_text(loc["state"]).alias("state"),
        clean_text(loc["country"]).alias("country"),
        clean_text(loc["postcode"]).alias("postcode"),
        _coordinate(loc["coordinates"]["latitude"], 90.0).alias("latitude"),
        _coordinate(loc["coordinates"]["longitude"], 180.0).alias("longitude"),
        clean_text(loc["timezone"]["offset"]).alias("timezone_offset"),
        clean_text(loc["timezone"]["description"]).alias("timezone_description"),
        F.upper(clean_text(u["nat"])).alias("nationality"),
        clean_text(u["id"]["name"]).alias("id_name"),
        clean_text(u["id"]["value"]).alias("id_value"),
        clean_text(u["picture"]["large"]).alias("picture_large"),
        clean_text(u["picture"]["medium"]).alias("picture_medium"),
        clean_text(u["picture"]["thumbnail"]).alias("picture_thumbnail"),
        "ingested_at",
        "source_url",
        "kafka_partition",
        "kafka_offset",
        "topic",
        "raw_key",
        "raw_value",
        "json_valid",
        "json_object",
        "json_kind",
        *(["kafka_key", "kafka_value"] if keep_bytes else []),
    )


def latest_per_id(rows: DataFrame) -> DataFrame:
    """One row per ``id``: the one with the highest (partition, offset).

    A producer retry can put the same user twice in one micro-batch; writing both would
    leave whichever the connector happened to write last. Choosing by offset makes the
    outcome the same on every replay.
    """
    order = Window.partitionBy("id").orderBy(
        F.col("kafka_partition").desc(), F.col("kafka_offset").desc()
    )
    return rows.withColumn("_rank", F.row_number().over(order)).where("_rank = 1").drop("_rank")


def _instant(value: dt.datetime) -> Column:
    """A timestamp literal for an instant; a naive ``value`` is taken as UTC.

    PySpark converts a naive datetime literal as *local* time, so it is made tz-aware
    first: the column is the same instant whatever the host's time zone.
    """
    aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    return F.lit(aware).cast("timestamp")


def to_profiles(valid: DataFrame, processed_at: dt.datetime) -> DataFrame:
    """Valid cleaned rows → exactly the ``user_profiles`` columns, one row per id.

    ``processed_at`` is an instant; a naive value means UTC.
    """
    stamped = valid.withColumn("processed_at", _instant(processed_at))
    return latest_per_id(stamped).select(*PROFILE_COLUMNS)


def to_by_country(profiles: DataFrame) -> DataFrame:
    """``users_by_country`` rows: users with a known country and registration date."""
    keyed = profiles.where(F.col("country").isNotNull() & F.col("registered_at").isNotNull())
    return keyed.select(*BY_COUNTRY_COLUMNS)


def to_rejects(rejected: DataFrame, rejected_at: dt.datetime) -> DataFrame:
    """Rejected rows → exactly the ``user_profiles_rejects`` columns (raw text kept).

    ``rejected_at`` is an instant; a naive value means UTC.
    """
    stamped = rejected.withColumn("rejected_at", _instant(rejected_at))
    return stamped.select(*REJECT_COLUMNS)
