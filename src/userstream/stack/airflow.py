"""The local Airflow: api-server, scheduler and dag-processor as supervised processes.

``up`` is idempotent and bounded: it generates the admin password once (kept in
``<state>/secrets/airflow-passwords.json``, mode 0600, never logged) and Airflow's own
secrets (``_airflow_env.ensure_keys``), migrates the SQLite metadata database, starts
whatever component is not running, then waits for the API's health endpoint and for the
DAGs folder to be parsed; it holds the instance's component lock meanwhile, so two ``up``
never start two. ``down`` stops the components gracefully (SIGTERM, then SIGKILL after a
bound). ``run_dag`` triggers a DAG through the REST API and waits for the run.

No triggerer is started: the project's DAGs have no deferrable tasks, and on a 2-core
machine every idle process counts.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from userstream.config import Settings
from userstream.errors import ConfigError, TerminalError, TransientError, UserstreamError
from userstream.host import process
from userstream.host.locks import component_lock
from userstream.host.state import PRIVATE_UMASK, secrets_dir, write_secret_json
from userstream.stack._airflow_api import TERMINAL_RUN_STATES, AirflowApi, health
from userstream.stack._airflow_env import (
    airflow_env,
    airflow_home,
    dags_folder,
    ensure_keys,
    passwords_file,
    process_name,
)
from userstream.stack._airflow_env import (
    base_url as base_url,
)
from userstream.stack._ports import require_free

log = logging.getLogger(__name__)

#: Started in this order, stopped in the reverse one.
COMPONENTS: tuple[str, ...] = ("api-server", "scheduler", "dag-processor")
#: The scheduler's log server binds every interface and has no setting for it; task logs
#: are on this machine's disk anyway, where the API server reads them.
EXTRA_ARGS: dict[str, tuple[str, ...]] = {"scheduler": ("--skip-serve-logs",)}
#: Health-endpoint entries that must say "healthy" before ``up`` returns.
HEALTH_KEYS: tuple[str, ...] = ("metadatabase", "scheduler", "dag_processor")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    file: Path


@dataclass(frozen=True)
class AirflowInfo:
    url: str
    username: str
    password_file: Path
    password_created: bool
    started: list[str]


@dataclass(frozen=True)
class ComponentState:
    name: str
    pid: int | None
    log: Path
    health: str | None


@dataclass(frozen=True)
class TaskOutcome:
    task_id: str
    state: str | None
    try_number: int
    duration_s: float | None


@dataclass(frozen=True)
class RunResult:
    dag_id: str
    run_id: str
    state: str
    tasks: list[TaskOutcome]
    failed_task: str | None = None
    failure: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.state == "success"


# --- credentials ---------------------------------------------------------------------------


def ensure_credentials(settings: Settings) -> tuple[Credentials, bool]:
    """The admin's credentials, generated on first call. True when created just now."""
    path = passwords_file(settings)
    user = settings.airflow.admin_user
    created = False
    passwords: dict[str, str] = {}
    if path.exists():
        passwords = _read_passwords(path)
    if user not in passwords:
        secrets_dir(settings.paths)
        passwords[user] = secrets.token_urlsafe(18)
        # Atomic and 0600 from its first byte: a crash never leaves an empty or partial file
        # (which would silently lead to another password), nor a readable one.
        write_secret_json(path, passwords)
        created = True
    path.chmod(0o600)
    return Credentials(user, passwords[user], path), created


def _read_passwords(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"The Airflow passwords file {path} cannot be read: {exc}.",
            hint="Delete it and run `userstream airflow up` to generate a new password.",
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"The Airflow passwords file {path} is not a JSON object.")
    return {str(k): str(v) for k, v in data.items()}


def credentials(settings: Settings) -> Credentials:
    """The generated admin credentials; ``ConfigError`` before the first ``up``."""
    path = passwords_file(settings)
    user = settings.airflow.admin_user
    passwords = _read_passwords(path) if path.exists() else {}
    if user not in passwords:
        raise ConfigError(
            f"No Airflow password for {user!r} yet.", hint="Run `userstream airflow up` first."
        )
    return Credentials(user, passwords[user], path)


def api(settings: Settings) -> AirflowApi:
    """An authenticated REST client for the local Airflow."""
    creds = credentials(settings)
    return AirflowApi(base_url(settings), creds.username, creds.password)


# --- lifecycle -----------------------------------------------------------------------------


def _migrate(settings: Settings, env: dict[str, str], timeout: float) -> None:
    log_path = settings.paths.log_file("airflow-migrate")
    log_path.parent.mkdir(exist_ok=True, mode=0o700)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as out:
        try:
            result = subprocess.run(
                [sys.executable, "-m", "airflow", "db", "migrate"],
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
                umask=PRIVATE_UMASK,
            )
        except subprocess.TimeoutExpired as exc:
            raise TransientError(
                f"`airflow db migrate` did not finish in {timeout:.0f} s.", log=log_path
            ) from exc
    if result.returncode != 0:
        raise TerminalError(
            f"`airflow db migrate` failed (exit {result.returncode}): {process.tail(log_path, 3)}",
            log=log_path,
        )


