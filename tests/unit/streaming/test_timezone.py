"""processed_at / rejected_at are the same instant whatever the host's time zone."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from userstream.streaming import transforms, validate

from .conftest import LAURA

INSTANT = dt.datetime(2026, 11, 23, 10, 0, 5, tzinfo=dt.UTC)
EPOCH_S = int(INSTANT.timestamp())


@pytest.fixture
def new_york_host(spark: Any) -> Iterator[None]:
    """Run the test with the Python process in America/New_York (UTC-5 in November)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


def _epoch(df: Any, column: str) -> int:
    from pyspark.sql import functions as F

    [row] = df.select(F.col(column).cast("long").alias("s")).collect()
    return int(row["s"])


@pytest.mark.parametrize(
    "stamp", [INSTANT, INSTANT.replace(tzinfo=None), dt.datetime.now(dt.UTC)], ids=str
)
def test_stamps_are_utc_on_a_non_utc_host(kafka_df, new_york_host, stamp):
    assert time.localtime(EPOCH_S).tm_gmtoff != 0  # the host zone really is not UTC
    cleaned = transforms.clean(
        transforms.parse(
            transforms.decode(kafka_df((LAURA["login"]["uuid"], LAURA), (b"x", b"not json")))
        )
    )
    valid, rejected = validate.split(cleaned)
    expected = int((stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)).timestamp())
    assert _epoch(transforms.to_profiles(valid, stamp), "processed_at") == expected
    assert _epoch(transforms.to_rejects(rejected, stamp), "rejected_at") == expected
