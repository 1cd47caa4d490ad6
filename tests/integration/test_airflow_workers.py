"""The DAG on a multi-worker executor (README "Airflow with several workers"): Airflow 3's
Edge executor, whose workers fetch their tasks from the API server over HTTP, set by the
project's settings alone (``USERSTREAM_AIRFLOW__CONFIG``), and the stream as a service outside
Airflow (`userstream stream supervise`, ``airflow.starts_stream`` false).

A first worker (`userstream airflow edge-worker`) runs a whole run of the DAG; a second
joins and the first is SIGKILLed (its host lost), and the second runs the next one. Both runs succeed on the worker that was
there, ``ensure_stream`` only judges the service's heartbeat, and the driver is the
service's throughout, never a task's.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import command_env
from tests.integration.conftest_stream import wait_until
from userstream.config import Settings, load_settings
from userstream.host import process
from userstream.host.net import free_ports
from userstream.stack import airflow, airflow_runs
from userstream.stack._airflow_env import airflow_home, keys_file, passwords_file
from userstream.streaming import control

pytestmark = pytest.mark.integration

DAG = "streaming_pipeline"
BATCH = 100
WORKERS = ("worker-1", "worker-2")


@pytest.fixture(scope="module")
def af(stack: Settings) -> Iterator[Settings]:
    """This module's own Airflow on the Edge executor (the project's settings alone say so),
    up and healthy, with the stream supervised outside it; all torn down at the end."""
    suffix = uuid.uuid4().hex[:8]
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}"
    edge = {
        "core.executor": airflow.EDGE_EXECUTOR,
        "edge.api_enabled": "True",
        "edge.api_url": f"{url}/edge_worker/v1/rpcapi",
        "edge.job_poll_interval": "1",
        "edge.heartbeat_interval": "5",
        "database.external_db_managers": "airflow.providers.edge3.models.db.EdgeDBManager",
    }
    env = {
        "USERSTREAM_STATE_DIR": str(stack.paths.root),
        "USERSTREAM_AIRFLOW__INSTANCE": f"airflow-edge-{suffix}",
        "USERSTREAM_AIRFLOW__PORT": str(port),
        "USERSTREAM_AIRFLOW__SCHEDULE": "none",
        "USERSTREAM_AIRFLOW__STARTS_STREAM": "false",
        "USERSTREAM_AIRFLOW__CONFIG": json.dumps(edge),
        "USERSTREAM_KAFKA__TOPIC": f"it_edge_{suffix}",
        "USERSTREAM_CASSANDRA__KEYSPACE": f"it_edge_{suffix}",
        "USERSTREAM_SPARK__JOB_NAME": f"stream-it-edge-{suffix}",
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        settings = load_settings()
        try:
            airflow.up(settings, timeout=300)
            yield settings
        finally:
            _teardown(settings)


def _teardown(settings: Settings) -> None:
    from userstream.store import session
    from userstream.topics import admin_client

    for name in WORKERS:
        process.kill(settings.paths, _worker(settings, name))
    airflow.down(settings)
    control.stop(settings)
    with session(settings) as cql:
        cql.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra.keyspace}")
    admin = admin_client(settings.kafka)
    topics = [settings.kafka.topic, settings.kafka.dlq_topic]
    for future in admin.delete_topics(topics, operation_timeout=30).values():
        with contextlib.suppress(Exception):
            future.result()
    shutil.rmtree(airflow_home(settings), ignore_errors=True)
    shutil.rmtree(settings.checkpoint_dir(), ignore_errors=True)
    passwords_file(settings).unlink(missing_ok=True)
    keys_file(settings).unlink(missing_ok=True)


def _worker(settings: Settings, name: str) -> str:
    return f"{settings.airflow.instance}-edge-{name}"


def _start_worker(settings: Settings, name: str) -> int:
    """`userstream airflow edge-worker NAME` with one slot, as a service manager would run it
    on a host of its own (the same settings, the shared state folder): its pid."""
    cmd = [sys.executable, "-m", "userstream", "airflow", "edge-worker", name,
           "--concurrency", "1"]  # fmt: skip
    return process.start(
        settings.paths, _worker(settings, name), cmd, env=command_env(settings)
    ).pid


@pytest.fixture(scope="module")
def service(af: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`userstream stream supervise` as a service manager would run it, once the tables
    exist (`userstream db init`; `bootstrap` on a cluster of one's own): its pid."""
    env = command_env(af)
    done = subprocess.run(
        [sys.executable, "-m", "userstream", "db", "init"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    path = tmp_path_factory.mktemp("edge") / "supervise.log"
    log = path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "userstream", "stream", "supervise"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def started() -> bool:
        assert proc.poll() is None, path.read_text()
        return control.driver_pid(af) is not None

    try:
        wait_until("the stream's first driver", started)
        yield proc.pid
    finally:
        control.stop(af)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        log.close()


def _run(settings: Settings) -> list[dict[str, Any]]:
    """One run of the DAG through `userstream airflow run-dag`, succeeded: its tasks."""
    conf = json.dumps({"batch_size": BATCH, "source": "local"})
    result = subprocess.run(
        [sys.executable, "-m", "userstream", "airflow", "run-dag", DAG, "--conf", conf,
         "--timeout", "900"],
        capture_output=True, text=True, timeout=1200, env=dict(os.environ), check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((settings.paths.results / "quality.json").read_text())
    assert report["passed"] is True
    instances = airflow_runs.api(settings).task_instances(DAG, str(report["run_id"]))
    assert {t["state"] for t in instances} == {"success"}, instances
    return instances


@pytest.mark.timeout(1800)  # Airflow's start, the stream's, two runs of the DAG
def test_the_dag_runs_on_edge_workers_one_lost_and_no_task_owns_the_stream(
    af: Settings, service: int
) -> None:
    driver = control.driver_pid(af)
    first, second = WORKERS
    _start_worker(af, first)
    ran = _run(af)
    assert {t["hostname"] for t in ran} == {first}, ran
    print(f"\n{first}: ran all {len(ran)} tasks of the first run")

    # The second worker joins and the first is lost (SIGKILLed, as its host would be): the
    # next run needs nothing of it.
    _start_worker(af, second)
    assert process.kill(af.paths, _worker(af, first))
    ran = _run(af)
    assert {t["hostname"] for t in ran} == {second}, ran
    print(f"{second}: ran all {len(ran)} tasks of the second run, with {first} lost")

    # The service's driver ran throughout: no task of either worker started another.
    assert control.driver_pid(af) == driver
    running = control.running(af)
    assert running is not None and running.pid == service
