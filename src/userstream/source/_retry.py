"""Backoff arithmetic for the API client: exponential with jitter, and ``Retry-After``."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# A Retry-After longer than the live service's 5-minute budget window is not believed.
RETRY_AFTER_CAP_S = 300.0


def backoff_s(attempt: int, base_s: float, max_s: float, rng: random.Random) -> float:
    """Wait before retry number ``attempt`` (from 1): "equal jitter" exponential backoff.

    Half of ``min(max_s, base_s * 2**(attempt-1))`` is fixed and half is random, so waits
    grow like the exponential and clients that failed together do not retry together.
    """
    ceiling = min(max_s, base_s * 2 ** (attempt - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), or None.

    Negative or unparseable values give None (the caller falls back to its backoff); values
    above :data:`RETRY_AFTER_CAP_S` are capped.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(tz=UTC))).total_seconds()
        seconds = max(seconds, 0.0)
    if seconds < 0 or seconds != seconds:  # negative or NaN
        return None
    return min(seconds, RETRY_AFTER_CAP_S)
