"""A real Airflow running the real streaming_pipeline DAG against real Kafka, Spark, Cassandra.

The test brings up its own Airflow instance (own home, processes, passwords file and a free
port) in the shared state folder, with its own topic, keyspace and stream, so a running
pipeline is never touched. Slow (a Spark start and a few DAG runs): kept to a handful.

How a failing quality check is produced honestly: after a successful run, one stored row
of that run's batch is overwritten with an invalid email (what a buggy writer or a manual
edit would do), and only ``quality_checks`` of the same run is cleared and re-run. The
task reads the batch's stored rows again and must fail naming the check and the row.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest_airflow import own_airflow
from userstream.config import Settings, load_settings
from userstream.stack import airflow, airflow_credentials, airflow_runs
from userstream.stack._airflow_api import AuthRefused, fetch_token
from userstream.stack._airflow_env import airflow_home

pytestmark = pytest.mark.integration

BATCH = 200
DAG = "streaming_pipeline"


def _pids_with_env(needle: str) -> list[int]:
    """Pids of live processes whose environment contains ``needle``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle.encode() in (entry / "environ").read_bytes().split(b"\0"):
                stat = (entry / "stat").read_text()
                if stat.rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.fixture(scope="module")
def af(stack: Settings) -> Iterator[Settings]:
    """Settings of this module's own Airflow instance, up and healthy; torn down at the end."""
    with own_airflow(stack, "airflow-it") as info:
        assert info.password_created
        yield load_settings()


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "userstream", "airflow", *args],
        capture_output=True,
        text=True,
        timeout=1200,
        env=dict(os.environ),
        check=False,
    )


def test_default_password_is_refused_and_the_generated_one_works(af: Settings) -> None:
    url = f"http://{af.airflow.host}:{af.airflow.port}"
    with pytest.raises(AuthRefused):
        fetch_token(url, "admin", "admin")
    creds = airflow_credentials.credentials(af)
    assert creds.file.stat().st_mode & 0o777 == 0o600
    assert fetch_token(url, creds.username, creds.password)
    # The password never reaches a log of ours or of Airflow.
    for log in af.paths.logs.glob(f"{af.airflow.instance}-*.log"):
        assert creds.password not in log.read_text(errors="replace"), log


def test_up_again_starts_nothing(af: Settings) -> None:
    info = airflow.up(af, timeout=120)
    assert info.started == []
    assert not info.password_created
    assert all(state.pid for state in airflow.status(af))


@pytest.fixture(scope="module")
def good_run(af: Settings) -> str:
    """One successful run of the pipeline with a small local batch; its run id."""
    conf = json.dumps({"batch_size": BATCH, "source": "local"})
    result = _cli(af, "run-dag", DAG, "--conf", conf, "--timeout", "900")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "succeeded" in result.stdout
    report = json.loads((af.paths.results / "quality.json").read_text())
    assert report["passed"] is True
    return str(report["run_id"])


def test_a_run_lands_the_batch_in_cassandra(af: Settings, good_run: str) -> None:
    from userstream.store import session

    with session(af, keyspace=af.cassandra.keyspace) as cql:
        stored = cql.execute("SELECT count(*) FROM user_profiles").one()[0]
        rejected = cql.execute("SELECT count(*) FROM user_profiles_rejects").one()[0]
    # The keyspace is this test's own: everything in it came from this one batch.
    assert stored + rejected == BATCH
    assert stored > 0
    client = airflow_runs.api(af)
    states = {t["task_id"]: t["state"] for t in client.task_instances(DAG, good_run)}
    assert set(states.values()) == {"success"}, states


