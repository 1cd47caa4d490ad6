"""Backoff and Retry-After arithmetic."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from userstream.source._retry import RETRY_AFTER_CAP_S, backoff_s, parse_retry_after


def test_backoff_grows_and_is_capped():
    rng = random.Random(1)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (10, 30.0)]:
        for _ in range(50):
            assert ceiling / 2 <= backoff_s(attempt, 0.5, 30.0, rng) <= ceiling


def test_backoff_has_jitter():
    rng = random.Random(2)
    assert len({backoff_s(3, 0.5, 30.0, rng) for _ in range(20)}) > 1


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("5", 5.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        ("-3", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_seconds(header, seconds):
    assert parse_retry_after(header) == seconds


def test_retry_after_http_date():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=42), usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(42)
    past = format_datetime(now - timedelta(seconds=42), usegmt=True)
    assert parse_retry_after(past, now=now) == 0


def test_retry_after_is_capped():
    assert parse_retry_after("86400") == RETRY_AFTER_CAP_S
