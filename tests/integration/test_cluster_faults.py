"""The whole local cluster at once (``stack up --cluster``): three Kafka brokers, three
Cassandra nodes and a Spark master with two workers, the stream on that master with its
executors writing, while users arrive at a steady rate.

One at a time, a broker, a Cassandra node, a Spark worker (with its executor) and the driver
are SIGKILLed; then two at once, as far as the replication allows: a broker with a Cassandra
node (each cluster still has a quorum), and a worker with the driver. While each is down,
users sent after the kill are stored; at the end every user sent is stored exactly once, in
both tables, and no reject is doubled. Nothing but the stream's supervisor acts on the
faults; the test starts each killed node again, as a service manager would.

Each cluster's own harder cases (two brokers at once, a node with the driver) are in
test_kafka_cluster.py, test_cassandra_cluster.py and test_spark_cluster.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import pytest

from tests.integration.conftest import open_session, private_settings
from tests.integration.conftest_stream import (
    POISON,
    Arrivals,
    executor_of,
    isolated,
    produce,
    stream_env,
    wait_until,
)
from userstream.config import Settings
from userstream.host import process
from userstream.host.net import free_ports
from userstream.kafka import topics
from userstream.pipeline import on_local_cluster
from userstream.stack import cassandra, kafka, spark
from userstream.stack.local import stack_down, stack_status, stack_up
from userstream.streaming import control

pytestmark = [pytest.mark.integration, pytest.mark.faults]
log = logging.getLogger(__name__)

#: Users a second, steady, for the whole test: what two cores carry with nine JVMs on them
#: (docs/clusters.md "Scaling": the cluster falls behind at 100 users/s here).
RATE = 20
#: Users sent after a kill that must be stored before the killed node is started again.
LANDED_WHILE_DOWN = 60


@pytest.fixture(scope="module")
def clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """``stack up --cluster`` in a state folder of this module's own, on free ports, with
    every client pointed at the clusters as ``up --cluster`` points them; all stopped at
    the end."""
    own = private_settings(tmp_path_factory.mktemp("clusters") / "state")
    master_port, ui_port = free_ports(2)
    ports = {"spark_master_port": master_port, "spark_master_ui_port": ui_port}
    settings = on_local_cluster(
        own.model_copy(update={"cluster": own.cluster.model_copy(update=ports)})
    )
    try:
        stack_up(settings, cluster=True, progress=log.warning)
        yield settings
    finally:
        stack_down(settings, progress=lambda _line: None)


@pytest.fixture
def settings(clusters: Settings, unique: str) -> Iterator[Settings]:
    # Small micro-batches written by the executors, so nodes die while batches are written.
    # Both workers' cores, so an executor runs on each (a stream's default is half of them).
    on_cluster = isolated(
        clusters, unique, max_offsets_per_trigger=150, driver_write_max_rows=0, cores_max=2
    )
    with stream_env(on_cluster) as s:
        yield s


def _in_sync(settings: Settings) -> bool:
    """Every partition of the stream's topics has all three replicas in sync."""
    metadata = topics.admin_client(settings.kafka).list_topics(timeout=10)
    names = (settings.kafka.topic, settings.kafka.dlq_topic)
    partitions = [p for n in names for p in metadata.topics[n].partitions.values()]
    return all(len(p.isrs) == kafka.CLUSTER_NODES for p in partitions)


def _start_again(settings: Settings, name: str) -> None:
    """Start the killed node ``name`` again; the others are left as they are."""
    if name.startswith("kafka-"):
        started = kafka.start(settings, cluster=True)
        # Answering is not enough: the next kill must find every replica in sync again, or
        # two brokers of three would be missing from a partition's in-sync replicas.
        wait_until(f"{name}'s replicas in sync", lambda: _in_sync(settings))
    elif name.startswith("cassandra-"):
        started = cassandra.start(settings, cluster=True)
    else:
        started = spark.start_cluster(settings)
    assert started is not None, f"{name} was running again before it was started"


