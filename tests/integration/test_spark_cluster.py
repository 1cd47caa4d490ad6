"""The stream on a Spark standalone cluster of this machine (``stack up --cluster``): a master
and two workers from pyspark's distribution, on a Kafka and Cassandra of this module's own.

A worker SIGKILLed while its executor writes users: its tasks are run again on the other
worker, and every user is stored exactly once. ``status`` names each node of the cluster.
Streams share the cluster: each takes its share of cores, and one that gets none says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import psutil
import pytest

from tests.integration.conftest import open_session
from tests.integration.conftest_stream import (
    POISON,
    executor_of,
    fake_users,
    isolated,
    produce,
    stream_env,
    user_messages,
    wait_until,
)
from userstream.config import Settings
from userstream.host import process
from userstream.host.net import free_ports
from userstream.pipeline import on_local_cluster
from userstream.stack import spark
from userstream.stack.local import stack_status
from userstream.streaming import control

pytestmark = [pytest.mark.integration, pytest.mark.faults]

N = 1500


@pytest.fixture(scope="module")
def cluster(own_stack: Settings) -> Iterator[Settings]:
    """``own_stack`` with a running Spark cluster on free ports, stopped at the end."""
    master_port, ui_port = free_ports(2)
    ports = {"spark_master_port": master_port, "spark_master_ui_port": ui_port}
    settings = own_stack.model_copy(update={"cluster": own_stack.cluster.model_copy(update=ports)})
    try:
        # The Spark half of `stack up --cluster` (Kafka stays own_stack's single node; the
        # Kafka cluster has its own test).
        spark.start_cluster(settings)
        yield settings
    finally:
        spark.stop_cluster(settings)


@pytest.fixture
def settings(cluster: Settings, unique: str) -> Iterator[Settings]:
    # Every micro-batch written by the executors' Python workers, in small batches, so a
    # worker dies while it writes.
    master = on_local_cluster(cluster).spark.master
    on_master = cluster.model_copy(
        update={"spark": cluster.spark.model_copy(update={"master": master})}
    )
    on_cluster = isolated(on_master, unique, max_offsets_per_trigger=150, driver_write_max_rows=0)
    with stream_env(on_cluster) as s:
        yield s


def _is_executor(proc: psutil.Process) -> bool:
    return "org.apache.spark.executor.CoarseGrainedExecutorBackend" in (proc.info["cmdline"] or [])


def test_the_cluster_starts_secured_and_status_names_each_node(cluster: Settings) -> None:
    assert spark.workers_alive(cluster.cluster) == cluster.cluster.spark_workers == 2
    parts = {p.name: p for p in stack_status(cluster)}
    assert {"spark-master", "spark-worker-1", "spark-worker-2"} <= set(parts)
    assert all(parts[n].running and parts[n].healthy for n in spark.names(cluster.cluster))
    assert parts["spark-master"].address == spark.master_url(cluster.cluster)
    # The shared secret is on: the master says so, and it is in no command line.
    log = cluster.paths.log_file(spark.MASTER).read_text()
    assert "SecurityManager: authentication enabled" in log
    secret = (spark.conf_dir(cluster.paths) / "spark-defaults.conf").read_text().split()[-1]
    for name in spark.names(cluster.cluster):
        proc = process.running(cluster.paths, name)
        assert proc is not None
        assert secret not in process._cmdline(proc.pid)
    assert (spark.conf_dir(cluster.paths) / "spark-defaults.conf").stat().st_mode & 0o777 == 0o600


def test_streams_share_the_cluster_and_one_left_without_cores_is_unhealthy_in_sparks_words(
    cluster: Settings, unique: str
) -> None:
    # Both workers (an earlier test of the module kills one), as `stack up --cluster` leaves
    # them; what `up --cluster` gives every stream: the master and half of their two cores.
    spark.start_cluster(cluster)
    assert spark.workers_alive(cluster.cluster) == 2
    local = on_local_cluster(cluster).spark
    assert local.cores_max == 1
    shared = cluster.model_copy(
        update={
            "spark": cluster.spark.model_copy(
                update={"master": local.master, "cores_max": local.cores_max}
            )
        }
    )
    users = {name: fake_users(f"{unique}-{name}", 40) for name in ("a", "b", "c")}
    with ExitStack() as stack:
        streams = {
            name: stack.enter_context(
                stream_env(isolated(shared, f"{unique}{name}", unhealthy_after_s=20))
            )
            for name in users
        }
        cql = stack.enter_context(open_session(cluster))

        def stored(name: str) -> set[str]:
            ks = streams[name].cassandra.keyspace
            return {str(r.id) for r in cql.execute(f"SELECT id FROM {ks}.user_profiles")}

        def expected(name: str) -> set[str]:
            return {u["login"]["uuid"] for u in users[name]}

        for name, settings in streams.items():
            produce(settings, user_messages(users[name]))
        # Two streams, one core each: the second gets executors as well as the first.
        for name in ("a", "b"):
            control.start(streams[name])
            wait_until(f"stream {name}'s users", lambda n=name: stored(n) == expected(n))
        # The third finds no free core: running, but unhealthy, in Spark's own words.
        c = streams["c"]
        control.start(c)

        def c_report() -> dict[str, object]:
            return control.report(c, control.last_progress(c), control.lag(c))

        wait_until("the third stream unhealthy", lambda: not c_report()["healthy"], timeout=180)
        wait_until(
            "Spark's warning in its reason",
            lambda: "Initial job has not accepted any resources" in str(c_report()["reason"]),
            timeout=120,
        )
        report = c_report()
        assert report["running"] and report["state"] == "running", report
        assert str(report["reason"]).startswith("no Spark executors for "), report
        assert "spark.cores_max" in str(report["reason"])
        assert not stored("c")
        # A core freed: the third stream gets its executor and stores its users.
        assert control.stop(streams["a"])
        wait_until("stream c's users", lambda: stored("c") == expected("c"), timeout=240)
        # And it is healthy again (a first batch that waited for its executor once left its
        # start published: "a micro-batch has been running for …").
        wait_until("the third stream healthy again", lambda: c_report()["healthy"], timeout=120)
        assert stored("a") == expected("a") and stored("b") == expected("b")


def test_a_worker_lost_mid_stream_loses_and_doubles_nothing(settings: Settings) -> None:
    ks = settings.cassandra.keyspace
    users = fake_users(f"{settings.kafka.topic}-cluster", N)
    messages = user_messages(users)
    for i, (key, value, _) in enumerate(POISON):
        messages.insert(i * (N // len(POISON)), (key, value))
    produce(settings, messages[: N // 2])

    with open_session(settings) as cql:

        def stored() -> int:
            return cql.execute(f"SELECT count(*) FROM {ks}.user_profiles").one()[0]

        control.start(settings)
        wait_until("the first users stored by the executors", lambda: stored() > 0)
        # The driver and the executors run: the secret is on no command line of any of them.
        secret = (spark.conf_dir(settings.paths) / "spark-defaults.conf").read_text().split()[-1]
        executors = [p for p in psutil.process_iter(["cmdline"]) if _is_executor(p)]
        assert executors, "no executor runs"
        for proc in psutil.process_iter(["cmdline"]):
            assert secret not in " ".join(proc.info["cmdline"] or []), proc.pid
        # Its executor runs the stream's tasks (batches come every second): kill it with it.
        worker = process.running(settings.paths, spark.worker_name(1))
        assert worker is not None
        wait_until("worker 1's executor", lambda: executor_of(worker.pid) is not None)
        assert process.kill(settings.paths, spark.worker_name(1))
        produce(settings, messages[N // 2 :])
        wait_until("every user stored", lambda: stored() == N, timeout=300)
        wait_until("the end of the topic", lambda: control.lag(settings) == {0: 0, 1: 0})
        ids = [str(r.id) for r in cql.execute(f"SELECT id FROM {ks}.user_profiles")]
        rejects = [r.reason for r in cql.execute(f"SELECT reason FROM {ks}.user_profiles_rejects")]
    assert sorted(ids) == sorted(u["login"]["uuid"] for u in users)
    assert sorted(rejects) == sorted(reason for _, _, reason in POISON)
    driver_log = settings.paths.log_file(settings.spark.job_name).read_text()
    assert '"written_by": "executors"' in driver_log
    assert '"written_by": "driver"' not in driver_log
    assert control.stop(settings)
    parts = {p.name: p for p in stack_status(settings)}
    assert not parts["spark-worker-1"].running
    assert parts["spark-master"].healthy and parts["spark-worker-2"].healthy
