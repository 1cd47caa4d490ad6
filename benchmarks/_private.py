"""A pipeline of the benchmark's own: an empty state folder on free ports, the shared jars
linked in, so that the developer's pipeline (default state folder and ports) is neither used
nor stopped."""

from __future__ import annotations

import os
from pathlib import Path

from userstream.config import load_settings
from userstream.host.net import free_ports
from userstream.host.state import ensure_layout
from userstream.stack._airflow_env import userstream_env


def private_environment(state: Path, *, link_jars: bool = True) -> dict[str, str]:
    """The environment of a pipeline in ``state`` on free ports (the shared jars linked,
    unless ``link_jars`` is false: then it fetches its own)."""
    shared = load_settings()
    state.mkdir(parents=True)
    if link_jars:
        ensure_layout(shared.paths)
        (state / "lib").symlink_to(shared.paths.lib, target_is_directory=True)
    ports = iter(free_ports(18))
    settings = load_settings(
        state_dir=state,
        kafka={"port": next(ports), "controller_port": next(ports), "metrics_port": next(ports)},
        cassandra={
            "port": next(ports),
            "storage_port": next(ports),
            "metrics_port": next(ports),
        },
        registry={"port": next(ports)},
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("USERSTREAM_")}
    return {
        **clean,
        **userstream_env(settings),
        "USERSTREAM_SPARK__METRICS_PORT": str(next(ports)),
        "USERSTREAM_SPARK__UI_PORT": str(next(ports)),
        "USERSTREAM_AIRFLOW__PORT": str(next(ports)),
        "USERSTREAM_SOURCE__FAKE_PORT": str(next(ports)),
        "USERSTREAM_DASHBOARD__PORT": str(next(ports)),
        "USERSTREAM_MONITORING__PROMETHEUS_PORT": str(next(ports)),
        "USERSTREAM_MONITORING__STATSD_PORT": str(next(ports)),
        "USERSTREAM_MONITORING__STATSD_EXPORTER_PORT": str(next(ports)),
        # The local cluster's Spark master (`up --cluster`).
        "USERSTREAM_CLUSTER__SPARK_MASTER_PORT": str(next(ports)),
        "USERSTREAM_CLUSTER__SPARK_MASTER_UI_PORT": str(next(ports)),
    }
