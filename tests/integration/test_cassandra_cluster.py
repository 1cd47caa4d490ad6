"""Cassandra as the local cluster's three nodes (``stack up --cluster``): 127.0.0.1-3, the
keyspaces (``system_auth`` too) with three replicas, and the stream (local[2]) writing at
LOCAL_QUORUM through them, on a Kafka node of this module's own.

Cassandra nodes are SIGKILLed while users arrive — one, then one together with the stream's
driver — and every user is stored exactly once, rejects are not doubled, and users keep
landing while a node is down. Two nodes at once are not tried: with three replicas a quorum
needs two, so writes would wait for one to come back (as Kafka's do; its test shows that).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from tests.integration.conftest import open_session, private_settings
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
from userstream.errors import ConfigError, TerminalError
from userstream.host import process
from userstream.pipeline import on_local_cassandra_cluster
from userstream.stack import cassandra, kafka
from userstream.stack._cassandra_auth import DEFAULT_ROLE
from userstream.stack.local import stack_down, stack_status
from userstream.store import connect_as
from userstream.streaming import control

pytestmark = [pytest.mark.integration, pytest.mark.faults]
log = logging.getLogger(__name__)

#: The replication both the project's keyspace and system_auth must have.
THREE = {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "datacenter1": "3"}


@pytest.fixture(scope="module")
def cassandra_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A Cassandra cluster and a Kafka node of this module's own, on free ports; every
    Cassandra client pointed at the cluster as ``up --cluster`` points them."""
    own = private_settings(tmp_path_factory.mktemp("cassandra_cluster") / "state")
    settings = on_local_cassandra_cluster(own)
    try:
        kafka.start(settings)
        cassandra.start(settings, cluster=True)
        yield settings
    finally:
        stack_down(settings, progress=lambda _line: None)


@pytest.fixture
def settings(cassandra_cluster: Settings, unique: str) -> Iterator[Settings]:
    with stream_env(isolated(cassandra_cluster, unique, max_offsets_per_trigger=150)) as s:
        yield s


def _replication(cql, keyspace: str) -> dict[str, str]:
    row = cql.execute(
        "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s", (keyspace,)
    ).one()
    return dict(row.replication)


def test_three_nodes_each_named_by_status_with_three_replicas_and_no_default_login(
    settings: Settings,
) -> None:
    parts = {p.name: p for p in stack_status(settings)}
    nodes = cassandra.cluster_nodes(settings)
    assert "cassandra" not in parts
    for node in nodes:
        part = parts[node.name]
        assert part.running and part.healthy, part
        assert part.address == f"{node.host}:{settings.cassandra.port}"
        assert part.metrics_url.startswith(f"http://{node.host}:")
    assert cassandra.clustered(settings)
    # Started again, it starts nothing; the single node refuses to start beside it.
    assert cassandra.start(settings, cluster=True) is None
    with pytest.raises(ConfigError, match="runs as a cluster"):
        cassandra.start(settings)
    with open_session(settings) as cql:
        assert _replication(cql, settings.cassandra.keyspace) == THREE
        assert _replication(cql, "system_auth") == THREE
        hosts = sorted(h.address for h in cql.cluster.metadata.all_hosts() if h.is_up)
    assert hosts == [n.host for n in nodes]
    # No node lets the default login in, asked alone.
    for node in nodes:
        alone = settings.cassandra.model_copy(update={"hosts": [node.host]})
        with pytest.raises(TerminalError, match="refused the login"):
            connect_as(alone, DEFAULT_ROLE, DEFAULT_ROLE)


def test_nodes_sigkilled_under_load_lose_and_double_nothing(settings: Settings) -> None:
    ks = settings.cassandra.keyspace
    users = fake_users(f"{settings.kafka.topic}-nodes", 1300)
    first, one_down, back, with_driver, last = (
        users[:300], users[300:600], users[600:800], users[800:1100], users[1100:]
    )  # fmt: skip
    produce(settings, user_messages(first) + [(k, v) for k, v, _ in POISON])

    with open_session(settings) as cql:

        def stored() -> int:
            return cql.execute(f"SELECT count(*) FROM {ks}.user_profiles").one()[0]

        control.start(settings)
        wait_until("the first users", lambda: stored() == len(first))

        # One node down: users keep arriving and keep landing (two replicas of three).
        others = {n: process.running(settings.paths, n) for n in ("cassandra-1", "cassandra-3")}
        assert all(others.values()), others
        assert process.kill(settings.paths, "cassandra-2")
        killed = time.monotonic()
        produce(settings, user_messages(one_down))
        wait_until("users stored with a node down", lambda: stored() == 600, timeout=240)
        print(f"\nwith cassandra-2 down: {len(one_down)} users stored "
              f"{time.monotonic() - killed:.1f} s after the kill")  # fmt: skip
        assert cassandra.start(settings, cluster=True) is not None
        # It started cassandra-2 alone: the others are the same processes.
        assert {n: process.running(settings.paths, n) for n in others} == others
        produce(settings, user_messages(back))
        wait_until("users stored after it came back", lambda: stored() == 800, timeout=240)

        # A node and the driver at once: the supervisor's new driver connects with a node
        # away, and resumes from the checkpoint.
        driver = control.driver_pid(settings)
        assert process.kill(settings.paths, "cassandra-3")
        assert control.kill_driver(settings) == driver
        killed = time.monotonic()
        produce(settings, user_messages(with_driver))
        wait_until("users stored by a new driver", lambda: stored() == 1100, timeout=300)
        assert control.driver_pid(settings) not in (None, driver)
        print(f"recovery: a new driver stored {len(with_driver)} users with cassandra-3 down "
              f"{time.monotonic() - killed:.1f} s after both were killed")  # fmt: skip
        assert cassandra.start(settings, cluster=True) is not None
        produce(settings, user_messages(last))
        wait_until("every user stored", lambda: stored() == len(users), timeout=240)
        wait_until("the end of the topic", lambda: control.lag(settings) == {0: 0, 1: 0})
        ids = [str(r.id) for r in cql.execute(f"SELECT id FROM {ks}.user_profiles")]
        rejects = [r.reason for r in cql.execute(f"SELECT reason FROM {ks}.user_profiles_rejects")]
        # users_by_country lists each user once too (its rows were written at LOCAL_QUORUM).
        listed = [str(r.id) for r in cql.execute(f"SELECT id FROM {ks}.users_by_country")]
    expected = sorted(u["login"]["uuid"] for u in users)
    assert sorted(ids) == expected
    assert sorted(listed) == expected
    assert sorted(rejects) == sorted(reason for _, _, reason in POISON)
    assert control.running(settings) is not None
    assert control.stop(settings)