def test_a_runs_message_list_is_kept_out_of_the_database(af: Settings, good_run: str) -> None:
    """Small XComs: the database holds a reference; the batch's messages are in a file."""
    import sqlite3

    home = airflow_home(af)
    with contextlib.closing(sqlite3.connect(home / "airflow.db")) as db:
        (value,) = db.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = ?",
            (DAG, good_run, "produce_batch", "return_value"),
        ).fetchone()
    text = value.decode() if isinstance(value, bytes) else str(value)
    assert len(text) < 500 and str(home / "xcom") in text, text[:500]
    files = [p for p in (home / "xcom").rglob("*") if p.is_file() and p.name in text]
    assert len(files) == 1, text
    assert files[0].suffix == ".gz"  # compressed: a list of random uuids takes ~half
    messages = json.loads(gzip.decompress(files[0].read_bytes()))["messages"]
    assert len(messages) == BATCH
    # Nor is the list written into the logs ("Done. Returned value was: …"): the task's own
    # and the scheduler's (its LocalExecutor's tasks write there too).
    runs = home / "logs" / f"dag_id={DAG}" / f"run_id={good_run}"
    task_logs = sorted((runs / "task_id=produce_batch").glob("*"))
    scheduler_log = af.paths.log_file(airflow.process_name(af.airflow, "scheduler"))
    assert task_logs and scheduler_log.is_file()
    for log_file in [*task_logs, scheduler_log]:
        said = log_file.read_text(errors="replace")
        assert not [key for key, _, _ in messages if key in said], log_file


def test_a_landed_batch_updates_the_user_profiles_asset(af: Settings, good_run: str) -> None:
    events = airflow_runs.api(af).get("/assets/events", source_dag_id=DAG, source_run_id=good_run)
    landed = [e for e in events["asset_events"] if e.get("source_task_id") == "verify_landed"]
    assert len(landed) == 1, events
    assert landed[0]["uri"].endswith(f"/{af.cassandra.keyspace}/user_profiles")


def test_a_failed_quality_check_fails_the_run_with_its_reason(af: Settings, good_run: str) -> None:
    from userstream.store import session

    with session(af, keyspace=af.cassandra.keyspace) as cql:
        victim = cql.execute("SELECT id FROM user_profiles LIMIT 1").one()[0]
        update = cql.prepare("UPDATE user_profiles SET email = ? WHERE id = ?")
        cql.execute(update, ("not-an-email", victim))
    client = airflow_runs.api(af)
    client.clear_tasks(DAG, good_run, ["quality_checks"])
    result = airflow_runs.wait_for_run(client, DAG, good_run, timeout=600)
    assert result.state == "failed"
    assert result.failed_task == "quality_checks"
    assert result.failure is not None
    assert "valid_emails" in result.failure and str(victim) in result.failure
    # Terminal: no retries of a check that would fail the same way again.
    quality = next(t for t in result.tasks if t.task_id == "quality_checks")
    assert quality.try_number == 2  # the first (passed) try and the cleared one, no retry
    report = json.loads((af.paths.results / "quality.json").read_text())
    assert report["run_id"] == good_run and report["passed"] is False
    failed = {c["name"] for c in report["checks"] if not c["passed"]}
    assert failed == {"valid_emails"}


def test_run_dag_exits_non_zero_and_names_the_failing_task(af: Settings, good_run: str) -> None:
    conf = json.dumps({"batch_size": 10, "source": "no-such-source"})
    result = _cli(af, "run-dag", DAG, "--conf", conf, "--timeout", "600")
    assert result.returncode == 1, result.stdout + result.stderr
    stderr = " ".join(result.stderr.split())  # the console wraps long sentences
    assert "failing task: produce_batch" in stderr
    assert "Unknown source 'no-such-source'" in stderr
    assert "upstream_failed" in result.stdout  # the table shows what did not run
    # The failure callback said in the task's log what failed and where to look.
    client = airflow_runs.api(af)
    run = client.get(f"/dags/{DAG}/dagRuns", order_by="-run_after", limit=1)["dag_runs"][0]
    produce = next(t for t in client.task_instances(DAG, run["dag_run_id"])
                   if t["task_id"] == "produce_batch")  # fmt: skip
    events = client.task_log(DAG, run["dag_run_id"], "produce_batch", produce["try_number"])
    said = json.dumps(events)
    assert "task_failed" in said and "no-such-source" in said, said[-2000:]


def test_run_dag_of_an_unknown_dag_says_which_exist(af: Settings) -> None:
    result = _cli(af, "run-dag", "no_such_dag")
    assert result.returncode == 1
    stderr = " ".join(result.stderr.split())
    assert "no_such_dag" in stderr and DAG in stderr


