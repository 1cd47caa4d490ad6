"""The Random User API 1.4 user record, as Spark parses it from the Kafka value.

Every leaf is declared ``StringType`` on purpose. The API sends ``location.postcode`` as a
number for some nations and a string for others; Spark's JSON reader turns any scalar into
its JSON text for a string field (``78276`` → ``"78276"``, ``"0301"`` stays ``"0301"``), so
leading zeros survive and a type drift in one leaf never corrupts the whole record.
Typing (ints, doubles, timestamps) happens in ``transforms`` where a bad value becomes null
for that column only. Credentials (``login.password``, ``salt`` and hashes) are not in the
schema at all, so they never enter a DataFrame.
"""

from __future__ import annotations

from pyspark.sql.types import StringType, StructField, StructType

#: The name of the column Spark fills with the raw text when a record does not fit the schema.
CORRUPT_COLUMN = "_corrupt_record"


def _struct(*names: str) -> StructType:
    return StructType([StructField(name, StringType(), nullable=True) for name in names])


USER_SCHEMA = StructType(
    [
        StructField("gender", StringType()),
        StructField("name", _struct("title", "first", "last")),
        StructField(
            "location",
            StructType(
                [
                    StructField("street", _struct("number", "name")),
                    StructField("city", StringType()),
                    StructField("state", StringType()),
                    StructField("country", StringType()),
                    StructField("postcode", StringType()),
                    StructField("coordinates", _struct("latitude", "longitude")),
                    StructField("timezone", _struct("offset", "description")),
                ]
            ),
        ),
        StructField("email", StringType()),
        StructField("login", _struct("uuid", "username")),
        StructField("dob", _struct("date", "age")),
        StructField("registered", _struct("date", "age")),
        StructField("phone", StringType()),
        StructField("cell", StringType()),
        StructField("id", _struct("name", "value")),
        StructField("picture", _struct("large", "medium", "thumbnail")),
        StructField("nat", StringType()),
        StructField(CORRUPT_COLUMN, StringType()),
    ]
)

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
