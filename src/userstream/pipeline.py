"""The whole pipeline on one machine: `userstream up` and `userstream down`.

``up`` is idempotent: every step leaves a running part alone and starts a missing one, so
running it twice, or after a crash of one part, converges to everything running. Order:
the source → Kafka + Cassandra (with Airflow starting meanwhile, the StatsD exporter for its
metrics first) → topics + schema → the Spark stream → Airflow ready (``streaming_pipeline``
unpaused and a first run triggered, so users land within a minute instead of at the next
schedule tick) → the live dashboard → Prometheus (it and the exporter only when installed:
``stack/monitoring.py``).
``down`` stops in the reverse order and keeps every byte of data; ``purge`` is the separate,
explicit way to remove it.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from userstream.config import DashboardSettings, Settings, StatePaths
from userstream.files import write_json
from userstream.host import process
from userstream.host.locks import component_lock
from userstream.source.resolve import check_url, decide, probe, stand_in_description

Say = Callable[[str], None]
FAKE_API = "fake-api"
PIPELINE_DAG = "streaming_pipeline"
SOURCE_FILE = "source.json"


def dashboard_name(dashboard: DashboardSettings) -> str:
    """The dashboard's process name (pid and log files): one dashboard per port."""
    return f"dashboard-{dashboard.port}"


def dashboard_url(dashboard: DashboardSettings) -> str:
    """Where this machine reaches it (127.0.0.1 when it listens on every interface)."""
    host = dashboard.host
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - compared, not bound
    return f"http://{host}:{dashboard.port}/"


@dataclass(frozen=True)
class SourceChoice:
    kind: str  # "randomuser" | "local" | "url"
    url: str
    description: str


@dataclass(frozen=True)
class UpReport:
    source: SourceChoice
    airflow_url: str
    airflow_user: str
    airflow_password_file: Path
    airflow_password_created: bool
    dashboard_url: str
    #: Spark's web UI, once the driver has published it (None: off, or not yet started).
    spark_ui_url: str | None = None


def _start_fake_api(settings: Settings, say: Say) -> str:
    src = settings.source
    url = f"http://{src.fake_host}:{src.fake_port}/api/1.4/"
    # Check and start under the lock (held until it answers): two `up` never start two.
    with component_lock(settings.paths, FAKE_API):
        if process.running(settings.paths, FAKE_API) is not None:
            return url
        proc = process.start_until(
            settings.paths,
            FAKE_API,
            [sys.executable, "-m", "userstream", "fake-api",
             "--host", src.fake_host, "--port", str(src.fake_port)],
            lambda: probe(url, timeout_s=2) is None,
            what=f"The local Random User API stand-in on {url}",
            hint="Is the port taken? Set USERSTREAM_SOURCE__FAKE_PORT to a free one.",
        )  # fmt: skip
    say(f"source: local stand-in started (pid {proc.pid})")
    return url


def _start_dashboard(settings: Settings, say: Say) -> str:
    """Start ``userstream dashboard`` detached unless it runs; returns its URL once it answers."""
    from userstream.host.net import answers_http

    name, url = dashboard_name(settings.dashboard), dashboard_url(settings.dashboard)
    with component_lock(settings.paths, name):
        if process.running(settings.paths, name) is not None:
            say("dashboard: already running")
            return url
        proc = process.start_until(
            settings.paths,
            name,
            [sys.executable, "-m", "userstream", "dashboard",
             "--port", str(settings.dashboard.port)],
            lambda: answers_http(f"{url}healthz"),
            what=f"The dashboard on {url}",
            hint="Is the port taken? Set USERSTREAM_DASHBOARD__PORT to a free one.",
            # Its other settings come from the same environment and .env as ours.
            env={"USERSTREAM_STATE_DIR": str(settings.paths.root)},
        )  # fmt: skip
    say(f"dashboard: started (pid {proc.pid})")
    return url


SOURCE_KINDS = ("auto", "randomuser", "local")


def choose_source(settings: Settings, kind: str, say: Say) -> SourceChoice:
    """Decide where users come from (``source.resolve.decide``); start the stand-in as a
    background process when it is the one."""
    decision = decide(settings.source, kind, probe_timeout_s=5)
    if decision.url is not None:
        return SourceChoice(decision.kind, decision.url, decision.description)
    local = _start_fake_api(settings, say)
    return SourceChoice("local", local, stand_in_description(local, decision.description))


