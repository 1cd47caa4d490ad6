"""What `userstream status` reports: every part's health, the topics, the lag, the rows.

Each probe is bounded and independent: a part that is down shows as down, it never hides
the others or hangs the command.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from userstream.config import Settings, StatePaths
from userstream.host import process
from userstream.pipeline import FAKE_API, PIPELINE_DAG, dashboard_name, dashboard_url, read_source
from userstream.streaming import driver_settings

log = logging.getLogger(__name__)


@dataclass
class Part:
    name: str
    healthy: bool
    address: str = ""
    pid: int | None = None
    detail: str = ""
    #: Where its Prometheus metrics are served, when it serves them.
    metrics_url: str | None = None
    #: Its own web page, when it has one (Spark's UI for the stream).
    ui_url: str | None = None


@dataclass
class PipelineStatus:
    parts: list[Part] = field(default_factory=list)
    topics: dict[str, dict[str, int]] = field(default_factory=dict)  # topic → partition → end
    lag: int | None = None
    rows_stored: int | None = None
    rows_rejected: int | None = None
    last_batch: dict[str, Any] | None = None
    last_dag_run: dict[str, Any] | None = None
    #: The stream's own status (``streaming.control.report``): health, reason, since, pids.
    stream: dict[str, Any] | None = None
    quality: dict[str, Any] | None = None
    #: Where the live dashboard is (or would be) served.
    dashboard_url: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(p.healthy for p in self.parts)

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {**asdict(self), "healthy": self.healthy}


def _stack_parts(settings: Settings) -> list[Part]:
    from userstream.stack.local import stack_status

    return [
        Part(
            s.name,
            s.running and s.healthy,
            s.address,
            s.pid,
            s.version or s.detail,
            s.metrics_url if s.running else None,
        )
        for s in stack_status(settings)
    ]


def _stream_part(settings: Settings, report: dict[str, Any]) -> Part:
    """The stream's line: healthy only when ``health.assess`` says so, with why and since."""
    totals = report.get("totals") or {}
    verdict = report.get("reason") or report.get("state") or "no progress yet"
    since = f" since {report['since']}" if report.get("since") else ""
    restarts = f"; driver restarted {report['restarts']}×" if report.get("restarts") else ""
    detail = (
        f"{verdict}{since}{restarts}; {totals.get('batches', 0)} batches, "
        f"{totals.get('stored', 0)} stored, {totals.get('rejected', 0)} rejected since start"
    )
    # A running driver's own master: `up --cluster` may have started it on another one.
    master = (report.get("pid") and driver_settings.running_master(settings)) or (
        settings.spark.master
    )
    return Part("spark stream", bool(report.get("healthy")), master,
                report.get("pid"), detail, report.get("metrics_url"),
                report.get("ui_url"))  # fmt: skip


def _airflow_part(settings: Settings) -> Part:
    from userstream.stack import airflow
    from userstream.stack.airflow import base_url

    states = airflow.status(settings)
    up = all(s.pid is not None for s in states)
    healthy = up and all(s.health == "healthy" for s in states)
    detail = ", ".join(f"{s.name}={s.health or ('up' if s.pid else 'down')}" for s in states)
    pid = states[0].pid if states else None
    return Part("airflow", healthy, base_url(settings.airflow), pid, detail)


def _source_part(settings: Settings) -> Part:
    chosen = read_source(settings.paths)
    if chosen is None:
        return Part("source", False, "", None, "not chosen yet: run `userstream up`")
    if chosen.get("kind") != "local":
        return Part("source", True, str(chosen.get("url")), None, str(chosen.get("description")))
    proc = process.running(settings.paths, FAKE_API)
    return Part("source", proc is not None, str(chosen.get("url")), proc.pid if proc else None,
                "local stand-in" if proc else "local stand-in is not running")  # fmt: skip


def _dashboard_part(settings: Settings) -> Part:
    proc = process.running(settings.paths, dashboard_name(settings.dashboard))
    detail = "live page" if proc else "not running: `userstream dashboard` or `userstream up`"
    url = dashboard_url(settings.dashboard)
    # It serves the producer runs' counts (the textfile pattern: producing/metrics.py).
    return Part("dashboard", proc is not None, url, proc.pid if proc else None, detail,
                f"{url}metrics" if proc else None)  # fmt: skip


