"""The local Airflow: api-server, scheduler and dag-processor as supervised processes.

``up`` is idempotent and bounded: it generates the admin password once (kept in
``<state>/secrets/airflow-passwords.json``, mode 0600, never logged) and Airflow's own
secrets (``_airflow_env.ensure_keys``), migrates the SQLite metadata database, starts
whatever component is not running, then waits for the API's health endpoint and for the
DAGs folder to be parsed; it holds the instance's component lock meanwhile, so two ``up``
never start two. ``down`` stops the components gracefully (SIGTERM, then SIGKILL after a
bound). Its login is ``airflow_credentials``'s, its runs ``airflow_runs``'s.

No triggerer is started: the project's DAGs have no deferrable tasks, and on a 2-core
machine every idle process counts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from userstream.config import Settings
from userstream.errors import ConfigError, TerminalError, TransientError, UserstreamError
from userstream.files import write_private
from userstream.host import process
from userstream.host.locks import component_lock
from userstream.host.state import PRIVATE_UMASK
from userstream.stack._airflow_api import AirflowApi, health
from userstream.stack._airflow_env import (
    EDGE_EXECUTOR,
    airflow_env,
    airflow_home,
    dags_folder,
    ensure_keys,
    keys_file,
    process_name,
    uses_edge,
)
from userstream.stack._airflow_env import (
    base_url as base_url,
)
from userstream.stack._ports import require_free
from userstream.stack.airflow_credentials import ensure_credentials

log = logging.getLogger(__name__)


#: Started in this order, stopped in the reverse one.
COMPONENTS: tuple[str, ...] = ("api-server", "scheduler", "dag-processor")


#: The scheduler's log server binds every interface and has no setting for it; task logs
#: are on this machine's disk anyway, where the API server reads them.
EXTRA_ARGS: dict[str, tuple[str, ...]] = {"scheduler": ("--skip-serve-logs",)}


#: Health-endpoint entries that must say "healthy" before ``up`` returns.
HEALTH_KEYS: tuple[str, ...] = ("metadatabase", "scheduler", "dag_processor")


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


#: Written in Airflow's home after a migration: what the database was migrated for.
MIGRATED_STAMP = "migrated.stamp"


def migration_stamp(env: dict[str, str]) -> str | None:
    """What a migration of the database ``env`` names depends on: the installed Airflow and
    its providers (each may bring migrations) and the database settings, hashed (a URL may
    hold a password). None for any database but a SQLite file that exists: another database
    may have been emptied behind our back, so it is always migrated."""
    database = {k: v for k, v in env.items() if k.startswith("AIRFLOW__DATABASE__")}
    url = database.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    if set(database) != {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"} or not url.startswith("sqlite:///"):
        return None
    if not Path(url.removeprefix("sqlite:///")).is_file():
        return None
    names = sorted(
        f"{d.metadata['Name']}=={d.version}"
        for d in importlib.metadata.distributions()
        if (d.metadata["Name"] or "").lower().startswith("apache-airflow")
    )
    return hashlib.sha256("\n".join([*names, url]).encode()).hexdigest()


def _migrate(settings: Settings, env: dict[str, str], timeout: float) -> None:
    """``airflow db migrate``, unless the database was migrated for exactly this Airflow
    (``migration_stamp``): the command imports all of Airflow (~10 s on 2 cores, while
    Kafka and Cassandra start) to find nothing to do."""
    stamp_file = airflow_home(settings) / MIGRATED_STAMP
    stamp = migration_stamp(env)
    if stamp is not None and stamp_file.is_file() and stamp_file.read_text() == stamp:
        log.info("airflow_migration_skipped reason=already migrated for this Airflow")
        return
    stamp_file.unlink(missing_ok=True)
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
    stamp = migration_stamp(env)  # the database file exists now
    if stamp is not None:
        write_private(stamp_file, stamp)


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
    cfg = settings.airflow
    missing = [
        c for c in COMPONENTS if process.running(settings.paths, process_name(cfg, c)) is None
    ]
    if "api-server" in missing:
        require_free("Airflow's API server", cfg.host, [cfg.port], "USERSTREAM_AIRFLOW__PORT")
    if missing:
        _migrate(settings, env, timeout=max(30.0, deadline - time.monotonic()))
    # A new dag-processor parses the DAGs with this start's settings (their asset's URI
    # names the keyspace): what an earlier one parsed does not count.
    parsed_after = dt.datetime.now(dt.UTC) if "dag-processor" in missing else None
    for component in missing:
        proc = process.start(
            settings.paths,
            process_name(cfg, component),
            [sys.executable, "-m", "airflow", component, *EXTRA_ARGS.get(component, ())],
            env=env,
            cwd=Path.cwd(),
        )
        log.info("started component=%s pid=%d log=%s", component, proc.pid, proc.log)
    try:
        _wait_healthy(settings, deadline)
        _wait_dags_parsed(
            settings,
            AirflowApi(base_url(cfg), creds.username, creds.password),
            deadline,
            parsed_after,
        )
    except UserstreamError:
        # Leave nothing half-started behind, but never stop what was running before.
        for component in reversed(missing):
            process.stop(settings.paths, process_name(cfg, component))
        raise
    return AirflowInfo(base_url(cfg), creds.username, creds.file, created, missing)


def _check_alive(settings: Settings) -> None:
    for component in COMPONENTS:
        name = process_name(settings.airflow, component)
        if process.running(settings.paths, name) is None:
            log_path = settings.paths.log_file(name)
            raise TerminalError(
                f"Airflow's {component} exited while starting: {process.tail(log_path, 3)}",
                log=log_path,
            )


def _wait_healthy(settings: Settings, deadline: float) -> None:
    url = base_url(settings.airflow)
    last: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        _check_alive(settings)
        last = health(url)
        if last is not None and all(_health_of(last, k) == "healthy" for k in HEALTH_KEYS):
            return
        time.sleep(2.0)
    raise TransientError(
        f"Airflow at {url} did not become healthy in time (last health: {last}).",
        log=settings.paths.log_file(process_name(settings.airflow, "api-server")),
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


def _wait_dags_parsed(
    settings: Settings,
    client: AirflowApi,
    deadline: float,
    parsed_after: dt.datetime | None = None,
) -> None:
    """Until every DAG file of ours is parsed (after ``parsed_after``, when given); a
    ``ConfigError`` quoting Airflow when one cannot be imported."""
    expected = _dag_files(dags_folder(settings.airflow))
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
        seen = {
            Path(str(d.get("fileloc", ""))).name
            for d in client.dags()
            if parsed_after is None or _parsed_since(d.get("last_parsed_time"), parsed_after)
        }
        if expected <= seen:
            return
        time.sleep(2.0)
    raise TransientError(
        f"Airflow did not parse the DAG files {sorted(expected - seen)} in time.",
        log=settings.paths.log_file(process_name(settings.airflow, "dag-processor")),
    )


def _parsed_since(stamp: object, instant: dt.datetime) -> bool:
    try:
        return dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00")) >= instant
    except ValueError:
        return False


def down(settings: Settings, *, timeout: float = 30.0) -> list[str]:
    """Stop every component (reverse start order); the names of those that were running."""
    stopped = []
    with component_lock(settings.paths, settings.airflow.instance):
        for component in reversed(COMPONENTS):
            name = process_name(settings.airflow, component)
            if process.stop(settings.paths, name, timeout=timeout):
                stopped.append(component)
    return stopped


def status(settings: Settings) -> list[ComponentState]:
    """Each component's pid (None when down) and what the health endpoint says of it."""
    body = health(base_url(settings.airflow)) or {}
    keys = {
        "api-server": "metadatabase",
        "scheduler": "scheduler",
        "dag-processor": "dag_processor",
    }
    states = []
    for component in COMPONENTS:
        name = process_name(settings.airflow, component)
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


