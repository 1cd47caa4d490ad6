"""The DAG folder imports cleanly and its DAGs are shaped as designed (no services needed)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

DAGS = Path(__file__).resolve().parents[3] / "airflow" / "dags"
PIPELINE_ORDER = [
    "prepare_services",
    "ensure_stream",
    "produce_batch",
    "verify_landed",
    "quality_checks",
]


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory: pytest.TempPathFactory) -> Any:
    # Airflow reads AIRFLOW_HOME when first imported; keep it out of the user's ~/airflow.
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_dag_folder_imports_without_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert {"streaming_pipeline", "stop_stream", "userstream_maintenance"} <= set(dagbag.dag_ids)


def test_pipeline_tasks_run_in_the_designed_order(dagbag: Any) -> None:
    dag = dagbag.dags["streaming_pipeline"]
    assert sorted(dag.task_ids) == sorted(PIPELINE_ORDER)
    upstream = {t.task_id: set(t.upstream_task_ids) for t in dag.tasks}
    assert upstream == {
        # One task: each costs Airflow seconds to start, and the first users wait for it.
        "prepare_services": set(),
        # Side by side: producing needs the topics, not the stream (which reads from the
        # earliest offset), so the first users do not wait for a task to start.
        "ensure_stream": {"prepare_services"},
        "produce_batch": {"prepare_services"},
        # Landing needs both; quality_checks reads the batch (XCom) after landing.
        "verify_landed": {"ensure_stream", "produce_batch"},
        "quality_checks": {"produce_batch", "verify_landed"},
    }


def test_pipeline_is_safe_to_schedule(dagbag: Any) -> None:
    dag = dagbag.dags["streaming_pipeline"]
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert set(dag.params) >= {"batch_size", "source"}


ALL_DAGS = ["streaming_pipeline", "stop_stream", "userstream_maintenance"]


@pytest.mark.parametrize("dag_id", ALL_DAGS)
def test_every_task_retries_with_backoff_and_has_a_timeout(dagbag: Any, dag_id: str) -> None:
    for task in dagbag.dags[dag_id].tasks:
        assert task.retries >= 1, task.task_id
        assert task.retry_exponential_backoff, task.task_id
        assert task.execution_timeout is not None, task.task_id
        assert timedelta(0) < task.execution_timeout <= timedelta(minutes=15), task.task_id


def test_ensure_stream_outlasts_the_stream_start_it_waits_for(dagbag: Any) -> None:
    from userstream.orchestration import tasks as steps
    from userstream.streaming import control

    task = dagbag.dags["streaming_pipeline"].get_task("ensure_stream")
    start_wait = steps.ENSURE_STREAM_START_TIMEOUT_S
    # The start gives up (and kills the driver) well before Airflow kills the task.
    assert start_wait <= control.START_TIMEOUT_S
    assert task.execution_timeout >= timedelta(seconds=start_wait + 60)


def test_stop_stream_is_manual_only(dagbag: Any) -> None:
    dag = dagbag.dags["stop_stream"]
    assert dag.timetable.can_be_scheduled is False
    assert dag.task_ids == ["stop"]


def test_maintenance_runs_hourly_unpaused_and_one_at_a_time(dagbag: Any) -> None:
    dag = dagbag.dags["userstream_maintenance"]
    assert dag.timetable.can_be_scheduled
    assert dag.timetable.expression == "0 * * * *"
    assert dag.is_paused_upon_creation is False
    assert (dag.catchup, dag.max_active_runs) == (False, 1)
    assert sorted(dag.task_ids) == ["prune_task_logs", "prune_xcom_files"]


# --- the environment the DAGs run in (userstream.stack.airflow) ----------------------------


def test_airflow_env_is_local_small_and_passes_settings_through(tmp_path: Path) -> None:
    from pydantic import SecretStr

    from userstream.config import load_settings
    from userstream.stack._airflow_env import airflow_env

    settings = load_settings(state_dir=tmp_path)
    settings.kafka.topic = "t_unit"
    settings.cassandra.password = SecretStr("s3cret")
    env = airflow_env(settings)
    assert env["AIRFLOW_HOME"] == str(tmp_path / "airflow")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__SCHEDULER__CATCHUP_BY_DEFAULT"] == "False"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith(f"sqlite:///{tmp_path}")
    assert Path(env["AIRFLOW__CORE__DAGS_FOLDER"]) == DAGS
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"].startswith(
        str(tmp_path / "secrets")
    )
    assert env["USERSTREAM_STATE_DIR"] == str(tmp_path)
    assert env["USERSTREAM_KAFKA__TOPIC"] == "t_unit"
    assert "s3cret" not in "".join(env.values())


def _airflow_prints(probe: str, env: dict[str, str]) -> str:
    """The last line ``probe`` prints, run by Python in a process of its own with ``env``
    (as Airflow's processes get it)."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", probe], env={**os.environ, **env}, capture_output=True,
        text=True, timeout=120, check=True,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


def test_airflow_reads_its_xcom_and_statsd_settings_from_the_env_we_give_it(
    tmp_path: Path,
) -> None:
    # Read back by Airflow's own config in a process of its own, as a task would: an env
    # name Airflow does not map to its option is silently ignored.
    import json

    from userstream.config import load_settings
    from userstream.stack._airflow_env import airflow_env

    env = airflow_env(load_settings(state_dir=tmp_path))
    probe = (
        "import json\n"
        "from airflow.sdk.configuration import conf\n"
        "from airflow.sdk.execution_time.xcom import XCom\n"
        "big = {'messages': [['k', 0, i] for i in range(500)]}\n"
        "ref = XCom.serialize_value(big, key='return_value', dag_id='d', task_id='t',"
        " run_id='r', map_index=-1)\n"
        "print(json.dumps([str(ref), conf.getboolean('metrics', 'statsd_on'),"
        " conf.getint('metrics', 'statsd_port')]))\n"
    )
    ref, statsd_on, statsd_port = json.loads(_airflow_prints(probe, env))
    assert ref.startswith(f"file://{tmp_path / 'airflow' / 'xcom'}/d/r/t/"), ref
    assert (statsd_on, statsd_port) == (True, 9125)


def test_admin_password_is_generated_once_and_private(tmp_path: Path) -> None:
    from userstream.config import load_settings
    from userstream.stack.airflow_credentials import credentials, ensure_credentials

    settings = load_settings(state_dir=tmp_path)
    first, created = ensure_credentials(settings)
    again, created_again = ensure_credentials(settings)
    assert created and not created_again
    assert first == again == credentials(settings)
    assert first.password not in ("admin", "") and len(first.password) >= 16
    assert first.file.stat().st_mode & 0o777 == 0o600


def test_failure_lines_come_from_the_exception_of_the_task_log() -> None:
    from userstream.stack.airflow_runs import failure_lines

    events = [
        {"event": "starting", "level": "info"},
        {
            "event": "Task failed with exception",
            "level": "error",
            "error_detail": [{"exc_type": "AirflowFailException", "exc_value": "3 of 9 missing"}],
        },
    ]
    assert failure_lines(events) == ["AirflowFailException: 3 of 9 missing"]


def test_seed_is_derived_from_the_run() -> None:
    from userstream.orchestration.tasks import seed_for_run

    assert seed_for_run("manual__1") == seed_for_run("manual__1") != seed_for_run("manual__2")


# --- the Airflow way: sensors, assets, callbacks ------------------------------------------


def test_verify_landed_gives_its_slot_back_between_looks(dagbag: Any) -> None:
    from userstream.orchestration import tasks as steps

    task = dagbag.dags["streaming_pipeline"].get_task("verify_landed")
    assert task.mode == "reschedule"
    assert task.poke_interval == steps.POKE_S
    # One look holds the slot for LOOK_S at most, well inside the task's timeout.
    assert task.execution_timeout >= timedelta(seconds=steps.LOOK_S + 60)
    [asset] = task.outlets
    assert asset.name == "userstream.user_profiles"
    assert asset.uri.startswith("cassandra://") and asset.uri.endswith("/user_profiles")


@pytest.mark.parametrize("dag_id", ALL_DAGS)
def test_every_task_says_why_it_failed(dagbag: Any, dag_id: str) -> None:
    from userstream.orchestration import tasks as steps

    for task in dagbag.dags[dag_id].tasks:
        assert steps.on_task_failure in (task.on_failure_callback or []), task.task_id


def test_the_failure_callback_names_the_task_the_run_the_error_and_where_to_look(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from types import SimpleNamespace

    from userstream.orchestration import tasks as steps

    ti = SimpleNamespace(dag_id="streaming_pipeline", task_id="verify_landed", try_number=2,
                         log_url="http://127.0.0.1:8080/log")  # fmt: skip
    context = {
        "ti": ti,
        "dag_run": SimpleNamespace(run_id="manual__1"),
        "exception": RuntimeError("3 of 200 users missing"),
    }
    with caplog.at_level("ERROR", logger="userstream.orchestration.tasks"):
        steps.on_task_failure(context)
    [record] = caplog.records
    line = record.getMessage()
    for part in ("task=verify_landed", "run=manual__1", "try=2", "3 of 200 users missing",
                 "http://127.0.0.1:8080/log", "userstream stream status"):  # fmt: skip
        assert part in line, line


def test_ensure_stream_starts_nothing_where_a_service_manager_owns_the_stream(
    tmp_path: Path,
) -> None:
    # No stream runs in this state folder, and Airflow is told not to start one: the task
    # fails (it is retried, then the run fails and alerts) and nothing is started.
    from userstream.config import load_settings
    from userstream.orchestration import tasks
    from userstream.streaming import control

    settings = load_settings(state_dir=tmp_path, airflow={"starts_stream": False})
    with pytest.raises(tasks.StreamNotRunning, match="no driver process") as failed:
        tasks.ensure_stream(settings)
    assert "stream supervise" in str(failed.value.hint)
    assert control.running(settings) is None
    assert not settings.paths.run.exists() or not list(settings.paths.run.glob("*.pid"))
    # Nor does its stop_stream DAG touch a stream it does not own (its pid file included).
    with pytest.raises(tasks.TerminalError, match="does not own the stream"):
        tasks.stop_stream(settings)


def test_ensure_stream_asks_the_driver_where_it_does_not_share_its_state_folder(
    tmp_path: Path,
) -> None:
    # On Kubernetes Airflow reads the driver's /progress; a driver that does not answer is
    # a stream with no driver, and the run fails as it does without the progress file.
    from userstream.config import load_settings
    from userstream.host.net import free_ports
    from userstream.orchestration import tasks

    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}/progress"
    settings = load_settings(
        state_dir=tmp_path, airflow={"starts_stream": False}, spark={"progress_url": url}
    )
    with pytest.raises(tasks.StreamNotRunning, match="no driver process"):
        tasks.ensure_stream(settings)


def test_airflow_config_entries_reach_airflow_and_win_over_the_projects(tmp_path: Path) -> None:
    # USERSTREAM_AIRFLOW__CONFIG, read back by Airflow's own config in a process of its own:
    # a section with a dot (common.io) too, and an option the project sets itself.

    import pytest

    from userstream.config import load_settings
    from userstream.stack._airflow_env import airflow_env

    shared = f"file://{tmp_path / 'shared'}"
    config = {"common.io.xcom_objectstorage_path": shared, "core.parallelism": "9"}
    env = airflow_env(load_settings(state_dir=tmp_path, airflow={"config": config}))
    probe = (
        "from airflow.sdk.configuration import conf\n"
        "print(conf.get('common.io', 'xcom_objectstorage_path'),"
        " conf.getint('core', 'parallelism'))\n"
    )
    assert _airflow_prints(probe, env).split() == [shared, "9"]
    from userstream.settings_errors import SettingsInvalid

    for bad in ({"executor": "LocalExecutor"}, {"core..x": "1"}, {"cöre.x": "1"}, {"a.b": {}}):
        with pytest.raises(SettingsInvalid, match=r"section\.key|must be a string"):
            load_settings(state_dir=tmp_path, airflow={"config": bad})
    # Names as Airflow reads them (case-insensitive), values as text.
    given = {"Core.Parallelism": 9, "EDGE.push_logs": True}
    read = load_settings(state_dir=tmp_path, airflow={"config": given}).airflow.config
    assert read == {"core.parallelism": "9", "edge.push_logs": "True"}


def test_an_edge_worker_needs_the_edge_executor_and_gets_a_home_of_its_own(
    tmp_path: Path,
) -> None:
    import pytest

    from userstream.config import load_settings
    from userstream.errors import ConfigError
    from userstream.stack import airflow

    with pytest.raises(ConfigError, match="not the Edge executor") as refused:
        airflow.edge_worker(load_settings(state_dir=tmp_path), "w1", 2)
    assert "USERSTREAM_AIRFLOW__CONFIG" in str(refused.value.hint)
    # Beside another executor too; the worker needs the keys Airflow's API server signs with.
    edge = {"core.executor": f"LocalExecutor,{airflow.EDGE_EXECUTOR}"}
    settings = load_settings(state_dir=tmp_path, airflow={"config": edge})
    with pytest.raises(ConfigError, match=r"keys file .* is missing"):
        airflow.edge_worker(settings, "w1", 2)
    airflow.ensure_keys(settings)
    cmd, env = airflow.edge_worker(settings, "w1", 2)
    assert cmd[-6:] == ["edge", "worker", "--edge-hostname", "w1", "--concurrency", "2"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == edge["core.executor"]
    assert env["AIRFLOW_HOME"] == str(tmp_path / "airflow" / "edge-w1")
    # The API server serves the workers at its own address.
    assert env["AIRFLOW__EDGE__API_ENABLED"] == "True"
    assert env["AIRFLOW__EDGE__API_URL"] == "http://127.0.0.1:8080/edge_worker/v1/rpcapi"
    assert (tmp_path / "airflow" / "edge-w1").is_dir()
