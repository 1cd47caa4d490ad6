"""The stream's micro-batches are logged as one sum a minute (``batches_written``)."""

from __future__ import annotations

import pytest

from tests.fake_clock import FakeClock
from userstream.streaming import batch_writer
from userstream.streaming.batch_writer import BatchLog, LogWindow


def _counts(valid: int, rejected: int = 0, ms: int = 100) -> dict[str, int]:
    return {"valid": valid, "stored": valid, "rejected": rejected, "batch_ms": ms}


def test_batches_sum_into_one_window_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(1000.0)
    monkeypatch.setattr(batch_writer, "time", clock)
    log = BatchLog(60.0)
    ended = []
    for second in range(0, 150):  # four batches a second for 150 s
        for quarter in range(4):
            clock.now = 1000.0 + second + quarter / 4
            window = log.add(_counts(10, rejected=1 if second == 30 else 0, ms=second))
            if window is not None:
                ended.append(window)
    assert [w.batches for w in ended] == [241, 240]  # at 60 s, then at 120 s
    first = ended[0]
    assert (first.valid, first.stored, first.rejected) == (2410, 2410, 4)
    assert first.max_ms == 60 and first.seconds == 60.0
    assert ended[1] == LogWindow(240, 2400, 2400, 0, 120, 60.0)
    assert log.batches == 600  # the first batch of the process is known by this count


def test_a_quiet_stream_says_nothing_until_its_next_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(1000.0)
    monkeypatch.setattr(batch_writer, "time", clock)
    log = BatchLog(60.0)
    assert log.add(_counts(5)) is None
    clock.now += 600  # ten idle minutes
    window = log.add(_counts(7))
    assert window == LogWindow(2, 12, 12, 0, 100, 600.0)
