"""Which local Kafka is "the" Kafka — the single node or the three-node cluster — decided
the same way by `up`, `stack up` and `status` (``kafka.clustered``), from the pid files."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from userstream.config import Settings, load_settings
from userstream.errors import ConfigError
from userstream.host import process
from userstream.host.net import free_ports
from userstream.stack import kafka


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Free ports: a pipeline of the developer's own may hold the default ones, and
    # `stack_up` refuses a taken port before it starts anything.
    kp, kc, km, cp, cs, cm, rp = free_ports(7)
    return load_settings(
        state_dir=tmp_path / "state",
        kafka={"port": kp, "controller_port": kc, "metrics_port": km},
        cassandra={"port": cp, "storage_port": cs, "metrics_port": cm},
        registry={"port": rp},
    )


@pytest.fixture
def dead_pid() -> Iterator[int]:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    yield child.pid


def _record(settings: Settings, name: str, pid: int) -> None:
    process.write_pid_file(settings.paths, name, pid)


def test_nothing_recorded_is_the_single_node(settings: Settings) -> None:
    assert not kafka.clustered(settings)


def test_a_running_cluster_node_makes_it_the_cluster(settings: Settings) -> None:
    _record(settings, "kafka-2", os.getpid())
    assert kafka.clustered(settings)


def test_a_running_single_node_wins_over_a_dead_clusters_pid_files(
    settings: Settings, dead_pid: int
) -> None:
    _record(settings, "kafka", os.getpid())
    settings.paths.pid_file("kafka-1").write_text(f"{dead_pid} 1\nx\n")
    assert not kafka.clustered(settings)


def test_a_cluster_that_died_is_still_the_cluster_until_down(
    settings: Settings, dead_pid: int
) -> None:
    settings.paths.run.mkdir(parents=True, exist_ok=True)
    settings.paths.pid_file("kafka-3").write_text(f"{dead_pid} 1\nx\n")
    assert kafka.clustered(settings)
    settings.paths.pid_file("kafka-3").unlink()  # what `down` does
    assert not kafka.clustered(settings)


@pytest.mark.parametrize(("running", "cluster"), [("kafka", True), ("kafka-1", False)])
def test_one_kind_refuses_to_start_beside_the_other(
    settings: Settings, running: str, cluster: bool
) -> None:
    _record(settings, running, os.getpid())
    with pytest.raises(ConfigError, match="cannot also run as") as caught:
        kafka.start(settings, cluster=cluster)
    assert "userstream stack down" in (caught.value.hint or "")


def test_a_failed_stack_up_stops_only_the_kafka_nodes_it_started(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from userstream.errors import TerminalError
    from userstream.stack import cassandra, local

    _record(settings, "kafka-1", os.getpid())  # running before the call

    def start_the_others(_settings: Settings, *, cluster: bool) -> float:
        assert cluster
        for name in ("kafka-2", "kafka-3"):
            _record(settings, name, os.getpid())
        return 1.0

    def cassandra_fails(_settings: Settings, **_: object) -> float:
        raise TerminalError("Cassandra exited while starting.")

    asked: list[str] = []
    monkeypatch.setattr(kafka, "start", start_the_others)
    monkeypatch.setattr(cassandra, "start", cassandra_fails)
    monkeypatch.setattr(local.process, "with_ticks", lambda start, *_a: start())
    # Not this test's concern, and `stop` is faked below: no housekeeper or registry process
    # is started (a registry would wait a minute for a Kafka that is not there).
    monkeypatch.setattr(local.housekeeper, "start", lambda _settings: False)
    monkeypatch.setattr(local.schema_registry, "start_registry", lambda _settings: None)
    monkeypatch.setattr(
        kafka.process, "stop", lambda _paths, name, **_k: asked.append(name) or True
    )
    with pytest.raises(TerminalError):
        local.stack_up(settings, progress=lambda _line: None)
    assert "kafka-1" not in asked
    assert {"kafka-2", "kafka-3"} <= set(asked)
