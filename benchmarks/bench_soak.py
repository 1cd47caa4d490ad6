"""Soak with chaos: the whole pipeline for a while under a steady load, parts SIGKILLed.

What is measured: `userstream up --source local` (Airflow and its DAG runs included) in a
state folder of its own on free ports (see _private.py), fed by `userstream produce
--rate R` for --minutes. Every --chaos-every seconds, at a moment and on a part drawn at
random (--seed), one part is SIGKILLed: the stream's driver, its supervisor, the broker,
Cassandra, the producer mid-run, Airflow's scheduler or the schema registry. With --cluster
the pipeline is `userstream up --cluster` (three Kafka nodes, three Cassandra nodes, a
Spark master with two workers; docs/clusters.md), and the broker, Cassandra and a Spark
worker are one node of them drawn at random: replication is what should keep users
flowing through such a kill. Only the project's own supervision and its documented
restart path act:

- the driver is restarted by its supervisor;
- every other part is what a service manager keeps running (systemd's Restart=always):
  the benchmark plays that part and says so. RESTART_AFTER_S after the kill it runs
  `userstream up` (idempotent: it starts what is not running) when the part is still down,
  and it starts the producer again (with the next seed).

A kill is healed when the part runs again and a user produced after the kill is accounted
(stored, or rejected); the next kill waits for that. Every SAMPLE_EVERY_S it samples each
process's RSS and CPU (a part's children included) and the state folder's size per folder.
At the end, the producer stopped, it waits for the stream to drain and accounts: every
user in the topic (acknowledged to a producer, the killed ones' included) stored once or
rejected once; nothing else.

Figures: lost and doubled users; time to heal per kill; p99 latency (the producer's
ingested_at to WRITETIME in Cassandra, see bench_latency.py) per 10-minute window of
ingestion; RSS growth per part from minute 10 (or a third of a shorter run) to the end, and
its slope per hour; the state folder's growth per day (and over 30 days) per folder, and
that of everything but the users' rows and Kafka's messages (data/cassandra, data/kafka).

The targets (issue 28, 2 cores): 60 minutes at 300 users/s, a kill every 5 minutes:
0 lost, 0 doubled, RSS growth <= 10 % per part, p99 <= 2 s per window, non-data disk
<= 100 MB a day. Exit status 1 when a user was lost or doubled.

Usage: python benchmarks/bench_soak.py [--minutes 60] [--rate 300] [--chaos-every 300]
       [--seed 1] [--cluster] [--json]
With --json the last line of stdout is one object: {"minutes", "rate", "cluster", "produced",
"stored", "rejected", "lost", "doubled", "kills": [{"part", "process", "at_s", "healed_s",
"healed_by"}], "p99_ms_per_window": [...], "rss_growth_pct": {part: pct},
"rss_mb_per_hour": {part: mb}, "cpu_pct": {part: pct}, "disk_mb_per_day": {folder: mb},
"non_data_disk_mb_per_day": n, "loop_stall_s": s}.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from _private import private_environment
from _report import arg_parser, emit_json, loud, percentile
from cassandra.query import SimpleStatement
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from userstream.config import Settings, load_settings
from userstream.host import process
from userstream.host.state import folder_sizes
from userstream.kafka import client_config
from userstream.stack import cassandra, kafka, schema_registry, spark
from userstream.stack._airflow_env import process_name
from userstream.store import session
from userstream.streaming import supervisor

USERSTREAM = str(Path(sys.executable).with_name("userstream"))
QUIET = logging.getLogger("bench_soak.librdkafka")
QUIET.setLevel(logging.CRITICAL)
PARTS = ("driver", "supervisor", "broker", "cassandra", "producer", "scheduler", "registry")
#: On the local cluster a Spark worker too (one of them, like one broker or Cassandra node).
CLUSTER_PARTS = (*PARTS, "worker")
SERVICE_MANAGER = "the benchmark as a service manager"
#: What a service manager waits before it starts a dead part again (systemd's RestartSec).
RESTART_AFTER_S = 5.0
SAMPLE_EVERY_S = 30.0
#: A kill not healed within this long is reported as not healed.
HEAL_TIMEOUT_S = 600.0
#: The final drain ends when nothing more is accounted for this long.
DRAIN_IDLE_S = 180.0
WINDOW_S = 600
#: Folders whose growth is the users' own rows and Kafka's messages, not overhead.
DATA_FOLDERS = ("data/cassandra", "data/kafka", "data/cassandra-cluster", "data/kafka-cluster")


@dataclass
class Kill:
    part: str
    #: The process killed: its pid-file name (``kafka-2`` on the cluster), or the part.
    name: str
    pid: int
    at_s: float
    healed_s: float | None = None
    #: Not healed within HEAL_TIMEOUT_S: no longer waited for.
    gave_up: bool = False
    healed_by: str = "supervision"
    probe: tuple[int, int, str] | None = None  # partition, offset, key of a later user


@dataclass
class Sample:
    at_s: float
    rss_mb: dict[str, float]
    cpu_s: dict[str, float]
    disk_mb: dict[str, float]


@dataclass
class Soak:
    settings: Settings
    env: dict[str, str]
    workdir: Path
    rate: float
    seed: int
    cluster: bool = False
    started: float = field(default_factory=time.monotonic)
    producer: subprocess.Popen[bytes] | None = None
    producers: int = 0
    producer_died_at: float | None = None
    up: subprocess.Popen[bytes] | None = None
    ups: int = 0
    kills: list[Kill] = field(default_factory=list)
    stall_s: float = 0.0
    samples: list[Sample] = field(default_factory=list)

    def pending(self) -> Kill | None:
        """The last kill, while it is not healed."""
        last = self.kills[-1] if self.kills else None
        return last if last is not None and last.healed_s is None and not last.gave_up else None

    def now(self) -> float:
        return time.monotonic() - self.started

    def say(self, message: str) -> None:
        minutes, seconds = divmod(int(self.now()), 60)
        print(f"  {minutes:3d}:{seconds:02d}  {message}", flush=True)

    # The load and the service manager's part -------------------------------------------

    def start_producer(self) -> None:
        self.producers += 1
        log = (self.workdir / f"producer-{self.producers}.log").open("wb")
        self.producer = subprocess.Popen(
            [USERSTREAM, "produce", "--source", "local", "--rate", str(self.rate),
             "--seed", f"soak-{self.seed}-{self.producers}", "--no-progress"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def keep_running(self) -> None:
        """What a service manager does: start a dead producer again, and run `up` when a
        part it owns stayed down RESTART_AFTER_S after its kill."""
        if self.producer is not None and self.producer.poll() is not None:
            if self.producer_died_at is None:
                self.producer_died_at = self.now()
                self.say(f"the producer exited ({self.producer.returncode})")
            elif self.now() - self.producer_died_at >= RESTART_AFTER_S:
                self.producer_died_at = None
                self.start_producer()
                if self.kills and self.kills[-1].part == "producer":
                    self.kills[-1].healed_by = SERVICE_MANAGER
                self.say(f"the producer started again (a service manager's part), seed "
                         f"soak-{self.seed}-{self.producers}")  # fmt: skip
        if self.up is not None:
            if self.up.poll() is None:
                return
            if self.up.returncode != 0:
                self.say(f"`userstream up` failed ({self.up.returncode}): see up-{self.ups}.log")
            self.up = None
        pending = self.pending()
        if (
            pending is not None
            and pending.part not in ("driver", "producer")
            and self.now() - pending.at_s >= RESTART_AFTER_S
            and self.pid_of(pending.name) in (None, pending.pid)
        ):
            self.ups += 1
            pending.healed_by = f"`{' '.join(up_command(self.cluster)[1:])}`, {SERVICE_MANAGER}"
            self.say(f"{pending.name} is down: `userstream up`, as a service manager would")
            log = (self.workdir / f"up-{self.ups}.log").open("wb")
            self.up = subprocess.Popen(
                up_command(self.cluster), env=self.env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    # Parts ---------------------------------------------------------------------------------

    def process_of(self, part: str, chance: random.Random) -> str:
        """The process a kill of ``part`` hits: its pid-file name (on the cluster one node of
        the broker, Cassandra or the Spark workers, drawn by ``chance``), or the part itself
        for the driver and the producer."""
        s = self.settings
        if self.cluster and part in ("broker", "cassandra", "worker"):
            group = {
                "broker": [n.name for n in kafka.cluster_nodes(s)],
                "cassandra": [n.name for n in cassandra.cluster_nodes(s)],
                "worker": [n for n in spark.names(s.cluster) if n != spark.MASTER],
            }[part]
            return chance.choice(group)
        return {
            "supervisor": s.spark.job_name,
            "broker": kafka.NAME,
            "cassandra": cassandra.NAME,
            "registry": schema_registry.process_name(s.registry),
            "scheduler": process_name(s.airflow, "scheduler"),
        }.get(part, part)

    def pid_of(self, name: str) -> int | None:
        """The pid of the process ``name`` (see ``process_of``), None when it does not run."""
        if name == "producer":
            alive = self.producer is not None and self.producer.poll() is None
            return self.producer.pid if alive and self.producer else None
        if name == "driver":
            state = supervisor.read_state(self.settings) or {}
            pid = state.get("driver_pid")
            return int(pid) if pid and psutil.pid_exists(int(pid)) else None
        proc = process.running(self.settings.paths, name)
        return proc.pid if proc else None

    def kill(self, part: str, chance: random.Random) -> None:
        name = self.process_of(part, chance)
        pid = self.pid_of(name)
        if pid is None:
            self.say(f"{name} is not running: no kill")
            return
        at = self.now()
        os.kill(pid, signal.SIGKILL)
        self.kills.append(Kill(part, name, pid, at))
        self.say(f"SIGKILL {name} (pid {pid})")

    # Heal --------------------------------------------------------------------------------

    def check_heal(self, reader: TopicReader, cql: Any) -> None:
        kill = self.pending()
        if kill is None:
            return
        if self.now() - kill.at_s > HEAL_TIMEOUT_S:
            loud(f"{kill.name}, killed at {kill.at_s:.0f} s: not healed in {HEAL_TIMEOUT_S:.0f} s")
            kill.gave_up = True
            return
        if self.pid_of(kill.name) in (None, kill.pid):
            return  # not back yet (and the broker is not asked while it is the part down)
        if kill.probe is None:
            kill.probe = reader.first_after(self.wall(kill.at_s))
        if kill.probe is None:
            return
        if _accounted(cql, self.settings.kafka.topic, kill.probe):
            kill.healed_s = round(self.now() - kill.at_s, 1)
            self.say(f"{kill.name} healed in {kill.healed_s:.0f} s ({kill.healed_by})")

    def wall(self, at_s: float) -> float:
        """The wall-clock time (seconds since the epoch) of ``at_s`` into the run."""
        return time.time() - (self.now() - at_s)

    # Samples -----------------------------------------------------------------------------

    def sample(self) -> None:
        rss: dict[str, float] = {}
        cpu: dict[str, float] = {}
        names = [p.stem for p in self.settings.paths.run.glob("*.pid")]
        roots = {n: proc.pid for n in names if (proc := process.running(self.settings.paths, n))}
        if self.producer is not None and self.producer.poll() is None:
            roots["producer"] = self.producer.pid
        for name, pid in roots.items():
            try:
                root = psutil.Process(pid)
                tree = [root, *root.children(recursive=True)]
                rss[name] = sum(p.memory_info().rss for p in tree) / 2**20
                cpu[name] = sum(sum(p.cpu_times()[:2]) for p in tree)
            except psutil.Error:
                continue
        root = self.settings.paths.root
        disk = {k or "(top)": v / 2**20 for k, v in folder_sizes(root).items() if k != "lib"}
        disk.pop("data", None)
        for k, v in folder_sizes(root / "data").items():
            disk[f"data/{k}" if k else "data"] = v / 2**20
        self.samples.append(Sample(self.now(), rss, cpu, disk))


class TopicReader:
    """One consumer of the topic, for the first user after an instant and, at the end, for
    every key."""

    def __init__(self, settings: Settings) -> None:
        self.topic = settings.kafka.topic
        self.consumer = Consumer({
            **client_config.config(settings.kafka, "admin"),
            "group.id": f"bench-soak-{uuid.uuid4().hex[:10]}",
            "enable.auto.commit": False,
            # Its broker is killed on purpose: no line per refused connection.
            "logger": QUIET,
        })  # fmt: skip

    def close(self) -> None:
        self.consumer.close()

    def _partitions(self) -> list[int]:
        return list(self.consumer.list_topics(self.topic, timeout=10).topics[self.topic].partitions)

    def first_after(self, wall_s: float) -> tuple[int, int, str] | None:
        """(partition, offset, key) of a message appended after ``wall_s``; None while none is
        (or the broker does not answer)."""
        try:
            asked = [TopicPartition(self.topic, p, int(wall_s * 1000)) for p in self._partitions()]
            found = [
                tp for tp in self.consumer.offsets_for_times(asked, timeout=5) if tp.offset >= 0
            ]
            if not found:
                return None
            self.consumer.assign(found[:1])
            msg = self.consumer.poll(5)
        except Exception:
            return None
        if msg is None or msg.error() is not None:
            return None
        key, partition, offset = msg.key(), msg.partition(), msg.offset()
        if key is None or partition is None or offset is None:
            return None
        return partition, offset, key.decode()

    def keys(self) -> tuple[set[str], int]:
        """Every key in the topic and the number of messages, read from the beginning to the
        end offsets seen now."""
        ends = {
            p: self.consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)[1]
            for p in self._partitions()
        }
        todo = {p for p, end in ends.items() if end > 0}
        self.consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in todo])
        keys: set[str] = set()
        messages = 0
        while todo:
            for msg in self.consumer.consume(10_000, timeout=5):
                if msg.error() is not None:
                    continue
                messages += 1
                key, partition, offset = msg.key(), msg.partition(), msg.offset()
                if key is not None:
                    keys.add(key.decode())
                if partition is not None and offset is not None and offset + 1 >= ends[partition]:
                    todo.discard(partition)
        return keys, messages


def _accounted(cql: Any, topic: str, probe: tuple[int, int, str]) -> bool:
    partition, offset, key = probe
    try:
        if cql.execute("SELECT id FROM user_profiles WHERE id = %s", (uuid.UUID(key),)).one():
            return True
        return bool(cql.execute(
            "SELECT raw_key FROM user_profiles_rejects "
            "WHERE topic = %s AND kafka_partition = %s AND kafka_offset = %s",
            (topic, partition, offset),
        ).one())  # fmt: skip
    except ValueError:  # not a uuid: only a reject can account for it
        return False
    except Exception:
        return False


@dataclass
class Accounts:
    produced: int
    messages: int
    stored: int
    rejected: int
    lost: int
    doubled: int
    latencies: dict[int, list[float]]  # 10-minute window → ms


def _read_accounts(
    soak: Soak, reader: TopicReader, cql: Any
) -> tuple[set[str], int, dict[str, tuple[int | None, int | None]], set[str]]:
    """The topic's keys and message count, the stored ids with their ingested_at (ms) and
    write time (µs), the rejected keys: one read of each."""
    keys, messages = reader.keys()
    query = SimpleStatement(
        "SELECT id, toUnixTimestamp(ingested_at), WRITETIME(first_name) FROM user_profiles",
        fetch_size=10_000,
    )
    stored = {str(r[0]): (r[1], r[2]) for r in cql.execute(query, timeout=120)}
    rejects = SimpleStatement("SELECT topic, raw_key FROM user_profiles_rejects", fetch_size=10_000)
    topic = soak.settings.kafka.topic
    rejected = {
        str(r.raw_key) for r in cql.execute(rejects, timeout=120) if r.raw_key and r.topic == topic
    }
    return keys, messages, stored, rejected


def account(soak: Soak, reader: TopicReader, cql: Any, start_ms: float) -> Accounts:
    """Wait until every user of the topic is stored or rejected (or nothing more is for
    DRAIN_IDLE_S); then count, and take each stored user's latency from the same read."""
    last_change, last_open = time.monotonic(), -1
    while True:
        try:
            keys, messages, stored, rejected = _read_accounts(soak, reader, cql)
        except Exception as exc:
            soak.say(f"accounting: could not read ({exc}); again in 15 s")
            time.sleep(15)
            continue
        open_ = len(keys - stored.keys() - rejected)
        soak.say(f"accounting: {len(keys):,} users in the topic, "
                 f"{len(stored.keys() & keys):,} stored, {len(rejected & keys):,} rejected, "
                 f"{open_:,} not yet")  # fmt: skip
        if open_ != last_open:
            last_change, last_open = time.monotonic(), open_
        if open_ == 0 or time.monotonic() - last_change > DRAIN_IDLE_S:
            break
        time.sleep(15)
    latencies: dict[int, list[float]] = {}
    for ingested_ms, written_us in stored.values():
        if ingested_ms is not None and written_us is not None and ingested_ms >= start_ms:
            window = int((ingested_ms - start_ms) // (WINDOW_S * 1000))
            latencies.setdefault(window, []).append(written_us / 1000 - ingested_ms)
    return Accounts(
        produced=len(keys),
        messages=messages,
        stored=len(stored.keys() & keys),
        rejected=len(rejected & keys),
        lost=open_,
        doubled=len(stored.keys() & rejected & keys),
        latencies=latencies,
    )


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _slope_per_hour(points: list[tuple[float, float]]) -> float:
    """The least-squares slope of (seconds, value) points, per hour."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    return 0.0 if var == 0 else 3600 * sum((t - mean_t) * (v - mean_v) for t, v in points) / var


def growth(samples: list[Sample], settle_s: float, pick: Callable[[Sample], dict[str, float]]
           ) -> tuple[dict[str, float], dict[str, float]]:  # fmt: skip
    """Per name: growth in % from the samples of the first minutes after ``settle_s`` to those
    of the last minutes, and the slope per hour over every sample after ``settle_s``."""
    late = [s for s in samples if s.at_s >= settle_s]
    span = max(1, len(late) // 6)
    pct: dict[str, float] = {}
    slope: dict[str, float] = {}
    for name in sorted({n for s in late for n in pick(s)}):
        series = [(s.at_s, pick(s)[name]) for s in late if name in pick(s)]
        if len(series) < 4:
            continue
        first = _median([v for _, v in series[:span]])
        last = _median([v for _, v in series[-span:]])
        pct[name] = round(100 * (last - first) / first, 1) if first else 0.0
        slope[name] = round(_slope_per_hour(series), 1)
    return pct, slope


def cpu_shares(samples: list[Sample]) -> dict[str, float]:
    """Per name, the CPU it used over the run in % of one core (a restart's CPU time starts
    again from 0: those intervals are left out)."""
    used: dict[str, float] = {}
    for before, after in itertools.pairwise(samples):
        for name, seconds in after.cpu_s.items():
            if seconds >= before.cpu_s.get(name, float("inf")):
                used[name] = used.get(name, 0.0) + seconds - before.cpu_s[name]
    span = samples[-1].at_s - samples[0].at_s if len(samples) > 1 else 0
    return {name: round(100 * s / span, 1) for name, s in sorted(used.items())} if span else {}


def up_command(cluster: bool) -> list[str]:
    """`userstream up` of the pipeline measured (idempotent: it starts what does not run)."""
    return [USERSTREAM, "up", *(["--cluster"] if cluster else []), "--source", "local"]


def run(args: Any, env: dict[str, str], workdir: Path) -> dict[str, Any]:
    os.environ.update(env)  # this process acts on the private pipeline from here on
    up = subprocess.run(up_command(args.cluster), env=env, capture_output=True, text=True,
                        timeout=1800, check=False)  # fmt: skip
    if up.returncode != 0:
        raise RuntimeError("`userstream up` failed:\n" + (up.stdout + up.stderr)[-4000:])
    # Read after `up`: the state folder now says whether the pipeline is the local cluster.
    settings = load_settings()
    print(
        "measured: the whole pipeline (`up`, Airflow's runs included) under a steady load, "
        "parts SIGKILLed; only its supervision and the documented `up` heal them",
        flush=True,
    )
    chance = random.Random(args.seed)
    soak = Soak(settings, env, workdir, args.rate, args.seed, cluster=args.cluster)
    parts = CLUSTER_PARTS if args.cluster else PARTS
    start_ms = time.time() * 1000
    soak.start_producer()
    reader = TopicReader(settings)
    end_s = args.minutes * 60
    next_kill = chance.uniform(0.5, 1.0) * args.chaos_every
    next_sample = 0.0
    try:
        with session(settings, keyspace=settings.cassandra.keyspace) as cql:
            last_turn = soak.now()
            while soak.now() < end_s:
                # How late a turn of this loop came: kills, samples and heal checks wait for it.
                soak.stall_s = max(soak.stall_s, soak.now() - last_turn - 1)
                last_turn = soak.now()
                soak.keep_running()
                soak.check_heal(reader, cql)
                if soak.now() >= next_sample:
                    soak.sample()
                    next_sample += SAMPLE_EVERY_S
                if soak.now() >= next_kill and not soak.pending() and soak.up is None:
                    soak.kill(chance.choice(parts), chance)
                    window = (int(soak.now() // args.chaos_every) + 1) * args.chaos_every
                    next_kill = window + chance.uniform(0, args.chaos_every)
                time.sleep(1)
            soak.sample()
            soak.say("the load ends; the last kill heals first") if soak.pending() else None
            while soak.pending() or soak.up is not None:
                soak.keep_running()
                soak.check_heal(reader, cql)
                time.sleep(1)
            if soak.producer is not None:
                soak.producer.send_signal(signal.SIGTERM)
                soak.producer.wait(timeout=300)
            soak.say("the producer stopped; waiting for the stream to drain")
            accounts = account(soak, reader, cql, start_ms)
    finally:
        reader.close()
    return report(args, soak, accounts)


def report(args: Any, soak: Soak, a: Accounts) -> dict[str, Any]:
    settle = min(600.0, args.minutes * 60 / 3)
    rss_pct, rss_slope = growth(soak.samples, settle, lambda s: s.rss_mb)
    first = next(s for s in soak.samples if s.at_s >= settle)
    last = soak.samples[-1]
    days = (last.at_s - first.at_s) / 86400
    disk_day = {
        name: round((last.disk_mb.get(name, 0) - first.disk_mb.get(name, 0)) / days, 1)
        for name in sorted(set(first.disk_mb) | set(last.disk_mb))
    } if days > 0 else {}  # fmt: skip
    non_data = round(sum(v for k, v in disk_day.items() if k not in DATA_FOLDERS), 1)
    p99s = [round(percentile(sorted(a.latencies[w]), 99)) for w in sorted(a.latencies)]
    print(f"\n{a.produced:,} users produced ({a.messages:,} messages; {soak.producers} producer "
          f"runs and Airflow's), {a.stored:,} stored, {a.rejected:,} rejected: "
          f"{a.lost:,} lost, {a.doubled:,} doubled")  # fmt: skip
    for k in soak.kills:
        healed = "not healed" if k.healed_s is None else (
            f"healed in {k.healed_s:.0f} s by {k.healed_by}")  # fmt: skip
        print(f"  kill at {k.at_s:6.0f} s: {k.name:<12} {healed}")
    print(f"p99 per {WINDOW_S // 60}-minute window (ms): {p99s}")
    print(f"the benchmark's own loop came up to {soak.stall_s:.0f} s late (kills and samples wait)")
    cpu = cpu_shares(soak.samples)
    print(f"RSS from minute {settle / 60:.0f} to the end (growth, slope), CPU over the run:")
    for name in rss_pct:
        print(f"  {name:<40} {rss_pct[name]:6.1f} %  {rss_slope[name]:8.1f} MB/h  "
              f"now {last.rss_mb.get(name, 0):6.0f} MB  CPU {cpu.get(name, 0):5.1f} %")  # fmt: skip
    print("state folder growth (MB/day; 30 days):")
    for name, mb in disk_day.items():
        print(f"  {name:<20} {mb:10.1f}  {30 * mb:10.0f}")
    print(f"everything but {', '.join(DATA_FOLDERS)}: {non_data:.1f} MB/day")
    logs = sorted(
        ((p.name, p.stat().st_size / 2**20) for p in soak.settings.paths.logs.glob("*.log*")),
        key=lambda item: -item[1],
    )
    print("largest logs now (MB): " + ", ".join(f"{name} {mb:.1f}" for name, mb in logs[:6]))
    if a.lost or a.doubled:
        loud(f"{a.lost} users lost, {a.doubled} doubled")
    return {
        "minutes": args.minutes,
        "rate": args.rate,
        "cluster": args.cluster,
        "chaos_every": args.chaos_every,
        "seed": args.seed,
        "produced": a.produced,
        "stored": a.stored,
        "rejected": a.rejected,
        "lost": a.lost,
        "doubled": a.doubled,
        "kills": [
            {
                "part": k.part,
                "process": k.name,
                "at_s": round(k.at_s),
                "healed_by": k.healed_by,
                "healed_s": k.healed_s,
            }
            for k in soak.kills
        ],
        "p99_ms_per_window": p99s,
        "rss_growth_pct": rss_pct,
        "rss_mb_per_hour": rss_slope,
        "cpu_pct": cpu,
        "disk_mb_per_day": disk_day,
        "non_data_disk_mb_per_day": non_data,
        "loop_stall_s": round(soak.stall_s, 1),
    }


def main() -> int:
    parser = arg_parser(__doc__ or "")
    parser.add_argument("--minutes", type=float, default=60.0, help="how long the load runs")
    parser.add_argument("--rate", type=float, default=300.0, help="users per second produced")
    parser.add_argument(
        "--chaos-every",
        type=float,
        default=300.0,
        help="seconds between kills (one at a random moment of each window)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the kills' moments and parts")
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="the local cluster (`up --cluster`); a kill of the broker, Cassandra or a Spark "
        "worker hits one node of them",
    )
    args = parser.parse_args()
    # A SIGTERM (Ctrl-C's cousin) leaves through the ``finally`` below: `down` runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="bench_soak_"))
    env = private_environment(workdir / "state")
    failed = True
    try:
        figures = run(args, env, workdir)
        failed = bool(figures["lost"] or figures["doubled"])
        emit_json(args.json, figures)
    finally:
        subprocess.run([USERSTREAM, "down"], env=env, capture_output=True, timeout=600, check=False)
        if failed:
            print(f"the run's folder is kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
