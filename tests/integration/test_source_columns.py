"""The stream's source columns (``batch_writer.SOURCE_COLUMNS``) on real Spark: each header is the
value of the first one of its name, and the projection compiles into one stage (a lambda
such as ``filter(headers, h -> …)`` would make Spark generate it again in every task)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from userstream.contract import H_INGESTED_AT, H_SOURCE_URL
from userstream.streaming.batch_writer import SOURCE_COLUMNS

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.integration

KAFKA_SCHEMA = (
    "key binary, value binary, topic string, partition int, offset long, timestamp timestamp, "
    "headers array<struct<key: string, value: binary>>"
)


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    yield session
    session.stop()


def test_each_header_is_the_first_of_its_name_and_the_projection_is_compiled(
    spark: SparkSession,
) -> None:
    at, url = H_INGESTED_AT, H_SOURCE_URL
    headers = [
        [(at, b"1"), (url, b"u1")],
        [(url, b"u2"), (at, b"2"), (at, b"3"), (url, b"u3")],  # the first of each name
        [],
        None,
        [("other", b"x"), (at, None)],  # present, but null
        [(at.upper(), b"4"), ("x" * 100, b"y")],  # names are exact
    ]
    when = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    rows = [(b"k", b"{}", "t", 0, i, when, h) for i, h in enumerate(headers)]
    frame = spark.createDataFrame(rows, KAFKA_SCHEMA).selectExpr(*SOURCE_COLUMNS)
    got = [(r[-2], r[-1]) for r in frame.orderBy("offset").collect()]
    assert got == [
        (b"1", b"u1"),
        (b"2", b"u2"),
        (None, None),
        (None, None),
        (None, None),
        (None, None),
    ]
    plan = frame._jdf.queryExecution().executedPlan().toString()
    project = next(line for line in plan.splitlines() if "Project" in line)
    assert project.lstrip(" +-:").startswith("*("), plan  # whole-stage code generation