def edge_worker(
    settings: Settings, name: str, concurrency: int
) -> tuple[list[str], dict[str, str]]:
    """The command and environment of an Edge worker named ``name`` for this Airflow: its
    settings, and a home of its own (``<airflow home>/edge-<name>``, for its pid file), as on
    a host of its own. Raises ``ConfigError`` when the executor is not the Edge executor, or
    when Airflow's keys are not there (the worker signs its calls with them)."""
    if not uses_edge(settings.airflow):
        executor = settings.airflow.config.get("core.executor") or "LocalExecutor"
        raise ConfigError(
            f"Airflow's executor is {executor}, not the Edge executor: no task would ever "
            "reach an Edge worker.",
            hint=f'Set USERSTREAM_AIRFLOW__CONFIG to {{"core.executor": "{EDGE_EXECUTOR}"}} '
            '(docs/clusters.md "Airflow with several workers"), then `userstream airflow down` '
            "and `up`.",
        )
    keys = keys_file(settings)
    if not keys.is_file():
        # Without it Airflow would write a config of its own there, with a new secret the
        # API server would refuse, and that file would then be taken for ours.
        raise ConfigError(
            f"Airflow's keys file {keys} is missing: the worker signs its calls to the API "
            "server with the secret it holds.",
            hint="Run `userstream airflow up` first; on a worker host of its own, copy that "
            "file (mode 0600) from the API server's state folder to the same place.",
        )
    home = airflow_home(settings) / f"edge-{name}"
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = {**airflow_env(settings), "AIRFLOW_HOME": str(home)}
    cmd = [sys.executable, "-m", "airflow", "edge", "worker",
           "--edge-hostname", name, "--concurrency", str(concurrency)]  # fmt: skip
    return cmd, env
