"""The DAG on a multi-worker executor (docs/clusters.md "Airflow with several workers"): Airflow 3's
Edge executor, whose workers fetch their tasks from the API server over HTTP, set by the
project's settings alone (``USERSTREAM_AIRFLOW__CONFIG``), and the stream as a service outside
Airflow (`userstream stream supervise`, ``airflow.starts_stream`` false).

A first worker (`userstream airflow edge-worker`) runs a whole run of the DAG; a second
joins and the first is SIGKILLed (its host lost), and the second runs the next one. Both
runs succeed on the worker that was there, ``ensure_stream`` only judges the service's
heartbeat, and the driver is the service's throughout, never a task's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import command_env
from tests.integration.conftest_airflow import own_airflow
from tests.integration.conftest_stream import wait_until
from userstream.config import Settings, load_settings
from userstream.host import process
from userstream.stack import airflow, airflow_runs
from userstream.streaming import control

pytestmark = [pytest.mark.integration, pytest.mark.faults]

DAG = "streaming_pipeline"
BATCH = 100
WORKERS = ("worker-1", "worker-2")


@pytest.fixture(scope="module")
def af(stack: Settings) -> Iterator[Settings]:
    """This module's own Airflow on the Edge executor (the project's settings alone say so),
    up and healthy; its workers killed and everything torn down at the end."""
    edge = {"core.executor": airflow.EDGE_EXECUTOR, "edge.job_poll_interval": "1"}
    with own_airflow(
        stack, "airflow-edge", USERSTREAM_AIRFLOW__STARTS_STREAM="false",
        USERSTREAM_AIRFLOW__CONFIG=json.dumps(edge),
    ):  # fmt: skip
        settings = load_settings()
        try:
            yield settings
        finally:
            for name in WORKERS:
                process.kill(settings.paths, _worker(settings, name))


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
