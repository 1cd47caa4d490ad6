"""An Airflow instance of a test module's own, beside the pipeline's in the shared state
folder: its own instance name (home, processes, passwords file), a free port, and its own
topic, keyspace and stream, so a running pipeline is never touched."""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterator

import pytest

from userstream.config import Settings, load_settings
from userstream.host.net import free_ports
from userstream.stack import airflow
from userstream.stack._airflow_env import airflow_home, keys_file, passwords_file


@contextlib.contextmanager
def own_airflow(stack: Settings, name: str, **env: str) -> Iterator[airflow.AirflowInfo]:
    """An Airflow named ``name``-<random> (``env`` adds ``USERSTREAM_*`` variables), up and
    healthy, the process's environment naming it meanwhile (``load_settings()`` returns its
    settings, and commands started then inherit them); everything it made is removed at the
    end, its logs excepted."""
    suffix = uuid.uuid4().hex[:8]
    (port,) = free_ports(1)
    variables = {
        "USERSTREAM_STATE_DIR": str(stack.paths.root),
        "USERSTREAM_AIRFLOW__INSTANCE": f"{name}-{suffix}",
        "USERSTREAM_AIRFLOW__PORT": str(port),
        "USERSTREAM_AIRFLOW__SCHEDULE": "none",
        "USERSTREAM_KAFKA__TOPIC": f"it_{name.replace('-', '_')}_{suffix}",
        "USERSTREAM_CASSANDRA__KEYSPACE": f"it_{name.replace('-', '_')}_{suffix}",
        "USERSTREAM_SPARK__JOB_NAME": f"stream-it-{name}-{suffix}",
        **env,
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in variables.items():
            mp.setenv(key, value)
        settings = load_settings()
        try:
            yield airflow.up(settings, timeout=300)
        finally:
            _teardown(settings)


def _teardown(settings: Settings) -> None:
    from userstream.kafka.topics import admin_client
    from userstream.store import session
    from userstream.streaming import control

    airflow.down(settings)
    control.stop(settings)
    with session(settings) as cql:
        cql.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra.keyspace}")
    admin = admin_client(settings.kafka)
    topics = [settings.kafka.topic, settings.kafka.dlq_topic]
    for future in admin.delete_topics(topics, operation_timeout=30).values():
        with contextlib.suppress(Exception):  # never created when the run failed early
            future.result()
    # Logs stay for a post-mortem; the instance's home, password, keys and checkpoint go.
    shutil.rmtree(airflow_home(settings), ignore_errors=True)
    shutil.rmtree(settings.checkpoint_dir(), ignore_errors=True)
    passwords_file(settings).unlink(missing_ok=True)
    keys_file(settings).unlink(missing_ok=True)
