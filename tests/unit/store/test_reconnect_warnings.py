"""A Cassandra node that stays down does not flood the logs: the driver warns at each
attempt (every ``RECONNECT_S``), the project's filter lets one warning of a kind through
per ``REPEAT_WARNING_S`` and says how many it held back."""

from __future__ import annotations

import logging

import pytest

from userstream import store
from userstream.store import OncePerInterval

RECONNECT = "Error attempting to reconnect to %s, scheduling retry in %s seconds: %s"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(store.time, "monotonic", fake)
    return fake


@pytest.fixture
def logger(request: pytest.FixtureRequest) -> logging.Logger:
    """A logger of this test's own, filtered as the driver's reconnect loggers are."""
    own = logging.getLogger(f"test.cassandra.pool.{request.node.name}")
    own.addFilter(OncePerInterval(60.0))
    return own


def test_an_hour_of_one_attempt_a_second_is_one_line_a_minute(
    clock: Clock, caplog: pytest.LogCaptureFixture, logger: logging.Logger
) -> None:
    with caplog.at_level(logging.WARNING, logger=logger.name):
        for _ in range(3600):
            logger.warning(RECONNECT, "127.0.0.1:9042", 1.0, "Connection refused")
            clock.now += 1.0
    assert len(caplog.records) == 60
    assert caplog.records[0].getMessage().endswith("Connection refused")
    assert caplog.records[1].getMessage().endswith("[59 more like it in 60 s not logged]")


def test_each_node_and_each_message_has_its_own_turn(
    clock: Clock, caplog: pytest.LogCaptureFixture, logger: logging.Logger
) -> None:
    with caplog.at_level(logging.INFO, logger=logger.name):
        for node in ("127.0.0.1:9042", "127.0.0.2:9042", "127.0.0.1:9042"):
            logger.warning(RECONNECT, node, 1.0, "refused")
        logger.warning("Host %s has been marked down", "127.0.0.1:9042")
        logger.info("Successful reconnection to %s", "127.0.0.1:9042")
        logger.info("Successful reconnection to %s", "127.0.0.1:9042")
    assert [r.getMessage().split(" to ")[-1][:14] for r in caplog.records][:2] == [
        "127.0.0.1:9042", "127.0.0.2:9042"
    ]  # fmt: skip
    assert len(caplog.records) == 5  # the repeat of node 1 held; info always passes


def test_every_cluster_the_project_makes_installs_the_filter() -> None:
    store.new_cluster(["127.0.0.1"], 9042, "datacenter1", "u", "p", tls=store.Tls(),
                      connect_timeout=1.0, request_timeout=1.0).shutdown()  # fmt: skip
    for name in ("cassandra.pool", "cassandra.cluster", "cassandra.connection"):
        assert any(isinstance(f, OncePerInterval) for f in logging.getLogger(name).filters)
