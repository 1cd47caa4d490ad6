"""The same load on the single-node stack and on the local cluster: users/s, latency, and the
CPU each stage spends per 1,000 users.

For each mode (--modes, default single,cluster), in a state folder of its own on free ports
(the user's stack, data and settings are not touched; the fetched jars are shared):

1. start the stack: single — one Kafka node, one Cassandra node, the stream on local[2];
   cluster — three Kafka nodes, three Cassandra nodes and a Spark standalone master with
   its workers (``stack up --cluster``), the stream on that master;
2. start the stream on a scratch pipeline (see _scratch.py) and warm it up (--warmup s at
   the rate, not counted);
3. produce --rate users/s for --seconds with the real producer and the in-process stand-in
   API, wait until the job has processed the whole topic, and read every row's
   ``ingested_at`` and ``WRITETIME(first_name)`` back (as bench_latency.py does);
4. CPU: user + system seconds of every process of each stage over the measured window,
   from /proc (psutil), per 1,000 users stored — producer: this process while it produces
   (the producer and the stand-in API); broker: the Kafka nodes; spark: the stream's
   supervisor, driver, driver JVM and, on the cluster, the master, the workers and their
   executors; cassandra: the Cassandra nodes. Machine: all CPU of the machine (every
   process, /proc/stat) over the same window, in cores. Memory: each stage's resident
   memory (RSS) at the end of the window.

With --json the last line of stdout is one JSON object:
  {"rate", "seconds", "cores", "modes": {"single": M, "cluster": M}} where M is
  {"produced", "stored", "users_per_s", "p50_ms", "p95_ms", "p99_ms", "max_ms",
   "cpu_s_per_1000": {"producer", "broker", "spark", "cassandra"}, "machine_cores_busy",
   "rss_mb": {"broker", "spark", "cassandra"}, "start_s"}
  (users_per_s: users stored / the time from the first produced until the job had
  processed the whole topic, seen by polling every 0.5 s).

Each mode starts and stops its own stack (the cluster takes a few minutes to start here);
the user's running stack, if any, keeps running beside it and shares the machine.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import psutil
from _report import arg_parser, emit_json, job_settings, loud
from _scratch import scratch_pipeline
from bench_latency import Rig

from userstream.config import Settings, load_settings
from userstream.host import process
from userstream.host.net import free_ports
from userstream.host.state import ensure_layout
from userstream.pipeline import on_local_cluster
from userstream.producing.run import run_producer
from userstream.source.standin.server import FakeApiServer
from userstream.stack import cassandra, kafka, spark
from userstream.stack.local import stack_down, stack_up
from userstream.streaming import control

STAGES = ("producer", "broker", "spark", "cassandra")
MODES = ("single", "cluster")


@contextmanager
def private_stack(mode: str) -> Iterator[tuple[Settings, float]]:
    """A stack of ``mode`` in a fresh state folder on free ports (the user's fetched jars
    linked in), running; its settings and the seconds it took to start. Stopped and
    removed on exit."""
    shared = load_settings()
    ensure_layout(shared.paths)
    root = Path(tempfile.mkdtemp(prefix="userstream-bench-scaling-"))
    kp, kc, km, cp, cs, cm, mp, mu, sm = free_ports(9)
    settings = load_settings(
        state_dir=root / "state",
        kafka={"port": kp, "controller_port": kc, "metrics_port": km,
               "bootstrap_servers": f"127.0.0.1:{kp}"},
        cassandra={"port": cp, "storage_port": cs, "metrics_port": cm},
        cluster={"spark_master_port": mp, "spark_master_ui_port": mu},
        spark={"metrics_port": sm},
    )  # fmt: skip
    settings.paths.root.mkdir(parents=True)
    settings.paths.lib.symlink_to(shared.paths.lib, target_is_directory=True)
    cluster = mode == "cluster"
    if cluster:
        settings = on_local_cluster(settings)
        # The one stream measured takes every worker's cores (a stream's default is half).
        c = settings.cluster
        every_core = c.spark_workers * c.spark_worker_cores
        settings = settings.model_copy(
            update={"spark": settings.spark.model_copy(update={"cores_max": every_core})}
        )
    try:
        started = time.monotonic()
        stack_up(settings, cluster=cluster, progress=lambda line: print(f"  {line}", flush=True))
        yield settings, time.monotonic() - started
    finally:
        stack_down(settings, progress=lambda _line: None)
        shutil.rmtree(root, ignore_errors=True)


def _tree(pid: int | None) -> list[psutil.Process]:
    if pid is None:
        return []
    try:
        top = psutil.Process(pid)
        return [top, *top.children(recursive=True)]
    except psutil.Error:
        return []


def _stage_processes(settings: Settings) -> dict[str, list[psutil.Process]]:
    paths = settings.paths

    def of(names: list[str]) -> list[psutil.Process]:
        found = []
        for name in names:
            proc = process.running(paths, name)
            found.extend(_tree(proc.pid if proc else None))
        return found

    every_kafka = [kafka.NAME, *(n.name for n in kafka.cluster_nodes(settings))]
    every_cassandra = [cassandra.NAME, *(n.name for n in cassandra.cluster_nodes(settings))]
    return {
        "producer": [psutil.Process(os.getpid())],
        "broker": of(every_kafka),
        # The supervisor's tree: the driver and its JVM; on the cluster also the master and
        # the workers' trees (their executors).
        "spark": of([settings.spark.job_name, *spark.names(settings.cluster)]),
        "cassandra": of(every_cassandra),
    }


def _cpu(procs: list[psutil.Process]) -> dict[int, float]:
    times = {}
    for proc in procs:
        try:
            t = proc.cpu_times()
            times[proc.pid] = t.user + t.system
        except psutil.Error:
            continue
    return times


def _rss_mb(procs: list[psutil.Process]) -> int:
    """Resident memory of ``procs`` together, in MB."""
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return round(total / 1e6)


def _spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two readings; a process new in ``after`` counts from zero."""
    return sum(after[pid] - before.get(pid, 0.0) for pid in after)