def up(settings: Settings, *, timeout: float = 300.0) -> AirflowInfo:
    """Start what is not running and wait (≤ ``timeout`` s) until healthy with DAGs parsed.

    A second caller waits for the first one's start, then finds Airflow running.
    """
    with component_lock(settings.paths, settings.airflow.instance):
        return _up(settings, timeout)


def _up(settings: Settings, timeout: float) -> AirflowInfo:
    creds, created = ensure_credentials(settings)
    ensure_keys(settings)
    env = airflow_env(settings)
    airflow_home(settings).mkdir(exist_ok=True, mode=0o700)
    deadline = time.monotonic() + timeout
    missing = [
        c for c in COMPONENTS if process.running(settings.paths, process_name(settings, c)) is None
    ]
    if "api-server" in missing:
        require_free(
            "Airflow's API server",
            settings.airflow.host,
            [settings.airflow.port],
            "USERSTREAM_AIRFLOW__PORT",
        )
    if missing:
        _migrate(settings, env, timeout=max(30.0, deadline - time.monotonic()))
    for component in missing:
        proc = process.start(
            settings.paths,
            process_name(settings, component),
            [sys.executable, "-m", "airflow", component, *EXTRA_ARGS.get(component, ())],
            env=env,
            cwd=Path.cwd(),
        )
        log.info("started component=%s pid=%d log=%s", component, proc.pid, proc.log)
    try:
        _wait_healthy(settings, deadline)
        _wait_dags_parsed(
            settings, AirflowApi(base_url(settings), creds.username, creds.password), deadline
        )
    except UserstreamError:
        # Leave nothing half-started behind, but never stop what was running before.
        for component in reversed(missing):
            process.stop(settings.paths, process_name(settings, component))
        raise
    return AirflowInfo(base_url(settings), creds.username, creds.file, created, missing)


def _check_alive(settings: Settings) -> None:
    for component in COMPONENTS:
        name = process_name(settings, component)
        if process.running(settings.paths, name) is None:
            log_path = settings.paths.log_file(name)
            raise TerminalError(
                f"Airflow's {component} exited while starting: {process.tail(log_path, 3)}",
                log=log_path,
            )


def _wait_healthy(settings: Settings, deadline: float) -> None:
    url = base_url(settings)
    last: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        _check_alive(settings)
        last = health(url)
        if last is not None and all(_health_of(last, k) == "healthy" for k in HEALTH_KEYS):
            return
        time.sleep(2.0)
    raise TransientError(
        f"Airflow at {url} did not become healthy in time (last health: {last}).",
        log=settings.paths.log_file(process_name(settings, "api-server")),
    )


def _health_of(body: dict[str, Any], key: str) -> str | None:
    entry = body.get(key)
    return entry.get("status") if isinstance(entry, dict) else None


def _dag_files(folder: Path) -> set[str]:
    # Airflow's own safe-mode heuristic: a DAG file mentions both "airflow" and "dag".
    files = set()
    for path in folder.rglob("*.py"):
        text = path.read_text(errors="replace").lower()
        if "airflow" in text and "dag" in text:
            files.add(path.name)
    return files


def _wait_dags_parsed(settings: Settings, client: AirflowApi, deadline: float) -> None:
    expected = _dag_files(dags_folder(settings))
    seen: set[str] = set()
    while time.monotonic() < deadline:
        _check_alive(settings)
        errors = client.import_errors()
        mine = [e for e in errors if Path(str(e.get("filename", ""))).name in expected]
        if mine:
            first = mine[0]
            raise ConfigError(
                f"Airflow cannot import {first.get('filename')}: "
                f"{str(first.get('stack_trace', '')).strip().splitlines()[-1:]}",
                hint="Fix the DAG file; the dag-processor picks it up again by itself.",
            )
        seen = {Path(str(d.get("fileloc", ""))).name for d in client.dags()}
        if expected <= seen:
            return
        time.sleep(2.0)
    raise TransientError(
        f"Airflow did not parse the DAG files {sorted(expected - seen)} in time.",
        log=settings.paths.log_file(process_name(settings, "dag-processor")),
    )


def down(settings: Settings, *, timeout: float = 30.0) -> list[str]:
    """Stop every component (reverse start order); the names of those that were running."""
    stopped = []
    with component_lock(settings.paths, settings.airflow.instance):
        for component in reversed(COMPONENTS):
            if process.stop(settings.paths, process_name(settings, component), timeout=timeout):
                stopped.append(component)
    return stopped


