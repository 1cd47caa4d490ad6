"""The Cassandra tables' columns as the stream writes them (see cassandra/init.cql).

The record's own shape (the API 1.4 user) and its rules live in ``records``.
"""

from __future__ import annotations

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