def _machine_busy() -> float:
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + t.steal


def measure(settings: Settings, api_url: str, rate: float, seconds: float) -> dict[str, Any]:
    """Produce ``rate`` users/s for ``seconds``; the figures of that window."""
    rig = Rig(settings, api_url)
    before = {stage: _cpu(procs) for stage, procs in _stage_processes(settings).items()}
    machine, wall = _machine_busy(), time.monotonic()
    start_ms = time.time_ns() // 1_000_000
    summary = run_producer(
        settings, source_url=api_url, count=max(1, round(rate * seconds)), rate=rate
    )
    produced_cpu = _spent(before["producer"], _cpu([psutil.Process(os.getpid())]))
    end_ms = time.time_ns() // 1_000_000 + 1
    rig.wait_processed()
    span = time.monotonic() - wall
    procs_after = _stage_processes(settings)
    after = {stage: _cpu(procs) for stage, procs in procs_after.items()}
    rss = {stage: _rss_mb(procs) for stage, procs in procs_after.items() if stage != "producer"}
    busy = (_machine_busy() - machine) / (time.monotonic() - wall)
    step = rig.read_back(rate, summary.produced, summary.users_per_s, start_ms, end_ms)
    spent = {stage: _spent(before[stage], after[stage]) for stage in STAGES}
    spent["producer"] = produced_cpu
    per_thousand = {
        stage: round(cpu / max(step.stored, 1) * 1000, 3) for stage, cpu in spent.items()
    }
    if step.lost:
        loud(f"STORED {step.stored:,} OF {step.produced:,} USERS ({settings.spark.master})")
    return {
        "produced": step.produced,
        "stored": step.stored,
        "users_per_s": round(step.stored / span),
        **{k: v for k, v in step.figures.items() if k != "rate"},
        "cpu_s_per_1000": per_thousand,
        "machine_cores_busy": round(busy, 2),
        "rss_mb": rss,
    }


def run_mode(mode: str, rate: float, seconds: float, warmup: float) -> dict[str, Any]:
    print(f"== {mode}: starting its stack", flush=True)
    with ExitStack() as stack:
        base, start_s = stack.enter_context(private_stack(mode))
        api = stack.enter_context(FakeApiServer())
        settings = stack.enter_context(scratch_pipeline(f"bench_scaling_{mode}", base))
        print(f"  stack up in {start_s:.0f} s; job: {job_settings(settings)}", flush=True)
        control.start(settings)
        if warmup:
            Rig(settings, api.url).measure(rate, warmup)
        figures = measure(settings, api.url, rate, seconds)
        figures["start_s"] = round(start_s)
    return figures


_ROW = "{:<8} {:>9} {:>8} {:>7} {:>7} {:>7}  {:>8} {:>7} {:>7} {:>9} {:>6} {:>6}"


def report(modes: dict[str, dict[str, Any]]) -> None:
    header = ("mode", "stored", "users/s", "p50", "p95", "p99", *STAGES, "total", "busy")
    print(_ROW.format(*header))
    for mode, f in modes.items():
        cpu = f["cpu_s_per_1000"]
        latency = [f"{f[k]:,}" if f[k] is not None else "-" for k in ("p50_ms", "p95_ms", "p99_ms")]
        stages = [f"{cpu[s]:.2f}" for s in STAGES]
        total, busy = f"{sum(cpu.values()):.2f}", f"{f['machine_cores_busy']:.2f}"
        print(_ROW.format(mode, f"{f['stored']:,}", f"{f['users_per_s']:,}", *latency, *stages,
                          total, busy))  # fmt: skip
    for mode, f in modes.items():
        memory = ", ".join(f"{stage} {mb:,} MB" for stage, mb in f["rss_mb"].items())
        print(f"{mode}: resident memory {memory}")
    print(
        "latency in ms (ingested_at -> WRITETIME); CPU in CPU-seconds per 1,000 users stored; "
        f"busy: cores of this machine in use over the window ({psutil.cpu_count()} in all)"
    )


def _arguments() -> Any:
    parser = arg_parser(__doc__ or "")
    parser.add_argument("--rate", type=float, default=500.0, help="users/s (default 500)")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument(
        "--warmup", type=float, default=20.0, help="seconds at the rate first, not counted"
    )
    parser.add_argument(
        "--modes", default=",".join(MODES), help="comma-separated: single, cluster (default both)"
    )
    args = parser.parse_args()
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not args.modes or set(args.modes) - set(MODES):
        parser.error(f"--modes takes {', '.join(MODES)}")
    if args.rate <= 0 or args.seconds <= 0 or args.warmup < 0:
        parser.error("--rate and --seconds must be positive, --warmup 0 or more")
    return args


def main() -> None:
    args = _arguments()
    print(
        f"load: {args.rate:,.0f} users/s for {args.seconds:g} s after {args.warmup:g} s of "
        f"warm-up, on each of: {', '.join(args.modes)}",
        flush=True,
    )
    modes = {mode: run_mode(mode, args.rate, args.seconds, args.warmup) for mode in args.modes}
    report(modes)
    emit_json(
        args.json,
        {"rate": args.rate, "seconds": args.seconds, "cores": psutil.cpu_count(), "modes": modes},
    )
    if any(f["stored"] < f["produced"] for f in modes.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
