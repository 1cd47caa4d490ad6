"""What a stored user profile promises: one contract for the stream and the quality checks.

``validate`` rejects a record that breaks these rules; ``userstream.quality`` checks the
stored rows against the same rules. No pyspark here: the Airflow side imports it.

Only what identifies and describes a person is required (``REQUIRED_FIELDS``, as stored
column names); ``username``, ``country``, ``registered_at`` and the rest are optional on
purpose (the API omits fields for some nationalities). ``LINEAGE_COLUMNS`` are filled by
the stream itself for every stored row. The API's credentials (``login.password``, ``salt``,
``md5``, ``sha1``, ``sha256``: ``userstream.credentials.FIELDS``) are no part of it: the
producer drops them, no column holds them, and a reject keeps none.
"""

from __future__ import annotations

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
