"""The contract between the two sides of Kafka: what the producer sends and the stream stores.

No dependencies (the producer, the stream, the DAG tasks, the quality checks, status and the
dashboard all import it; none of them is imported here):

- **the message**: the Kafka headers every message carries (their meaning:
  ``userstream.producing.messages``) and the shape of its key;
- **the API's limits** (version 1.4), which the producer's plan and the settings obey;
- **a stored profile**: the rules an accepted record meets (``streaming.records`` enforces
  them, ``userstream.quality`` checks the stored rows against them). Only what identifies and
  describes a person is required (``REQUIRED_FIELDS``, as stored column names);
  ``username``, ``country``, ``registered_at`` and the rest are optional on purpose (the API
  omits fields for some nationalities). ``LINEAGE_COLUMNS`` are filled by the stream itself
  for every stored row. The API's credentials (``login.password``, ``salt``, ``md5``,
  ``sha1``, ``sha256``: ``userstream.credentials.FIELDS``) are no part of it: the producer
  drops them, no column holds them, and a reject keeps none;
- **the Cassandra tables** the stream writes (see cassandra/init.cql), their names and
  columns: every module names them through these.
"""

from __future__ import annotations

import time

# --- the message --------------------------------------------------------------------------

H_INGESTED_AT = "ingested_at"
H_SOURCE_URL = "source_url"
H_API_VERSION = "api_version"
H_SEED = "seed"
H_PAGE = "page"
H_PRODUCER = "producer"
H_DLQ_REASON = "dlq_reason"
H_DLQ_DETAIL = "dlq_detail"
H_ORIGINAL_SIZE = "original_size"
H_VALUE_TRUNCATED = "value_truncated"

#: A message key the producer sends on: a canonical UUID in either case (the stream then
#: requires the lower case of ``UUID_PATTERN``, and rejects the rest with a reason).
KEY_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


def format_ms(epoch_ms: int) -> str:
    """Epoch milliseconds as ISO-8601 UTC with milliseconds and a ``Z`` (how ``ingested_at``
    is written, and how the stream shows an Avro instant to the judge)."""
    seconds, millis = divmod(epoch_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


# --- the API's limits (version 1.4) ---------------------------------------------------------

#: Users per request.
MAX_RESULTS = 5000
#: Pages per seed.
MAX_PAGE = 10000

# --- a stored profile -----------------------------------------------------------------------

#: A lower-case canonical UUID (``login.uuid``, the primary key).
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
#: Deliberately loose ``local@domain.tld``: catches truncation, empty parts and stray
#: whitespace, not RFC 5322 corner cases. Java (Spark ``rlike``) and Python (``re`` with
#: ``re.ASCII``) read it the same way.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
#: Stored columns every accepted record has filled (login.uuid, name.first, name.last,
#: email, dob.date, nat).
REQUIRED_FIELDS: tuple[str, ...] = (
    "id",
    "first_name",
    "last_name",
    "email",
    "dob",
    "nationality",
)
#: Columns the stream fills for every stored row.
LINEAGE_COLUMNS: tuple[str, ...] = (
    "ingested_at",
    "processed_at",
    "kafka_partition",
    "kafka_offset",
)

# --- the Cassandra tables -------------------------------------------------------------------

#: The tables' names (their keyspace is ``cassandra.keyspace``); every module names them
#: through these.
PROFILES_TABLE = "user_profiles"
BY_COUNTRY_TABLE = "users_by_country"
REJECTS_TABLE = "user_profiles_rejects"

#: The columns of ``user_profiles``, in table order (see cassandra/init.cql).
PROFILE_COLUMNS: tuple[str, ...] = (
    "id",
    "gender",
    "title",
    "first_name",
    "last_name",
    "email",
    "username",
    "dob",
    "age",
    "registered_at",
    "phone",
    "cell",
    "street_number",
    "street_name",
    "city",
    "state",
    "country",
    "postcode",
    "latitude",
    "longitude",
    "timezone_offset",
    "timezone_description",
    "nationality",
    "id_name",
    "id_value",
    "picture_large",
    "picture_medium",
    "picture_thumbnail",
    "ingested_at",
    "processed_at",
    "source_url",
    "kafka_partition",
    "kafka_offset",
)

#: The columns of ``users_by_country``: its key plus what a listing shows.
BY_COUNTRY_COLUMNS: tuple[str, ...] = (
    "country",
    "registered_at",
    "id",
    "first_name",
    "last_name",
    "email",
    "city",
    "nationality",
    "picture_thumbnail",
)

#: The columns of ``user_profiles_rejects``.
REJECT_COLUMNS: tuple[str, ...] = (
    "topic",
    "kafka_partition",
    "kafka_offset",
    "raw_key",
    "raw_value",
    "reason",
    "ingested_at",
    "rejected_at",
)