@pytest.mark.timeout(2400)  # the clusters' start, six faults and their recoveries
def test_every_cluster_loses_nodes_while_users_arrive_and_nothing_is_lost_or_doubled(
    settings: Settings,
) -> None:
    ks = settings.cassandra.keyspace
    parts = {p.name: p for p in stack_status(settings)}
    every = [n.name for n in kafka.cluster_nodes(settings)]
    every += [n.name for n in cassandra.cluster_nodes(settings)] + spark.names(settings.cluster)
    assert all(parts[n].running and parts[n].healthy for n in every), parts
    produce(settings, [(k, v) for k, v, _ in POISON])

    control.start(settings)
    with open_session(settings) as cql, Arrivals(settings, settings.kafka.topic, RATE) as users:

        def stored() -> int:
            return cql.execute(f"SELECT count(*) FROM {ks}.user_profiles").one()[0]

        def caught_up() -> bool:
            """Stored all but the last few seconds of arrivals: a kill then meets the
            stream at its steady pace, not draining a backlog."""
            return stored() >= len(users.sent) - 3 * RATE

        wait_until("the first users", lambda: stored() > 0)

        def down(
            *names: str, driver: bool = False, before: Callable[[], None] = lambda: None
        ) -> None:
            """SIGKILL ``names`` (and the driver), wait until users sent after that are
            stored with them still down, then start them again."""
            before()
            wait_until("the stream at the pace of arrivals", caught_up)
            others = {n: process.running(settings.paths, n) for n in every if n not in names}
            old_driver = control.driver_pid(settings)
            for name in names:
                assert process.kill(settings.paths, name), f"{name} was not running"
            if driver:
                assert control.kill_driver(settings) == old_driver
            killed, sent = time.monotonic(), len(users.sent)
            what = " and ".join([*names, *(["the driver"] if driver else [])])
            wait_until(
                f"users sent after {what} went down stored", timeout=360,
                check=lambda: users.alive() and stored() >= sent + LANDED_WHILE_DOWN,
            )  # fmt: skip
            seconds = time.monotonic() - killed
            assert all(process.running(settings.paths, n) is None for n in names)
            if driver:
                assert control.driver_pid(settings) not in (None, old_driver)
            print(f"\nwith {what} down: users sent after the kill stored {seconds:.1f} s after it")
            log.warning("cluster_fault down=%s stored_after_s=%.1f", what, seconds)
            for name in names:
                _start_again(settings, name)
            # Only the killed nodes were started: every other is the same process.
            assert {n: process.running(settings.paths, n) for n in others} == others

        def worker_busy(index: int) -> Callable[[], None]:
            def check() -> None:
                worker = process.running(settings.paths, spark.worker_name(index))
                assert worker is not None
                wait_until(f"an executor on worker {index}", lambda: executor_of(worker.pid))

            return check

        # One at a time.
        down("kafka-2")
        down("cassandra-2")
        down(spark.worker_name(1), before=worker_busy(1))
        down(driver=True)
        # Two at once, each cluster keeping its quorum.
        down("kafka-3", "cassandra-3")
        down(spark.worker_name(2), driver=True, before=worker_busy(2))

        users.stop()
        assert not users.errors, users.errors[:3]
        sent = sorted(users.sent)
        assert len(sent) == len(set(sent))
        wait_until("every user sent stored", lambda: stored() == len(sent), timeout=360)
        wait_until("the end of the topic", lambda: control.lag(settings) == {0: 0, 1: 0})
        ids = [str(r.id) for r in cql.execute(f"SELECT id FROM {ks}.user_profiles")]
        listed = [str(r.id) for r in cql.execute(f"SELECT id FROM {ks}.users_by_country")]
        rejects = [r.reason for r in cql.execute(f"SELECT reason FROM {ks}.user_profiles_rejects")]
    print(f"{len(sent)} users sent at {RATE}/s through six faults, each stored once")
    assert sorted(ids) == sent
    assert sorted(listed) == sent
    assert sorted(rejects) == sorted(reason for _, _, reason in POISON)
    assert control.running(settings) is not None
    assert control.stop(settings)