def _monitoring_parts(settings: Settings, notes: list[str]) -> list[Part]:
    """Prometheus and the StatsD exporter: a part each when installed (``up`` starts them),
    a note saying how to get one that is not."""
    from userstream.host.net import answers_http
    from userstream.stack import monitoring as mon

    m = settings.monitoring
    wanted = (
        ("prometheus", m.prometheus_port, mon.prometheus_binary, mon.prometheus_name,
         mon.prometheus_url(m), "-/ready", mon.GET_PROMETHEUS),
        ("airflow metrics", m.statsd_port, mon.statsd_exporter_binary, mon.statsd_exporter_name,
         mon.statsd_metrics_url(m), "", mon.GET_STATSD_EXPORTER),
    )  # fmt: skip
    parts = []
    for label, port, binary, name, url, ready, get in wanted:
        proc = process.running(settings.paths, name(m)) if port else None
        if proc is not None:
            healthy = answers_http(url + ready)
            detail = "answers" if healthy else "running, not answering"
            metrics = url if url.endswith("/metrics") else f"{url}metrics"
            parts.append(Part(label, healthy, url, proc.pid, detail, metrics))
        elif port and binary() is not None:
            parts.append(Part(label, False, url, None, "not running: `userstream up` starts it"))
        elif port:
            notes.append(f"{label}: not installed ({get})")
    return parts


def _row_counts(settings: Settings) -> tuple[int | None, int | None]:
    from userstream.contract import PROFILES_TABLE, REJECTS_TABLE
    from userstream.store import queries, session

    ks = settings.cassandra.keyspace
    # A whole-table count is what this probe means to do; the server warns about it.
    logging.getLogger("cassandra.protocol").setLevel(logging.ERROR)
    with session(settings) as sess:
        return queries.count(sess, ks, PROFILES_TABLE), queries.count(sess, ks, REJECTS_TABLE)


def dag_runs(settings: Settings, limit: int = 1) -> list[dict[str, Any]]:
    """The pipeline DAG's last ``limit`` runs, newest first: id, state, start and end."""
    from userstream.stack import airflow_runs

    runs = airflow_runs.api(settings).get(
        f"/dags/{PIPELINE_DAG}/dagRuns", order_by="-run_after", limit=limit
    )
    items = runs.get("dag_runs") if isinstance(runs, dict) else None
    keys = ("dag_run_id", "state", "start_date", "end_date")
    return [{k: run.get(k) for k in keys} for run in items or []]


def _last_dag_run(settings: Settings) -> dict[str, Any] | None:
    return next(iter(dag_runs(settings)), None)


def _read_result(paths: StatePaths, name: str) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((paths.results / name).read_text())
        return data
    except (OSError, ValueError):
        return None


def gather(settings: Settings) -> PipelineStatus:
    """Probe everything; a failing probe becomes a note, never an exception."""
    status = PipelineStatus()

    def probe(what: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:  # status must answer whatever one probe does
            status.notes.append(f"{what}: {exc}")
            log.debug("status probe failed what=%s", what, exc_info=True)
            return None

    from userstream.kafka.topics import end_offsets
    from userstream.streaming import control

    # Read once: the stream's part, the last batch and the lag all come from it.
    state = probe("stream progress", control.last_progress, settings) or {}
    status.parts.extend(probe("kafka/cassandra", _stack_parts, settings) or [])
    # Asked whether or not a local process is healthy: the clients may point at an
    # external cluster. A broker or node that does not answer becomes a note.
    status.topics = probe("topics", end_offsets, settings.kafka) or {}
    lag = probe("lag", control.lag_from, settings.kafka, status.topics, state)
    status.lag = None if lag is None else sum(lag.values())
    status.stream = probe("stream", control.report, settings, state, lag)
    status.parts.append(
        _stream_part(settings, status.stream)
        if status.stream is not None
        else Part("stream", False, detail="could not be probed")
    )
    for what, fn in (
        ("airflow", _airflow_part),
        ("source", _source_part),
        ("dashboard", _dashboard_part),
    ):
        part = probe(what, fn, settings)
        status.parts.append(part or Part(what, False, detail="could not be probed"))
    status.parts.extend(probe("monitoring", _monitoring_parts, settings, status.notes) or [])
    exporter = next((p for p in status.parts if p.name == "airflow metrics" and p.pid), None)
    for part in status.parts:  # Airflow's own metrics are served by the exporter
        if part.name == "airflow" and exporter is not None:
            part.metrics_url = exporter.metrics_url
    status.last_batch = state.get("last_batch")
    counts = probe("rows", _row_counts, settings)
    if counts:
        status.rows_stored, status.rows_rejected = counts
    if any(p.name == "airflow" and p.healthy for p in status.parts):
        status.last_dag_run = probe("last DAG run", _last_dag_run, settings)
    status.quality = _read_result(settings.paths, "quality.json")
    status.dashboard_url = dashboard_url(settings.dashboard)
    return status
