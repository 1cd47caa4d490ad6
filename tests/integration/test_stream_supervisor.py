"""The supervised stream heals itself: its driver killed with SIGKILL mid-stream comes back with
no one doing anything, and every user is still stored exactly once.

The time from the kill to the first micro-batch completed by the new driver is printed as a
figure (``supervised_restart …``), never asserted: shared machines vary too much.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest_stream import (
    POISON,
    fake_users,
    isolated,
    produce,
    stream_env,
    user_messages,
    wait_until,
)
from userstream.config import Settings
from userstream.streaming import control

pytestmark = [pytest.mark.integration, pytest.mark.faults]
log = logging.getLogger(__name__)

N = 2000


@pytest.fixture
def settings(stack: Settings, unique: str) -> Iterator[Settings]:
    # Small micro-batches, so the kill lands with most of the topic still unprocessed.
    with stream_env(isolated(stack, unique, max_offsets_per_trigger=150)) as s:
        yield s


def _group(pgid: int) -> list[int]:
    """Live processes of a process group (the supervisor's: it, the driver, the JVM)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def _batch_id(settings: Settings) -> int:
    batch = (control.last_progress(settings) or {}).get("last_batch") or {}
    return int(batch.get("batch_id", -1))


def test_a_driver_killed_mid_stream_comes_back_alone_and_every_user_lands_once(
    settings, cassandra_session
):
    ks = settings.cassandra.keyspace
    users = fake_users(settings.kafka.topic, N)
    messages = user_messages(users)
    for i, (key, value, _) in enumerate(POISON):
        messages.insert(i * (N // len(POISON)), (key, value))
    produce(settings, messages)

    def stored() -> int:
        return cassandra_session.execute(f"SELECT count(*) FROM {ks}.user_profiles").one()[0]

    supervisor = control.start(settings)
    first = control.driver_pid(settings)
    assert first is not None and first != supervisor.pid
    assert os.getpgid(first) == supervisor.pid, "the driver runs in the supervisor's group"
    wait_until("a first batch", lambda: _batch_id(settings) >= 0)
    seen = _batch_id(settings)

    assert control.kill_driver(settings) == first
    killed = time.monotonic()
    report = control.report(settings, control.last_progress(settings), None)
    assert report["healthy"] is False, report
    assert report["supervisor_pid"] == supervisor.pid
    assert 0 < stored() < N, "the kill should land mid-stream"

    # No manual action from here on.
    wait_until("a new driver", lambda: control.driver_pid(settings) not in (None, first))
    second = control.driver_pid(settings)
    respawned = time.monotonic() - killed
    assert control.running(settings) == supervisor, "the same supervisor"

    def new_batch_done() -> bool:
        state = control.last_progress(settings) or {}
        return state.get("pid") == second and _batch_id(settings) > seen

    wait_until("a batch of the new driver", new_batch_done, poll=0.1)
    recovered = time.monotonic() - killed
    print(f"supervised_restart new_driver_s={respawned:.1f} first_new_batch_s={recovered:.1f}")
    log.info("supervised_restart new_driver_s=%.1f first_new_batch_s=%.1f", respawned, recovered)

    wait_until("the end of the topic", lambda: control.lag(settings) == {0: 0, 1: 0})
    wait_until("every user stored", lambda: stored() == N, timeout=120)
    state = control.last_progress(settings)
    report = control.report(settings, state, control.lag(settings, state))
    print(f"stream_status_after_recovery {report}")
    assert report["pid"] == second
    assert report["restarts"] == 1
    assert report["last_exit"]["signal"] == "SIGKILL"
    assert report["healthy"] is True, report["reason"]

    ids = [str(r.id) for r in cassandra_session.execute(f"SELECT id FROM {ks}.user_profiles")]
    assert len(ids) == N
    assert set(ids) == {u["login"]["uuid"] for u in users}
    rejects = list(cassandra_session.execute(f"SELECT reason FROM {ks}.user_profiles_rejects"))
    assert sorted(r.reason for r in rejects) == sorted(reason for _, _, reason in POISON)

    members = _group(supervisor.pid)
    assert second in members
    assert control.stop(settings)
    assert control.running(settings) is None
    assert _group(supervisor.pid) == [], "stream stop left a process behind"
    assert (control.last_progress(settings) or {}).get("state") == "stopped"