def test_maintenance_deletes_history_past_the_retention_and_keeps_the_rest(
    af: Settings, good_run: str
) -> None:
    """Task logs and XCom files older than the retention (7 days) go by the maintenance DAG,
    event-log rows by the housekeeper's ``airflow db clean``; the good run's own logs, files
    and rows stay."""
    import sqlite3
    import time

    from userstream.stack import housekeeper

    home = airflow_home(af)
    month_ago = time.time() - 30 * 86400
    planted = []
    for folder in (home / "logs" / "dag_id=old" / "run_id=old", home / "xcom" / "old_run"):
        folder.mkdir(parents=True, exist_ok=True)
        old = folder / "attempt=1.log"
        old.write_text("from a month ago")
        os.utime(old, (month_ago, month_ago))
        planted.append(old)
    kept_logs = sorted((home / "logs").rglob(f"run_id={good_run}/**/*.log"))
    kept_xcom = sorted(p for p in (home / "xcom").rglob("*") if p.is_file() and p not in planted)
    assert kept_logs and kept_xcom
    with contextlib.closing(sqlite3.connect(home / "airflow.db")) as db, db:
        db.execute("INSERT INTO log (dttm, event, extra) VALUES "
                   "(datetime('now', '-30 days'), 'planted', 'maintenance-test')")  # fmt: skip

    result = _cli(af, "run-dag", "userstream_maintenance", "--timeout", "600")
    said = housekeeper.clean_airflow(af)

    assert result.returncode == 0, result.stdout + result.stderr
    assert said is not None
    assert not any(p.exists() for p in planted)
    assert not (home / "logs" / "dag_id=old").exists()
    assert all(p.exists() for p in kept_logs + kept_xcom)
    with contextlib.closing(sqlite3.connect(home / "airflow.db")) as db:
        left = db.execute("SELECT count(*) FROM log WHERE extra = 'maintenance-test'").fetchone()
        runs = db.execute("SELECT count(*) FROM dag_run WHERE run_id = ?", (good_run,)).fetchone()
    assert left == (0,)
    assert runs == (1,)


@pytest.mark.faults
def test_a_run_cut_short_by_a_stop_does_not_hold_back_the_next(af: Settings) -> None:
    # Airflow stopped while a run runs (`down`, a crash): started again, the run is still
    # "running" in its database with no process behind it, and the DAG's one active run slot
    # with it, until Airflow's own heartbeat timeout (5 minutes). `up` ends it at once.
    client = airflow_runs.api(af)
    client.set_paused(DAG, False)
    conf = {"batch_size": BATCH, "source": "local"}
    cut = str(client.trigger(DAG, conf)["dag_run_id"])
    wait = time.monotonic() + 300
    while client.run(DAG, cut)["state"] != "running" and time.monotonic() < wait:
        time.sleep(1)
    assert client.run(DAG, cut)["state"] == "running"
    airflow.down(af)
    assert "scheduler" in airflow.up(af, timeout=300).started
    client = airflow_runs.api(af)
    assert client.run(DAG, cut)["state"] == "running"  # what Airflow believes
    assert (DAG, cut) in airflow_runs.fail_interrupted(client)
    ended = client.run(DAG, cut)
    assert ended["state"] == "failed" and ended["note"] == airflow_runs.INTERRUPTED_NOTE
    assert airflow_runs.fail_interrupted(client) == []  # nothing else was running
    # The next run is not queued behind it: it runs to its end.
    nxt = str(client.trigger(DAG, conf)["dag_run_id"])
    result = airflow_runs.wait_for_run(client, DAG, nxt, timeout=600)
    assert result.state == "success", result
    client.set_paused(DAG, True)


def test_down_leaves_no_airflow_process(af: Settings) -> None:
    from userstream.streaming import control

    # The stream was started by a task, so it inherited Airflow's environment: stop it first.
    control.stop(af)
    home = airflow_home(af)
    assert _pids_with_env(f"AIRFLOW_HOME={home}"), "the probe must see Airflow while it runs"
    stopped = airflow.down(af)
    assert set(stopped) == set(airflow.COMPONENTS)
    assert _pids_with_env(f"AIRFLOW_HOME={home}") == []
    assert all(state.pid is None for state in airflow.status(af))
