"""Start, stop, watch and drain the stream — the API the CLI and the Airflow DAG call.

``start`` runs the driver under a detached ``supervisor`` (which restarts it whenever it
exits unasked) named ``settings.spark.job_name`` (default ``stream``), with the
supervisor's pid and the log in the state folder, like every long-running part of the
local runtime; ``run`` (foreground) and ``drain`` run an unsupervised driver. Two drivers
never share a checkpoint: ``start``/``run``/``drain`` refuse while one with the same name
is running, check-then-start happens under the job's component lock
(``<state>/run/<job_name>.lock``), so two callers cannot both pass the check, and every
driver holds its checkpoint's lock (``supervisor.checkpoint_lock``) while it lives.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import signal
import subprocess
import time
from typing import Any, NoReturn

from userstream.config import KafkaSettings, Settings, StatePaths
from userstream.errors import TerminalError, TransientError
from userstream.host import process
from userstream.host.locks import component_lock
from userstream.host.process import Proc
from userstream.stack import spark as spark_cluster
from userstream.stack.jars import ensure_jars
from userstream.streaming import driver_settings, health, job, progress_file, query, supervisor
from userstream.streaming.session import CONNECTOR_JARS, on_this_machine, require_pyspark

log = logging.getLogger(__name__)

MARKER = supervisor.DRIVER_MODULE
#: A JVM start plus the first Kafka and Cassandra connections on two busy cores.
START_TIMEOUT_S = 300.0


def running(settings: Settings) -> Proc | None:
    """The stream's process (its supervisor, or a foreground/drain driver), or None."""
    return process.running(settings.paths, settings.spark.job_name)


def supervisor_state(settings: Settings, proc: Proc | None = None) -> dict[str, Any] | None:
    """The running supervisor's state (driver pid, restarts, last exit), or None.

    None as well when the stream runs unsupervised (``run``, ``drain``) or not at all.
    """
    proc = proc if proc is not None else running(settings)
    if proc is None or not process.alive(proc.pid, supervisor.MODULE):
        return None
    state = supervisor.read_state(settings)
    return state if state is not None and state.get("pid") == proc.pid else None


def driver_pid(settings: Settings, proc: Proc | None = None) -> int | None:
    """The pid of the running driver (not its supervisor), or None when none runs."""
    proc = proc if proc is not None else running(settings)
    if proc is None:
        return None
    if not process.alive(proc.pid, supervisor.MODULE):
        return proc.pid  # a foreground run or a drain: the pid file names the driver
    state = supervisor_state(settings, proc) or {}
    pid = state.get("driver_pid")
    if not isinstance(pid, int):
        return None
    if "driver_identity" in state:
        return pid if process.same(pid, state["driver_identity"]) else None
    return pid if process.alive(pid, MARKER) else None  # an older supervisor's state


def last_progress(settings: Settings) -> dict[str, Any] | None:
    """The driver's last progress (state, last batch, totals), or None: its file in the state
    folder, or what the driver serves at ``spark.progress_url`` when that is set."""
    url = settings.spark.progress_url
    return progress_file.fetch(url) if url else progress_file.read(settings)


def _command(settings: Settings, *extra: str) -> list[str]:
    return [*supervisor.driver_command(driver_settings.dump_settings(settings)), *extra]


def _env(settings: Settings) -> dict[str, str]:
    env = {"PYTHONUNBUFFERED": "1"}
    if on_this_machine(settings.spark.master):
        env["SPARK_LOCAL_IP"] = "127.0.0.1"
    if spark_cluster.is_local_cluster(settings):
        # The local cluster's shared secret comes from its Spark configuration file, which
        # spark-submit reads (never a --conf on the driver's command line). Assigned, not
        # defaulted: this cluster runs pyspark's own distribution and secret.
        env.update(spark_cluster.environment(settings.paths))
    return env


def _fetch_jars(paths: StatePaths) -> None:
    """The Kafka source's jars where the job reads them (fetched once from Maven Central)."""
    ensure_jars(paths.lib, CONNECTOR_JARS, log_dir=paths.logs)


