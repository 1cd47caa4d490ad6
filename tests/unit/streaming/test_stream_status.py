"""`stream status [--json]`, `control.report` and `control.kill_driver` against a supervised
stream played by two sleeping processes (a "supervisor" and its "driver") and their files."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from userstream.cli import _stream
from userstream.config import Settings
from userstream.files import write_json
from userstream.host import process
from userstream.status import _stream_part
from userstream.streaming import control, driver_settings, progress_file, supervisor
from userstream.streaming.health import iso


@dataclass
class Fake:
    settings: Settings
    supervisor: int
    driver: int


def _sleeper(marker: str) -> subprocess.Popen[bytes]:
    # The marker in the command line is what makes it pass for the real thing.
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", marker], start_new_session=True
    )


def _ago(seconds: float) -> str:
    return iso(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)) or ""


def _write_progress(settings: Settings, driver: int, **changes: Any) -> None:
    state = {
        "pid": driver,
        "state": "running",
        "state_since": _ago(600),
        "totals": {"batches": 9, "stored": 880, "rejected": 2},
        "restarts": 0,
        "error": None,
        "last_batch": {"batch_id": 8, "completed_at": _ago(2), "end_offsets": {}},
        **changes,
    }
    progress_file.write(settings, state)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fake]:
    monkeypatch.setenv("USERSTREAM_STATE_DIR", str(tmp_path))
    settings = Settings(state_dir=tmp_path)
    sup, drv = _sleeper(supervisor.MODULE), _sleeper(supervisor.DRIVER_MODULE)
    try:
        settings.paths.run.mkdir(parents=True)
        settings.paths.pid_file(settings.spark.job_name).write_text(
            f"{sup.pid}\n{supervisor.MODULE}\n"
        )
        write_json(
            supervisor.state_file(settings),
            {
                "pid": sup.pid,
                "state": "running",
                "driver_pid": drv.pid,
                "driver_started_at": _ago(300),
                "restarts": 2,
                "last_exit": {"code": None, "signal": "SIGKILL", "at": _ago(301)},
            },
        )
        _write_progress(settings, drv.pid)
        monkeypatch.setattr(control, "lag", lambda s, state=None: {0: 0, 1: 5})
        yield Fake(settings, sup.pid, drv.pid)
    finally:
        for child in (sup, drv):
            child.kill()
            child.wait()


def _cli(*args: str) -> Any:
    app = typer.Typer()
    _stream.register(app)
    return CliRunner().invoke(app, ["stream", "status", *args])


def test_status_json_is_one_object_with_health_pids_lag_and_restarts(fake: Fake):
    result = _cli("--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["running"] is True
    assert report["pid"] == fake.driver
    assert report["supervisor_pid"] == fake.supervisor
    assert report["state"] == "running"
    assert report["healthy"] is True and report["reason"] is None
    assert report["since"]
    assert report["last_batch"]["batch_id"] == 8
    assert report["totals"]["stored"] == 880
    assert report["lag"] == {"0": 0, "1": 5}
    assert report["restarts"] == 2


def test_a_stream_retrying_for_half_an_hour_shows_unhealthy_with_why_and_since(fake: Fake):
    since = _ago(1800)
    _write_progress(
        fake.settings, fake.driver, state="retrying", retrying_since=since, error="NoHostAvailable"
    )
    report = json.loads(_cli("--json").output)
    assert report["healthy"] is False
    assert "NoHostAvailable" in report["reason"]
    assert report["since"] == since
    table = _cli()
    assert "unhealthy" in table.output and "retrying" in table.output
    part = _stream_part(fake.settings, report)
    assert not part.healthy
    assert part.pid == fake.driver
    assert "retrying" in part.detail
    assert part.address == fake.settings.spark.master
    # The running driver's own master, when it was started on another one (`up --cluster`).
    on_cluster = fake.settings.model_copy(
        update={"spark": fake.settings.spark.model_copy(update={"master": "spark://h:7077"})}
    )
    driver_settings.dump_settings(on_cluster)
    assert _stream_part(fake.settings, report).address == "spark://h:7077"
    assert _stream_part(fake.settings, {**report, "pid": None}).address == "local[2]"


def test_kill_driver_kills_the_driver_only_and_status_says_no_driver(fake: Fake):
    assert control.driver_pid(fake.settings) == fake.driver
    assert control.kill_driver(fake.settings) == fake.driver
    assert not process.alive(fake.driver)
    assert process.alive(fake.supervisor)
    report = control.report(fake.settings, progress_file.read(fake.settings), None)
    assert report["running"] is True and report["pid"] is None
    assert report["healthy"] is False
    assert report["reason"].startswith("no driver process")
    assert control.kill_driver(fake.settings) is None


def test_a_foreground_run_is_its_own_driver_and_has_no_supervisor(fake: Fake):
    name = fake.settings.spark.job_name
    fake.settings.paths.pid_file(name).write_text(f"{fake.driver}\n{supervisor.DRIVER_MODULE}\n")
    report = control.report(fake.settings, progress_file.read(fake.settings), {0: 0})
    assert report["pid"] == fake.driver
    assert report["supervisor_pid"] is None
    assert report["restarts"] == 0
    assert report["healthy"] is True


def test_status_of_a_stream_that_never_ran_exits_1_in_json_too(tmp_path, monkeypatch):
    monkeypatch.setenv("USERSTREAM_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(control, "lag", lambda s, state=None: None)
    result = _cli("--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["running"] is False and report["healthy"] is False
    assert report["pid"] is None and report["lag"] is None


def test_a_driver_pid_is_trusted_only_with_the_start_time_the_supervisor_recorded(fake: Fake):
    state = supervisor.read_state(fake.settings) or {}
    # Recorded with another start time: a process that reused the driver's pid.
    ticks, boot = str(process.identity(fake.driver)).split()
    write_json(
        supervisor.state_file(fake.settings), {**state, "driver_identity": f"{ticks}0 {boot}"}
    )
    assert control.driver_pid(fake.settings) is None
    assert control.kill_driver(fake.settings) is None
    assert process.alive(fake.driver)
    # Recorded with its own: the driver.
    identity = process.identity(fake.driver)
    write_json(supervisor.state_file(fake.settings), {**state, "driver_identity": identity})
    assert control.driver_pid(fake.settings) == fake.driver


def test_a_driver_elsewhere_is_judged_by_the_heartbeat_it_serves(tmp_path: Path) -> None:
    # Kubernetes: no process or file of the driver here; its /progress is all there is.
    from userstream.streaming.metrics import StreamMetrics

    state: dict[str, Any] = {"pid": 77, "state": "running", "state_since": _ago(600)}
    url = StreamMetrics("user_topic", 2).serve(0, progress=lambda: state)
    assert url is not None
    settings = Settings(
        state_dir=tmp_path, spark={"progress_url": url.replace("metrics", "progress")}
    )
    state["updated_at"] = _ago(2)
    report = control.report(settings, control.last_progress(settings), None)
    assert report["healthy"] and report["pid"] == 77, report
    state["updated_at"] = _ago(600)  # a driver that stopped writing
    report = control.report(settings, control.last_progress(settings), None)
    assert not report["healthy"] and report["reason"].startswith("no driver process"), report
    # Without the URL, a progress file nobody's process stands behind is not a driver.
    local = Settings(state_dir=tmp_path)
    assert not control.report(local, {**state, "updated_at": _ago(2)}, None)["healthy"]