def read_source(paths: StatePaths) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((paths.results / SOURCE_FILE).read_text())
        return data
    except (OSError, ValueError):
        return None


def _on_local(settings: Settings, *sections: str) -> Settings:
    """``settings`` with ``sections`` of ``stack.local.cluster_settings`` applied."""
    from userstream.stack.local import cluster_settings

    changes = cluster_settings(settings)
    update = {name: getattr(settings, name).model_copy(update=changes[name]) for name in sections}
    return settings.model_copy(update=update)


def on_local_kafka_cluster(settings: Settings) -> Settings:
    """``settings`` with every Kafka client on this machine's Kafka cluster: all three nodes
    to bootstrap from (a client starting while one is down still connects), new topics with
    a replica on each."""
    return _on_local(settings, "kafka")


def on_local_cassandra_cluster(settings: Settings) -> Settings:
    """``settings`` with every Cassandra client on this machine's Cassandra cluster: all three
    nodes as contact points, keyspaces with three replicas."""
    return _on_local(settings, "cassandra")


def on_local_cluster(settings: Settings) -> Settings:
    """``settings`` on this machine's clusters: the stream on its Spark cluster, every Kafka
    and Cassandra client on its nodes."""
    return _on_local(settings, "kafka", "cassandra", "spark")


def up(
    settings: Settings,
    *,
    source: str,
    say: Say,
    trigger_first_run: bool = True,
    cluster: bool = False,
) -> UpReport:
    """Bring every part up (idempotent); returns what the user needs to look at it. With
    ``cluster``, Kafka and Cassandra as three nodes each and a Spark cluster of this machine
    (``settings`` name them: ``on_local_cluster``); a Kafka or Cassandra cluster already
    running is kept and used.

    Airflow needs neither Kafka nor Cassandra to start, so it starts in the background once
    the source is chosen, while they start (its ~20 s are the longest wait after theirs);
    should a later step fail, an Airflow this call started is stopped again."""
    from userstream.host.state import ensure_layout
    from userstream.kafka import topics
    from userstream.stack import airflow, airflow_runs, cassandra, kafka, monitoring
    from userstream.stack.local import stack_up
    from userstream.store import schema
    from userstream.streaming import control

    if source not in SOURCE_KINDS:
        check_url(source)  # a bad --source fails before anything is started
    ensure_layout(settings.paths)
    # A Kafka or Cassandra cluster already there (`stack up --cluster`) is kept: every client
    # on its nodes.
    stack_settings = settings
    if kafka.clustered(settings) and not cluster:
        settings = on_local_kafka_cluster(settings)
    if cassandra.clustered(settings) and not cluster:
        settings = on_local_cassandra_cluster(settings)
    say("1/7 source")
    choice = choose_source(settings, source, say)
    write_json(settings.paths.results / SOURCE_FILE, asdict(choice), indent=2)
    say(f"source: {choice.description}")
    say(monitoring.start_statsd_exporter(settings))  # before Airflow: its metrics from the start
    # The DAG's tasks read their settings from the environment Airflow is started with.
    airflow_settings = settings.model_copy(
        update={"source": settings.source.model_copy(update={"kind": choice.url})}
    )
    with ThreadPoolExecutor(3, thread_name_prefix="up") as background:
        airflow_up = background.submit(airflow.up, airflow_settings)
        try:
            say("2/7 Kafka and Cassandra" + (" as clusters, and Spark's" if cluster else "")
                + " (Airflow starts meanwhile)")  # fmt: skip
            stack_up(stack_settings, cluster=cluster, progress=say)
            say("3/7 topics and schema")
            topics_up = background.submit(topics.ensure_topics, settings.kafka)
            schema.apply_schema(settings)
            topics_up.result()
            # The stream starts while Airflow's first run is triggered: the run's users wait
            # in Kafka for it (it reads from the earliest offset), and its ensure_stream finds
            # this start (one start at a time: control.start's lock).
            say("4/7 Spark stream (starting; Airflow's first run meanwhile)")
            stream_up = background.submit(_start_stream, settings, say)
            say("5/7 Airflow (a first start takes a minute or two)")
            api_log = settings.paths.log_file(airflow.process_name(settings.airflow, "api-server"))
            info = process.with_ticks(airflow_up.result, "airflow", api_log, say)
            client = airflow_runs.api(airflow_settings)
            if "scheduler" in info.started:
                # A run left "running" by the last stop has no process any more; ended now,
                # it does not hold the DAG's one active run (so this first run) for minutes.
                for dag_id, run_id in airflow_runs.fail_interrupted(client):
                    say(f"airflow: {dag_id} run {run_id} was cut short by the last stop: "
                        "marked failed")  # fmt: skip
            client.set_paused(PIPELINE_DAG, False)
            if trigger_first_run:
                run = client.trigger(PIPELINE_DAG, conf={})
                say(f"airflow: {PIPELINE_DAG} unpaused, first run {run.get('dag_run_id')} "
                    "triggered")  # fmt: skip
            stream_up.result()
        except BaseException:
            _stop_if_started(airflow_up, airflow_settings)
            raise
    say("6/7 dashboard")
    dashboard = _start_dashboard(settings, say)
    say("7/7 Prometheus")
    say(monitoring.start_prometheus(settings))
    ui_url = control.report(settings, control.last_progress(settings), None).get("ui_url")
    return UpReport(
        choice, info.url, info.username, info.password_file, info.password_created, dashboard,
        ui_url,
    )  # fmt: skip


