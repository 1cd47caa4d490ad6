"""Session fixtures for the real services: bring your own, or start one.

A broker or node already answering at the configured address (ours from `userstream stack up`,
or an external one named by USERSTREAM_* variables) is reused and left running. A missing one is
started once for the session and stopped at the end — only what this session started.

A test that starts and stops servers itself uses ``private``: a state folder of its own on free
ports, sharing only the fetched jars. A test that kills or stops Kafka or Cassandra uses
``own_stack``: a running pair of its module's own (in such a folder), so a developer's running
stack is never touched.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from userstream.config import Settings, load_settings
from userstream.host.net import free_ports, port_open
from userstream.host.state import ensure_layout
from userstream.kafka import client_config
from userstream.stack import cassandra, kafka, schema_registry

if TYPE_CHECKING:
    from cassandra.cluster import Session
    from confluent_kafka.admin import AdminClient


def _kafka_answers(settings: Settings) -> bool:
    return kafka.broker_answers(settings.kafka, timeout=5.0)


def _cassandra_answers(settings: Settings) -> bool:
    return port_open(settings.cassandra.hosts[0], settings.cassandra.port)


@pytest.fixture(scope="session")
def stack() -> Iterator[Settings]:
    """The Settings of a running Kafka + Cassandra, and the local schema registry unless a
    registry URL is configured, with the housekeeper, as `stack up` runs them (each started
    here when none answers)."""
    from userstream.stack import housekeeper

    settings = load_settings()
    ensure_layout(settings.paths)
    started: list[str] = []
    try:
        if housekeeper.start(settings):
            started.append("housekeeper")
        # start_* return None when another session got there first: then it is not ours to stop.
        if not _kafka_answers(settings) and kafka.start(settings) is not None:
            started.append("kafka")
        local_registry = settings.registry.is_local and not schema_registry.answers(
            settings.registry
        )
        if local_registry and schema_registry.start_registry(settings) is not None:
            started.append("registry")
        if not _cassandra_answers(settings) and cassandra.start(settings) is not None:
            started.append("cassandra")
        yield settings
    finally:
        if "cassandra" in started:
            cassandra.stop(settings)
        if "registry" in started:
            schema_registry.stop_registry(settings)
        if "kafka" in started:
            kafka.stop(settings)
        if "housekeeper" in started:
            housekeeper.stop(settings)


@contextmanager
def open_session(settings: Settings) -> Iterator[Session]:
    """A session to ``settings``' Cassandra, logged in as the project's superuser; shut down
    on the way out."""
    from userstream.store import connect

    sess = connect(settings)
    try:
        yield sess
    finally:
        sess.cluster.shutdown()


@pytest.fixture(scope="session")
def cassandra_session(stack: Settings) -> Iterator[Session]:
    """One session for the whole run, logged in as the project's (generated) superuser."""
    with open_session(stack) as sess:
        yield sess


@pytest.fixture(scope="session")
def kafka_admin(stack: Settings) -> AdminClient:
    """A confluent-kafka AdminClient on the configured bootstrap servers."""
    from confluent_kafka.admin import AdminClient

    return AdminClient(client_config.config(stack.kafka, "admin"))


@pytest.fixture(scope="module")
def own_session(own_stack: Settings) -> Iterator[Session]:
    """A session to the module's own Cassandra (``own_stack``), as its superuser."""
    with open_session(own_stack) as sess:
        yield sess


def command_env(settings: Settings) -> dict[str, str]:
    """The environment of a `userstream` command run against ``settings`` (as a service
    manager would give it): this one's, less its ``USERSTREAM_*``, plus ``settings``' own
    (secrets excepted: the local stack's come from its state folder)."""
    from userstream.stack._airflow_env import userstream_env

    clean = {k: v for k, v in os.environ.items() if not k.startswith("USERSTREAM_")}
    return {**clean, **userstream_env(settings)}


def unlock_default_login(session: Session) -> None:
    """Make the node look fresh: the default cassandra/cassandra superuser can log in.
    Cassandra refuses a password change within 5 s of the last (the node's own securing, or
    another test), so this waits that out."""
    for attempt in range(3):
        try:
            session.execute(
                "ALTER ROLE cassandra WITH PASSWORD = 'cassandra' AND SUPERUSER = true "
                "AND LOGIN = true"
            )
            return
        except Exception as exc:
            if "can only be changed every" not in str(exc) or attempt == 2:
                raise
            time.sleep(5.5)


def private_settings(root: Path) -> Settings:
    """Settings of an empty state folder ``root`` on free ports, with the shared jars linked in
    (fetched there when missing; nothing of the shared stack is started or touched)."""
    shared = load_settings()
    ensure_layout(shared.paths)
    kp, kc, km, cp, cs, cm, rp = free_ports(7)
    settings = load_settings(
        state_dir=root,
        kafka={
            "port": kp,
            "controller_port": kc,
            "metrics_port": km,
            "bootstrap_servers": f"127.0.0.1:{kp}",
        },
        cassandra={"port": cp, "storage_port": cs, "metrics_port": cm},
        registry={"port": rp},
    )
    settings.paths.root.mkdir(parents=True)
    settings.paths.lib.symlink_to(shared.paths.lib, target_is_directory=True)
    return settings


@contextmanager
def _private_stack(root: Path) -> Iterator[Settings]:
    from userstream.stack.local import stack_down, stack_up

    settings = private_settings(root / "state")
    try:
        stack_up(settings, progress=lambda _line: None)
        yield settings
    finally:
        stack_down(settings, progress=lambda _line: None)


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A Kafka + Cassandra of this module's own, running (``private_settings``); stopped at
    the end. For the modules that kill its parts."""
    with _private_stack(tmp_path_factory.mktemp("own_stack")) as settings:
        yield settings


@pytest.fixture(scope="session")
def shared_own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """One private Kafka + Cassandra for the modules that need a stack no developer uses but
    not one of their own: they unlock, restart or re-secure it and leave it as they found it
    (each such module overrides ``own_stack`` with it). Starting one takes ~45 s."""
    with _private_stack(tmp_path_factory.mktemp("shared_own_stack")) as settings:
        yield settings


@pytest.fixture
def private(tmp_path: Path) -> Settings:
    """Settings of an empty state folder on free ports, with the shared jars linked in."""
    return private_settings(tmp_path / "state")
