"""`up`, `down`, `up --cluster`, `down`, `up` in one checkout, as a user types them.

The single node and the local cluster keep their own data and their own default checkpoints,
so each `up` resumes its world where it was left; while the cluster runs, every command of
the checkout (`produce`, `query`, `stream status`) uses it without a variable set. The real
CLI in subprocesses, in a state folder of its own on free ports (Airflow included: `up` starts
it), so it runs beside a developer's pipeline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import private_settings
from userstream.host.net import free_ports
from userstream.stack._airflow_env import userstream_env

pytestmark = [pytest.mark.integration, pytest.mark.faults]

CLI = [sys.executable, "-m", "userstream"]


class User:
    """The CLI with this test's environment."""

    def __init__(self, env: dict[str, str], keyspace: str) -> None:
        self.env = env
        self.keyspace = keyspace

    def run(self, *args: str, timeout: float = 900, check: bool = True) -> str:
        done = subprocess.run(
            [*CLI, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check:
            assert done.returncode == 0, f"userstream {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout

    def json(self, *args: str, check: bool = True) -> dict[str, Any]:
        """The last JSON line of ``args --json`` (status commands exit 1 when unhealthy)."""
        return json.loads(self.run(*args, "--json", check=check).strip().splitlines()[-1])

    def stored(self) -> int:
        count = f"SELECT COUNT(*) AS n FROM {self.keyspace}.user_profiles"
        return int(self.json("query", count)["n"])

    def wait_stored(self, expected: int, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        seen = -1
        while time.monotonic() < deadline:
            seen = self.stored()
            if seen == expected:
                return
            assert seen < expected, f"{seen} users stored, {expected} produced: doubled"
            time.sleep(3)
        raise AssertionError(f"{seen} of {expected} users stored after {timeout:g} s")

    def produce(self, count: int, seed: str) -> None:
        summary = self.json("produce", "--source", "local", "--count", str(count), "--seed", seed)
        assert summary["produced"] == count, summary


@pytest.mark.timeout(3000)  # three `up`s, one of them the clusters' (nine more processes)
def test_single_then_cluster_then_single_each_resumes_where_it_left_off(tmp_path: Path) -> None:
    settings = private_settings(tmp_path / "state")
    ports = dict(
        zip(
            (
                "USERSTREAM_AIRFLOW__PORT",
                "USERSTREAM_DASHBOARD__PORT",
                "USERSTREAM_MONITORING__PROMETHEUS_PORT",
                "USERSTREAM_MONITORING__STATSD_PORT",
                "USERSTREAM_MONITORING__STATSD_EXPORTER_PORT",
                "USERSTREAM_SOURCE__FAKE_PORT",
                "USERSTREAM_SPARK__METRICS_PORT",
                "USERSTREAM_SPARK__UI_PORT",
                "USERSTREAM_CLUSTER__SPARK_MASTER_PORT",
                "USERSTREAM_CLUSTER__SPARK_MASTER_UI_PORT",
            ),
            (str(p) for p in free_ports(10)),
            strict=True,
        )
    )
    # The DAG only by hand (and `--no-first-run`): the users this test produces are all there is.
    env = {
        **os.environ,
        **userstream_env(settings),
        **ports,
        "USERSTREAM_AIRFLOW__SCHEDULE": "none",
    }
    # The brokers follow the mode (the single node's port, or the cluster's three nodes) as
    # they do for a user who set only the port.
    del env["USERSTREAM_KAFKA__BOOTSTRAP_SERVERS"]
    keyspace = settings.cassandra.keyspace
    user = User(env, keyspace)
    try:
        # `make run`: the single node. Its users land.
        user.run("up", "--source", "local", "--no-first-run")
        user.produce(120, seed="single-1")
        user.wait_stored(120)
        user.run("down")

        # The cluster, in the same checkout: no refusal of the single node's checkpoint, an
        # empty keyspace of its own (three replicas), and every command on it by itself.
        up = user.run("up", "--cluster", "--source", "local", "--no-first-run")
        assert "spark://127.0.0.1:" in up, up
        parts = {p["name"] for p in user.json("status", check=False)["parts"]}
        assert {"kafka-3", "cassandra-3", "spark-worker-2"} <= parts, parts
        replication = user.json(
            "query",
            f"SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = '{keyspace}'",
        )["replication"]
        assert "3" in replication.values(), replication
        assert user.stored() == 0
        user.produce(80, seed="cluster-1")
        user.wait_stored(80, timeout=600)
        stream = user.json("stream", "status", check=False)
        assert stream["healthy"], stream
        user.run("down")

        # The single node again: its data is there, and its stream goes on from its own
        # checkpoint (its driver reads only what came after).
        user.run("up", "--source", "local", "--no-first-run")
        assert user.stored() == 120
        user.produce(50, seed="single-2")
        user.wait_stored(170)
        totals = user.json("stream", "status", check=False)["totals"]
        assert totals["valid"] == 50, totals
    finally:
        user.run("down", check=False)