def _start_stream(settings: Settings, say: Say) -> None:
    from userstream.streaming import control

    if control.running(settings) is None:
        proc = control.start(settings)
        say(f"stream: started (pid {proc.pid}, log {proc.log})")
    else:
        say("stream: already running")


def _stop_if_started(airflow_up: Future[Any], settings: Settings) -> None:
    """After a failed ``up``: wait for the background Airflow start, and stop what of
    Airflow it started (an Airflow that already ran is left running)."""
    from userstream.stack import airflow

    try:
        started = airflow_up.result().started
    except Exception:  # noqa: BLE001 - the step that failed first is the error to raise
        started = ["(its start failed)"]
    if started:
        airflow.down(settings)


def down(settings: Settings, *, say: Say) -> None:
    """Stop every part, newest first; data, checkpoints and secrets are kept."""
    from userstream.stack import airflow, monitoring
    from userstream.stack.local import stack_down
    from userstream.streaming import control

    watchers = monitoring.stop_all(settings)
    say(f"monitoring: {'stopped ' + ', '.join(watchers) if watchers else 'was not running'}")
    name = dashboard_name(settings.dashboard)
    with component_lock(settings.paths, name):
        was_running = process.stop(settings.paths, name)
    say(f"dashboard: {'stopped' if was_running else 'was not running'}")
    stopped = airflow.down(settings)
    say(f"airflow: {'stopped ' + ', '.join(stopped) if stopped else 'was not running'}")
    say(f"stream: {'stopped' if control.stop(settings) else 'was not running'}")
    with component_lock(settings.paths, FAKE_API):
        fake = process.stop(settings.paths, FAKE_API)
    say(f"source: {'stand-in stopped' if fake else 'no stand-in was running'}")
    stack_down(settings, progress=say)


def purge(settings: Settings, *, say: Say) -> None:
    """Delete every message, row, checkpoint, secret and Airflow run; keep the fetched jars.

    The caller must have stopped everything (``down``) and asked the user first.
    """
    root = settings.paths.root
    for child in sorted(root.iterdir()) if root.is_dir() else []:
        if child == settings.paths.lib:
            continue
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
        say(f"removed {child}")
    # A checkpoint folder configured outside the state folder holds the stream's offsets too.
    if not settings.checkpoint_is_local():
        say(
            f"kept the checkpoint {settings.checkpoint_location()}: it is not on this machine; "
            "remove it yourself, or the next stream meets offsets Kafka no longer has"
        )
        return
    checkpoints = settings.checkpoint_dir().resolve()
    outside = not checkpoints.is_relative_to(root.resolve())
    # Never an ancestor of the state folder (that would take the jars, or far more, with it).
    if outside and not root.resolve().is_relative_to(checkpoints) and checkpoints.is_dir():
        shutil.rmtree(checkpoints)
        say(f"removed {checkpoints}")