def _prepare(settings: Settings) -> None:
    """Fail fast, before the slow JVM start: pyspark, jars, topics, tables."""
    from userstream.kafka.topics import ensure_topics

    require_pyspark()
    _fetch_jars(settings.paths)
    ensure_topics(settings.kafka)
    query.check_tables(settings)


def _refuse_if_running(settings: Settings) -> None:
    proc = running(settings)
    if proc is not None:
        raise TerminalError(
            f"The stream {settings.spark.job_name!r} is already running (pid {proc.pid}).",
            hint="Stop it first with `userstream stream stop`.",
        )


def start(settings: Settings, *, timeout: float = START_TIMEOUT_S) -> Proc:
    """Start the supervised driver detached and wait until its query runs; idempotent.

    Returns the stream's process, its supervisor (the existing one when already running;
    ``driver_pid`` names the driver). Raises ``TransientError`` with the log's tail when
    the first driver exits or reports a failure before its query runs (then nothing is
    left running), and ``TransientError`` when it is not running within ``timeout``
    seconds (it is killed).
    """
    # Held until the query runs: a second caller waits, then finds this driver running.
    with component_lock(settings.paths, settings.spark.job_name):
        existing = running(settings)
        if existing is not None:
            return existing
        return _start_detached(settings, timeout)