def status(settings: Settings) -> list[ComponentState]:
    """Each component's pid (None when down) and what the health endpoint says of it."""
    body = health(base_url(settings)) or {}
    keys = {
        "api-server": "metadatabase",
        "scheduler": "scheduler",
        "dag-processor": "dag_processor",
    }
    states = []
    for component in COMPONENTS:
        name = process_name(settings, component)
        proc = process.running(settings.paths, name)
        states.append(
            ComponentState(
                component,
                proc.pid if proc else None,
                settings.paths.log_file(name),
                _health_of(body, keys[component]) if body else None,
            )
        )
    return states


# --- runs ----------------------------------------------------------------------------------


def _outcomes(client: AirflowApi, dag_id: str, run_id: str) -> list[TaskOutcome]:
    instances = client.task_instances(dag_id, run_id)
    instances.sort(key=lambda ti: (ti.get("start_date") or "~", ti.get("task_id", "")))
    return [
        TaskOutcome(
            task_id=str(ti.get("task_id")),
            state=ti.get("state"),
            try_number=int(ti.get("try_number") or 0),
            duration_s=ti.get("duration"),
        )
        for ti in instances
    ]


def failure_lines(events: list[Any], limit: int = 8) -> list[str]:
    """The lines of a task log that say why it failed: exceptions first, then error events."""
    lines: list[str] = []
    for event in events:
        if isinstance(event, dict):
            for exc in event.get("error_detail") or []:
                if isinstance(exc, dict):
                    lines.append(f"{exc.get('exc_type')}: {exc.get('exc_value')}")
            if not event.get("error_detail") and str(event.get("level", "")).lower() in (
                "error",
                "critical",
            ):
                lines.append(str(event.get("event", "")))
        elif isinstance(event, str) and ("Error" in event or "Exception" in event):
            lines.append(event.strip())
    return [line for line in lines if line][:limit]


def _queued_behind(client: AirflowApi, dag_id: str, run_id: str) -> str:
    """ "queued", and why when another run of the DAG holds its active-run slots."""
    try:
        runs = client.get(f"/dags/{dag_id}/dagRuns", state=["running"], limit=5)
    except UserstreamError:
        return "queued"
    holders = [r for r in (runs or {}).get("dag_runs", []) if r.get("dag_run_id") != run_id]
    if not holders:
        return "queued"
    first = holders[0]
    return (
        f"queued behind run {first.get('dag_run_id')}, running since {first.get('start_date')} "
        "(the DAG has as many runs active as its max_active_runs allows)"
    )


def wait_for_run(
    client: AirflowApi,
    dag_id: str,
    run_id: str,
    *,
    timeout: float,
    on_progress: Callable[[str, list[TaskOutcome]], None] | None = None,
    poll_s: float = 3.0,
) -> RunResult:
    """Poll a run until it succeeds or fails; ``TransientError`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        state = str(client.run(dag_id, run_id).get("state"))
        tasks = _outcomes(client, dag_id, run_id)
        if on_progress:
            on_progress(_queued_behind(client, dag_id, run_id) if state == "queued" else state,
                        tasks)  # fmt: skip
        if state in TERMINAL_RUN_STATES:
            break
        if time.monotonic() >= deadline:
            raise TransientError(
                f"DAG run {dag_id}/{run_id} is still {state} after {timeout:.0f} s.",
                hint="It keeps running in Airflow; follow it in the UI.",
            )
        time.sleep(poll_s)
    failed = next((t for t in tasks if t.state in ("failed", "upstream_failed")), None)
    failure = None
    if state == "failed" and failed is not None and failed.state == "failed":
        try:
            events = client.task_log(dag_id, run_id, failed.task_id, max(failed.try_number, 1))
            failure = "\n".join(failure_lines(events)) or None
        except UserstreamError as exc:
            failure = f"(its log could not be read: {exc})"
    return RunResult(dag_id, run_id, state, tasks, failed.task_id if failed else None, failure)


def run_dag(
    settings: Settings,
    dag_id: str,
    *,
    conf: dict[str, Any] | None = None,
    timeout: float = 900.0,
    on_progress: Callable[[str, list[TaskOutcome]], None] | None = None,
) -> RunResult:
    """Unpause ``dag_id`` if needed, trigger one run with ``conf`` and wait for it."""
    client = api(settings)
    known = {d["dag_id"]: d for d in client.dags()}
    if dag_id not in known:
        raise ConfigError(
            f"Airflow has no DAG {dag_id!r} (it has: {', '.join(sorted(known)) or 'none'})."
        )
    if known[dag_id].get("is_paused"):
        client.set_paused(dag_id, False)
    run = client.trigger(dag_id, conf or {})
    run_id = str(run["dag_run_id"])
    log.info("triggered dag=%s run=%s", dag_id, run_id)
    return wait_for_run(client, dag_id, run_id, timeout=timeout, on_progress=on_progress)
