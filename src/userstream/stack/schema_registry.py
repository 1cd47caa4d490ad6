"""The local schema registry (``userstream.registry``) as a supervised process of the stack:
``schema-registry-<port>`` in the state folder's ``run/`` and ``logs/`` (``process_name``: one per
port, so a test's own registry beside the stack's is its own process), started by ``stack up``
after Kafka is ready (its schemas live in a Kafka topic) and only when no registry URL is
configured (``registry.is_local``); stopped by ``stack down``.

The process gets the settings it needs as ``USERSTREAM_*`` variables (the Kafka it should
use among them, e.g. the local cluster's nodes); its login it reads from the state folder,
where ``start_registry`` generates it first: no password on a command line.
"""

from __future__ import annotations

import logging
import sys
import time

from userstream.config import RegistrySettings, Settings
from userstream.host import process
from userstream.host.locks import component_lock
from userstream.registry import client_config
from userstream.stack._airflow_env import userstream_env
from userstream.stack._ports import require_free
from userstream.stack._wait import wait_ready

log = logging.getLogger(__name__)

LABEL = "Schema registry"
#: Reading a long topic to its end comes first; Kafka itself is already up.
START_TIMEOUT_S = 90.0


def process_name(registry: RegistrySettings) -> str:
    """The registry's pid and log name: one per port."""
    return f"schema-registry-{registry.port}"


def address(registry: RegistrySettings) -> str:
    return registry.address


def metrics_url(registry: RegistrySettings) -> str:
    return f"{registry.address}/metrics"


def answers(registry: RegistrySettings, timeout: float = 2.0) -> bool:
    """True when the registry's health route answers (no login needed)."""
    from userstream.host.net import answers_http

    return answers_http(f"{registry.address}/", timeout=timeout)


def subjects(settings: Settings, timeout: float = 3.0) -> list[str]:
    """The subjects the registry in use lists, asked with the clients' own settings and
    confluent-kafka's client (so a wrong login or CA shows here). Raises what it raises."""
    from confluent_kafka.schema_registry import SchemaRegistryClient

    conf = {**client_config.config(settings.registry, settings.paths), "timeout": timeout,
            "max.retries": 0}  # fmt: skip
    found: list[str] = SchemaRegistryClient(conf).get_subjects()
    return found


def check_port(settings: Settings) -> None:
    """``ConfigError`` when the registry does not run and another program holds its port."""
    r = settings.registry
    if process.running(settings.paths, process_name(r)) is None:
        require_free(LABEL, r.host, [r.port], "USERSTREAM_REGISTRY__PORT")


def start_registry(settings: Settings) -> float | None:
    """Start the local registry on ``settings.kafka`` and wait until it answers (it has read
    its topic); the seconds it took, or None when it already runs. Raises ``ConfigError``
    for a taken port, ``TerminalError`` (quoting its log) when it exits while starting,
    ``TransientError`` when it does not answer in time."""
    paths = settings.paths
    r = settings.registry
    name = process_name(r)
    with component_lock(paths, name):
        if process.running(paths, name) is not None:
            return None
        check_port(settings)
        client_config.ensure_local_login(paths)
        started = time.monotonic()
        proc = process.start(paths, name, [sys.executable, "-m", "userstream.registry"],
                             env=userstream_env(settings))  # fmt: skip
        log.info("registry starting pid=%d address=%s", proc.pid, r.address)
        try:
            ready = lambda: answers(r)  # noqa: E731
            wait_ready(paths, name, LABEL, ready, timeout=START_TIMEOUT_S, interval=0.3)
        except BaseException:
            process.stop(paths, name)
            raise
        return time.monotonic() - started


def stop_registry(settings: Settings) -> bool:
    """Stop the local registry (SIGTERM, SIGKILL after a bound); True when it ran."""
    name = process_name(settings.registry)
    with component_lock(settings.paths, name):
        return process.stop(settings.paths, name, timeout=15.0)
