"""The local runtime's housekeeper: a small process that keeps the state folder bounded.

- every ``CHECK_S`` seconds, rotates each ``logs/*.log`` past ``housekeeping.log_max_mb``
  (``host.log_rotation``);
- every ``CLEAN_EVERY_S``, while the local Airflow has a database, deletes its run history
  older than ``housekeeping.airflow_retention_days`` with Airflow's own ``airflow db clean``
  (:func:`clean_metadata`) in the environment Airflow runs with.
  Airflow 3 gives its tasks no database access, so this cannot be a task of the
  ``userstream_maintenance`` DAG, which prunes the task logs and XCom files.

``userstream stack up`` (and so ``up``) starts it first as ``housekeeper``, ``down`` stops
it last, ``status`` shows it. A failure is logged and tried again at the next turn; it never
ends the process.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import threading
import time

from userstream.config import Settings
from userstream.errors import TransientError, UserstreamError
from userstream.host import log_rotation, process
from userstream.host.locks import component_lock

log = logging.getLogger("userstream.stack.housekeeper")

NAME = "housekeeper"
#: Seconds between two looks at the logs: Airflow's scheduler writes ~150 KB a minute.
CHECK_S = 10.0
#: Seconds between two cleanings of Airflow's database (the first one a minute after start).
CLEAN_EVERY_S = 3600.0
_FIRST_CLEAN_S = 60.0


def start(settings: Settings) -> bool:
    """Start the housekeeper unless it runs; True when started."""
    from userstream.stack._airflow_env import userstream_env

    paths = settings.paths
    with component_lock(paths, NAME):
        if process.running(paths, NAME) is not None:
            return False
        process.start(paths, NAME, [sys.executable, "-m", "userstream.stack.housekeeper"],
                      env=userstream_env(settings))  # fmt: skip
        return True


def stop(settings: Settings) -> bool:
    """Stop it (SIGTERM, SIGKILL after a bound); True when it ran."""
    with component_lock(settings.paths, NAME):
        return process.stop(settings.paths, NAME, timeout=10.0)


def clean_airflow(settings: Settings) -> str | None:
    """``airflow db clean`` of the local Airflow past the retention; None when it has no
    database (never started here)."""
    from userstream.stack._airflow_env import airflow_env, airflow_home

    if not (airflow_home(settings) / "airflow.db").exists():
        return None
    before = dt.datetime.now(dt.UTC) - dt.timedelta(
        days=settings.housekeeping.airflow_retention_days
    )
    return clean_metadata(before, env=airflow_env(settings))


#: The tables of run history ``clean_metadata`` prunes (not DAGs, versions or connections).
HISTORY_TABLES = (
    "dag_run", "task_instance", "task_instance_history", "task_reschedule", "log", "job",
    "xcom", "asset_event", "callback", "trigger", "import_error",
)  # fmt: skip
_CLEAN_TIMEOUT_S = 600


def clean_metadata(before: dt.datetime, env: dict[str, str] | None = None) -> str:
    """Run ``airflow db clean`` for ``HISTORY_TABLES`` before ``before``, with ``env`` (the
    variables Airflow runs with) over this process's; its last lines. ``TransientError``
    quoting them when it fails (the database busy, say: the next hour tries again)."""
    started = time.monotonic()
    cmd = [sys.executable, "-m", "airflow", "db", "clean", "--clean-before-timestamp",
           before.isoformat(), "--tables", ",".join(HISTORY_TABLES), "--skip-archive", "--yes",
           "--error-on-cleanup-failure", "--batch-size", "1000"]  # fmt: skip
    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=_CLEAN_TIMEOUT_S,
        check=False,
        env={**os.environ, **(env or {})},
    )
    said = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
    if done.returncode != 0:
        raise TransientError(
            f"airflow db clean failed (exit {done.returncode}): {said}",
            hint="It runs again within the hour; `airflow db clean --help` says what it does.",
        )
    log.info("airflow_db_cleaned before=%s took_s=%.1f", before.isoformat(),
             time.monotonic() - started)  # fmt: skip
    return said


def run(settings: Settings, stop: threading.Event, every_s: float = CHECK_S) -> None:
    """Look after the logs every ``every_s`` and Airflow's database every ``CLEAN_EVERY_S``
    until ``stop`` is set."""
    h = settings.housekeeping
    max_bytes = h.log_max_mb * 1024 * 1024
    log.info("housekeeper_started logs=%s max_mb=%d files=%d airflow_retention_days=%d",
             settings.paths.logs, h.log_max_mb, h.log_files, h.airflow_retention_days)  # fmt: skip
    next_clean = time.monotonic() + _FIRST_CLEAN_S
    while not stop.is_set():
        try:
            for path in log_rotation.rotate_all(settings.paths.logs, max_bytes, h.log_files):
                log.info("log_rotated file=%s", path.name)
        except OSError as exc:
            log.warning("log_rotation_failed error=%s", exc)
        if time.monotonic() >= next_clean:
            next_clean = time.monotonic() + CLEAN_EVERY_S
            try:
                clean_airflow(settings)
            except (UserstreamError, OSError) as exc:
                log.warning("airflow_db_clean_failed error=%s", exc)
        stop.wait(every_s)


def main() -> None:
    from userstream.config import load_settings
    from userstream.logs import setup

    setup(logging.INFO)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    run(load_settings(), stopping)


if __name__ == "__main__":
    main()
