"""A stand-in for the ``time`` module of code under test: its sleeps pass at once and move
its clock, so waits and windows are tested without waiting."""

from __future__ import annotations


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
