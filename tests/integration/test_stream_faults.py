"""Faults the stream must survive: its driver killed with SIGKILL mid-stream, then restarted.

Every user ends up stored exactly once, nothing is missing, and rejects are not doubled.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.integration.conftest_stream import (
    POISON,
    fake_users,
    isolated,
    produce,
    stream_env,
    user_messages,
)
from userstream.config import Settings
from userstream.errors import TransientError
from userstream.streaming import control

pytestmark = pytest.mark.integration

N = 2000
WAIT_S = 600  # an upper bound for slow shared machines, not a performance assertion


@pytest.fixture
def settings(stack: Settings, unique: str) -> Iterator[Settings]:
    # Small micro-batches so the kill lands with most of the topic still unprocessed; a
    # short batch timeout so a batch stalled by the Cassandra outage is restarted soon.
    with stream_env(isolated(stack, unique, max_offsets_per_trigger=150, batch_timeout_s=60)) as s:
        yield s


def _wait(what: str, check, timeout: float = WAIT_S) -> None:
    """Poll ``check`` until true; a service still reconnecting after a fault counts as "not yet"."""
    from cassandra import OperationTimedOut
    from cassandra.cluster import NoHostAvailable

    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (NoHostAvailable, OperationTimedOut, TransientError):
            pass
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.5)


def test_driver_killed_mid_stream_then_restarted(settings, cassandra_session):
    ks = settings.cassandra.keyspace
    users = fake_users(settings.kafka.topic, N)
    messages = user_messages(users)
    # Poison spread through the topic, so some falls in the replayed batches.
    for i, (key, value, _) in enumerate(POISON):
        messages.insert(i * (N // len(POISON)), (key, value))
    produce(settings, messages)

    def stored() -> int:
        return cassandra_session.execute(f"SELECT count(*) FROM {ks}.user_profiles").one()[0]

    def rejected() -> int:
        sql = f"SELECT count(*) FROM {ks}.user_profiles_rejects"
        return cassandra_session.execute(sql).one()[0]

    first = control.start(settings)
    _wait("a first batch", lambda: ((control.last_progress(settings) or {}).get("totals") or {})
          .get("batches", 0) >= 1)  # fmt: skip
    assert control.kill(settings)
    assert control.running(settings) is None
    partial = stored()
    assert 0 < partial < N, "the kill should land mid-stream"

    second = control.start(settings)
    assert second.pid != first.pid
    # The progress file catches up just after a batch's rows are written: wait for both.
    _wait("the end of the topic", lambda: control.lag(settings) == {0: 0, 1: 0})
    assert stored() == N
    assert rejected() == len(POISON)
    assert control.stop(settings)
    assert control.running(settings) is None
    assert (control.last_progress(settings) or {})["state"] == "stopped"

    ids = [str(r.id) for r in cassandra_session.execute(f"SELECT id FROM {ks}.user_profiles")]
    assert len(ids) == N
    assert set(ids) == {u["login"]["uuid"] for u in users}
    by_country = cassandra_session.execute(f"SELECT id FROM {ks}.users_by_country")
    assert len(list(by_country)) == N
    rejects = list(
        cassandra_session.execute(f"SELECT raw_key, reason FROM {ks}.user_profiles_rejects")
    )
    assert sorted(r.reason for r in rejects) == sorted(reason for _, _, reason in POISON)


def test_cassandra_down_for_a_while_then_back_loses_nothing(settings, cassandra_session):
    """Cassandra stops while users keep arriving; the stream retries, then catches up.

    The backlog built up during the outage drains in micro-batches bounded by
    maxOffsetsPerTrigger (150 here), and every user ends up stored exactly once.
    """
    from userstream.stack import cassandra

    ks = settings.cassandra.keyspace
    users = fake_users(f"{settings.kafka.topic}-outage", 1200)
    before, during = users[:300], users[300:]
    produce(settings, user_messages(before))

    def stored() -> int:
        return cassandra_session.execute(f"SELECT count(*) FROM {ks}.user_profiles").one()[0]

    driver = control.start(settings)
    _wait("the users produced before the outage", lambda: stored() == len(before))

    assert cassandra.stop_cassandra(settings)
    try:
        produce(settings, user_messages(during))
        # Long enough for the stream to fail a batch and retry against the missing node.
        time.sleep(20)
    finally:
        cassandra.start_cassandra(settings)

    _wait("the end of the topic", lambda: control.lag(settings) == {0: 0, 1: 0})
    assert control.running(settings) == driver, "the stream gave up during the outage"
    ids = [str(r.id) for r in cassandra_session.execute(f"SELECT id FROM {ks}.user_profiles")]
    assert len(ids) == len(users)
    assert set(ids) == {u["login"]["uuid"] for u in users}
    assert control.stop(settings)
    sizes = _batch_sizes(settings)
    assert sum(sizes) == len(users)
    assert max(sizes) <= 150, f"a micro-batch exceeded maxOffsetsPerTrigger: {sizes}"


def _batch_sizes(settings: Settings) -> list[int]:
    """Messages per micro-batch, from the end offsets Spark wrote to its checkpoint."""
    import json

    folder = settings.checkpoint_dir() / "offsets"
    ends = [
        json.loads(path.read_text().splitlines()[-1])[settings.kafka.topic]
        for path in sorted(folder.iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else -1)
        if path.name.isdigit()
    ]
    totals = [sum(int(v) for v in end.values()) for end in ends]
    return [b - a for a, b in zip([0, *totals], totals, strict=False)]


def test_broker_restart_mid_stream_loses_nothing(settings, cassandra_session):
    """The broker goes away while the stream runs and comes back; users produced before and
    after are all stored exactly once."""
    from userstream.stack import kafka

    ks = settings.cassandra.keyspace
    users = fake_users(f"{settings.kafka.topic}-broker", 900)
    before, after = users[:300], users[300:]
    produce(settings, user_messages(before))

    def stored() -> int:
        return cassandra_session.execute(f"SELECT count(*) FROM {ks}.user_profiles").one()[0]

    driver = control.start(settings)
    _wait("the users produced before the restart", lambda: stored() == len(before))
    assert kafka.stop_kafka(settings)
    try:
        # Long enough for the stream's next triggers to find no broker.
        time.sleep(15)
    finally:
        kafka.start_kafka(settings)
    produce(settings, user_messages(after))

    _wait("the end of the topic", lambda: control.lag(settings) == {0: 0, 1: 0})
    _wait("every user stored", lambda: stored() == len(users), timeout=120)
    assert control.running(settings) == driver, "the stream gave up during the broker restart"
    ids = [str(r.id) for r in cassandra_session.execute(f"SELECT id FROM {ks}.user_profiles")]
    assert sorted(ids) == sorted(u["login"]["uuid"] for u in users)
    assert control.stop(settings)