def _start_detached(settings: Settings, timeout: float) -> Proc:
    _prepare(settings)
    name = settings.spark.job_name
    cmd = supervisor.command(driver_settings.dump_settings(settings))
    proc = process.start(settings.paths, name, cmd, env=_env(settings))
    log.info("stream_starting supervisor_pid=%d log=%s", proc.pid, proc.log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        watched = supervisor.read_state(settings) or {}
        if watched.get("pid") == proc.pid and watched.get("last_exit"):
            # A driver that cannot start is not restarted here: the caller hears why now.
            kill(settings)
            how = health.describe_exit(watched["last_exit"])
            raise TransientError(
                f"The stream's driver {how} while starting. Last lines of its log:\n"
                + process.tail(proc.log),
                log=proc.log,
            )
        pid = watched.get("driver_pid") if watched.get("pid") == proc.pid else None
        state = progress_file.read(settings)
        if pid is not None and state is not None and state.get("pid") == pid:
            if state.get("state") == "running":
                log.info(
                    "stream_running pid=%d supervisor_pid=%d query=%s",
                    pid,
                    proc.pid,
                    state.get("query_id"),
                )
                return proc
            if state.get("state") == "failed":
                kill(settings)
                raise TransientError(
                    f"The stream failed to start: {state.get('error')}",
                    log=proc.log,
                )
        code = _exit_code(proc.pid)
        if code is not None:
            raise TransientError(
                f"The stream's supervisor exited while starting ({code}). Last lines of its "
                "log:\n" + process.tail(proc.log),
                log=proc.log,
            )
        time.sleep(0.5)
    kill(settings)
    raise TransientError(
        f"The stream was not running after {timeout:g} s; it was killed.",
        hint="The machine may be overloaded; check the log and start it again.",
        log=proc.log,
    )


def stop(settings: Settings, timeout: float = 60) -> bool:
    """Stop the stream gracefully (supervisor and driver); True when one was running.

    SIGTERM goes to the supervisor (or an unsupervised driver) only: it forwards it to the
    Python driver, whose JVM stays up while the driver lets the running micro-batch finish
    and stops the query. After ``timeout`` seconds the whole process group is killed (the
    checkpoint then replays the unfinished batch); what is left of the group once the
    supervisor has exited (the JVM exits on its own once the driver has) is ended too.
    """
    proc = running(settings)
    name = settings.spark.job_name
    stopped = process.stop(settings.paths, name, timeout=timeout, leader_only=True)
    if stopped and proc is not None:
        log.info("stream_stopped pid=%d", proc.pid)
    return stopped


def kill(settings: Settings) -> bool:
    """SIGKILL the supervisor, the driver and its JVM at once (fault tests, cleanup).

    True when one was running.
    """
    return process.kill(settings.paths, settings.spark.job_name)


def kill_driver(settings: Settings) -> int | None:
    """SIGKILL the driver only, not its supervisor (fault tests); the killed pid, or None.

    Returns once the driver is gone. Its JVM exits when it sees the driver gone; the
    supervisor starts a new driver.
    """
    pid = driver_pid(settings)
    if pid is None:
        return None
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return None
    deadline = time.monotonic() + 10
    while process.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    log.info("stream_driver_killed pid=%d", pid)
    return pid


def report(
    settings: Settings,
    state: dict[str, Any] | None,
    lag: dict[int, int] | None,
    *,
    now: dt.datetime | None = None,
    driver_elsewhere: bool = False,
) -> dict[str, Any]:
    """The stream's status as one JSON-ready object, its health decided by ``health.assess``.

    ``state`` is the progress file (``last_progress``), ``lag`` the messages waiting per
    partition (``lag``; None when unknown). ``pid`` is the driver's, ``restarts`` counts
    the supervisor's driver restarts (``query_restarts`` the driver's own query restarts).
    A driver whose process cannot be seen from here (``driver_elsewhere``: another container
    or machine; always so with ``spark.progress_url``) counts as alive while its heartbeat
    is fresh.
    """
    proc = running(settings)
    watched = supervisor_state(settings, proc)
    pid = driver_pid(settings, proc)
    state = state or {}
    now = now or dt.datetime.now(dt.UTC)
    limit = settings.spark.unhealthy_after_s
    if pid is None and (driver_elsewhere or settings.spark.progress_url):
        heartbeat = health.parse_time(state.get("updated_at"))
        if heartbeat is not None and (now - heartbeat).total_seconds() <= limit:
            pid = state.get("pid")
    verdict = health.assess(
        state or None,
        driver_pid=pid,
        supervisor=watched,
        lag=None if lag is None else sum(lag.values()),
        now=now,
        unhealthy_after_s=limit,
    )
    supervised = proc is not None and process.alive(proc.pid, supervisor.MODULE)
    return {
        "running": proc is not None,
        "pid": pid,
        "supervisor_pid": proc.pid if supervised and proc is not None else None,
        "state": state.get("state"),
        "metrics_url": state.get("metrics_url") if pid else None,
        "ui_url": state.get("ui_url") if pid else None,
        **verdict.as_dict(),
        "last_batch": state.get("last_batch"),
        "totals": state.get("totals"),
        "lag": None if lag is None else {str(p): n for p, n in sorted(lag.items())},
        "restarts": (watched or {}).get("restarts") or 0,
        "last_exit": (watched or {}).get("last_exit"),
        "query_restarts": state.get("restarts"),
        "error": state.get("error"),
        "updated_at": state.get("updated_at"),
    }


def _exit_code(pid: int) -> str | None:
    """How a process we started ended ("exit code 1", "signal 9"), or None while it runs."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        # Not our child (started by another command): the pid file is the only witness.
        return None if process.alive(pid) else "exited"
    if done == 0:
        return None
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit code {os.WEXITSTATUS(status)}"


def run(
    settings: Settings, *, until_idle: bool = False, timeout: float | None = None
) -> dict[str, Any]:
    """Run the stream in this process until SIGTERM/Ctrl-C (or drained with ``until_idle``).

    The pid file is written so ``status`` sees a foreground run too. This process must not
    have a SparkSession of its own already. Returns the final progress state.
    """
    paths = settings.paths
    pid_file = paths.pid_file(settings.spark.job_name)
    with contextlib.ExitStack() as hold:
        with component_lock(paths, settings.spark.job_name):
            _refuse_if_running(settings)
            hold.enter_context(supervisor.checkpoint_lock(settings))
            process.write_pid_file(paths, settings.spark.job_name, os.getpid())
        try:
            _fetch_jars(paths)
            os.environ.update(_env(settings))
            return job.run(settings, until_idle=until_idle, timeout=timeout)
        finally:
            pid_file.unlink(missing_ok=True)


def supervise(settings: Settings) -> NoReturn:
    """Become the stream's supervisor, in the foreground, until SIGTERM/SIGINT.

    For a service manager that keeps this process itself running (a Compose service, a
    systemd unit, a Kubernetes pod): the supervisor restarts the driver, the service
    manager restarts the supervisor. The pid file names this process, which then replaces
    itself with the supervisor (same pid, so ``status``, ``stream stop`` and ``down`` treat
    it as they treat ``start``'s detached one).
    """
    paths = settings.paths
    name = settings.spark.job_name
    with component_lock(paths, name):
        _refuse_if_running(settings)
        _prepare(settings)
        settings_path = driver_settings.dump_settings(settings)
        process.write_pid_file(paths, name, os.getpid())
    os.environ.update(_env(settings))
    log.info("stream_supervising pid=%d", os.getpid())
    logging.shutdown()
    command = supervisor.command(settings_path)
    os.execv(command[0], command)  # noqa: S606 - our own interpreter and module


def drain(settings: Settings, *, timeout: float = 600) -> dict[str, Any]:
    """Process what the topic holds now in a child process, then return its final state.

    For callers that must not host a JVM themselves (tests, Airflow tasks). Raises
    ``TransientError`` with the log's tail when the child fails or exceeds ``timeout``.
    """
    name = settings.spark.job_name
    paths = settings.paths
    log_file = paths.log_file(name)
    with contextlib.ExitStack() as hold:
        # Check and start under the lock; the pid file then keeps others out.
        with component_lock(paths, name):
            _refuse_if_running(settings)
            _prepare(settings)
            # The child holds the checkpoint's lock too, should this process die first.
            lock_fd = hold.enter_context(supervisor.checkpoint_lock(settings))
            # Only now: it rewrites the settings file a running driver restarts from.
            cmd = _command(settings, "--until-idle", "--timeout", str(timeout))
            paths.logs.mkdir(exist_ok=True, mode=0o700)
            child = process.spawn(cmd, log=log_file, env=_env(settings), pass_fds=(lock_fd,))
            process.write_pid_file(paths, name, child.pid)
        try:
            code = child.wait(timeout=timeout + START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.end_group(child.pid, grace=0.5)
            child.wait()
            code = -9
        finally:
            paths.pid_file(name).unlink(missing_ok=True)
    state = progress_file.read(settings)
    if code != 0 or state is None or state.get("state") != "drained":
        detail = (state or {}).get("error") or f"exit code {code}"
        raise TransientError(
            f"Draining topic {settings.kafka.topic!r} failed: {detail}. Last lines of its log:\n"
            + process.tail(log_file),
            log=log_file,
        )
    return state


def lag(settings: Settings, state: dict[str, Any] | None = None) -> dict[int, int] | None:
    """Messages per partition between the last processed offsets and the topic's end.

    None when no batch has been processed yet. Raises ``TransientError`` when Kafka does
    not answer.
    """
    from confluent_kafka import KafkaException

    from userstream.kafka.topics import end_offsets

    state = state if state is not None else last_progress(settings)
    if not ((state or {}).get("last_batch") or {}).get("end_offsets"):
        return None
    try:
        ends = end_offsets(settings.kafka)
    except KafkaException as exc:
        raise TransientError(
            f"Kafka at {settings.kafka.bootstrap_servers} did not report the topic's end offsets.",
            hint="Check that the broker is up (`userstream stack status`).",
        ) from exc
    return lag_from(settings.kafka, ends, state or {})


def lag_from(
    kafka: KafkaSettings, ends: dict[str, dict[str, int]], state: dict[str, Any]
) -> dict[int, int] | None:
    """``lag`` from end offsets already fetched (``topics.end_offsets``); None when no batch
    has been processed yet or the topic's ends are unknown."""
    done = ((state.get("last_batch") or {}).get("end_offsets") or {}).get(kafka.topic)
    topic_ends = ends.get(kafka.topic)
    if not done or not topic_ends:
        return None
    return {
        int(p): max(0, topic_ends[str(p)] - int(o)) for p, o in done.items() if str(p) in topic_ends
    }
