"""One small local SparkSession for all streaming unit tests (no Kafka, no Cassandra)."""

from __future__ import annotations

import copy
import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

# Real users from the API 1.4 (docs: randomuser-api.md), hashes trimmed.
LAURA: dict[str, Any] = {
    "gender": "female",
    "name": {"title": "Miss", "first": "Laura", "last": "Woods"},
    "location": {
        "street": {"number": 2479, "name": "Henry Street"},
        "city": "Blessington",
        "state": "Wexford",
        "country": "Ireland",
        "postcode": 78276,
        "coordinates": {"latitude": "2.0565", "longitude": "95.2422"},
        "timezone": {"offset": "+1:00", "description": "Brussels, Copenhagen, Madrid, Paris"},
    },
    "email": "laura.woods@example.com",
    "login": {
        "uuid": "9f07341f-c7e6-45b7-bab0-af6de5a4582d",
        "username": "angryostrich988",
        "password": "racers",
        "salt": "B5ywSDUM",
        "md5": "b1a5b1ee4c5e0a7ec4b0a4bf5b0e1c11",
        "sha1": "x",
        "sha256": "y",
    },
    "dob": {"date": "1967-07-23T09:18:33.666Z", "age": 59},
    "registered": {"date": "2018-10-18T04:05:51.990Z", "age": 8},
    "phone": "031-623-5189",
    "cell": "081-807-8083",
    "id": {"name": "PPS", "value": "1101776T"},
    "picture": {
        "large": "https://randomuser.me/api/portraits/women/88.jpg",
        "medium": "https://randomuser.me/api/portraits/med/women/88.jpg",
        "thumbnail": "https://randomuser.me/api/portraits/thumb/women/88.jpg",
    },
    "nat": "IE",
}

MARTEN: dict[str, Any] = {
    "gender": "male",
    "name": {"title": "Mr", "first": "Marten", "last": "Faber"},
    "location": {
        "street": {"number": 6167, "name": "Grüner Weg"},
        "city": "Falkenberg/Elster",
        "state": "Thüringen",
        "country": "Germany",
        "postcode": 99553,
        "coordinates": {"latitude": "89.4367", "longitude": "135.6354"},
        "timezone": {"offset": "+5:45", "description": "Kathmandu"},
    },
    "email": "marten.faber@example.com",
    "login": {"uuid": "1cd1e622-12bb-4b35-a2c9-63ff7bda6c73", "username": "yellowfish737"},
    "dob": {"date": "1960-08-01T11:13:57.264Z", "age": 66},
    "registered": {"date": "2002-04-03T08:57:47.321Z", "age": 24},
    "phone": "0100-8354415",
    "cell": "0172-4195644",
    "id": {"name": "SVNR", "value": "18 010860 F 495"},
    "picture": {"large": "l", "medium": "m", "thumbnail": "t"},
    "nat": "DE",
}

INGESTED = dt.datetime(2026, 11, 23, 10, 0, 0, 123000)
INGESTED_HEADER = b"2026-11-23T10:00:00.123Z"


def user(base: dict[str, Any] = LAURA, **changes: Any) -> dict[str, Any]:
    """A deep copy of ``base`` with dotted-path changes (value ``...`` deletes the field)."""
    out = copy.deepcopy(base)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = out
        for part in parents:
            node = node[part]
        if value is ...:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return out


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    pyspark_sql = pytest.importorskip("pyspark.sql")
    # PySpark turns timestamps into naive datetimes in the process's zone: pin it to UTC.
    os.environ["TZ"] = "UTC"
    time.tzset()
    session = (
        pyspark_sql.SparkSession.builder.master("local[1]")
        .appName("userstream-unit")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "512m")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.ansi.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()


KafkaRow = tuple[bytes | None, bytes | None, str, int, int, dt.datetime, list[tuple[str, bytes]]]


@pytest.fixture
def kafka_df(spark: Any) -> Callable[..., Any]:
    """Build a DataFrame shaped like Spark's Kafka source from (key, value[, headers]) pairs.

    A dict value is serialised as the producer does (orjson); bytes/str are sent as given.
    """
    from pyspark.sql import types as T

    schema = T.StructType(
        [
            T.StructField("key", T.BinaryType()),
            T.StructField("value", T.BinaryType()),
            T.StructField("topic", T.StringType()),
            T.StructField("partition", T.IntegerType()),
            T.StructField("offset", T.LongType()),
            T.StructField("timestamp", T.TimestampType()),
            T.StructField(
                "headers",
                T.ArrayType(
                    T.StructType(
                        [
                            T.StructField("key", T.StringType()),
                            T.StructField("value", T.BinaryType()),
                        ]
                    )
                ),
            ),
        ]
    )

    def build(*messages: Any) -> Any:
        rows = []
        for offset, message in enumerate(messages):
            key, value, *rest = message
            headers = rest[0] if rest else [("ingested_at", INGESTED_HEADER)]
            if isinstance(value, dict | list):
                value = orjson.dumps(value)
            elif isinstance(value, str):
                value = value.encode()
            if isinstance(key, str):
                key = key.encode()
            rows.append((key, value, "user_topic", 0, offset, dt.datetime(2026, 1, 1), headers))
        return spark.createDataFrame(rows, schema)

    return build
