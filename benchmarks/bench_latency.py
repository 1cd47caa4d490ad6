"""End-to-end latency as users feel it, at a fixed input rate: produced → row written.

What is measured: for every stored user, the time from ``ingested_at`` (stamped by the real
producer when it hands the message to Kafka, carried in a header and stored in the row) to
``WRITETIME(first_name)`` (when Cassandra wrote the row: the job writes all of a row's
columns in one INSERT without USING TIMESTAMP). Every stored user counts; no warm-up is
excluded unless --warmup is given, and then the output says so. Both times come from this
machine's clock (on a cluster: the producer host's and the Cassandra coordinator's, so keep
them in sync).

How: a scratch pipeline (own topic, keyspace, checkpoint and job name; see _scratch.py);
the stream started with ``control.start`` with the configured trigger interval,
maxOffsetsPerTrigger and master (what a user runs with; change them with
USERSTREAM_SPARK__... variables); the in-process stand-in API; ``run_producer`` at the
fixed rate. The producer asks for pages of about one second of users and spreads each over
its second (slices of 1/20 s), like a real run. After producing, the benchmark waits until
the job has processed the whole topic (no lag) or has made no progress for 60 s, then reads each
row's two times back. A stored count below the produced count is printed loudly, and the
exit status is then 1.

--sweep runs several rates on one running stream (--rates, default 200,1000,5000), then
searches for the highest rate whose p99 stays within --target-p99-ms (default 2000):
doubling from the best passing rate until one fails, then bisecting (geometric mean), for
--search-steps steps at most. A rate passes when every user was stored, the producer
reached 90 % of the asked rate, and p99 <= target. Each step starts once the previous one
is stored, and counts only the users ingested during its own window.

With --json the last line of stdout is one JSON object:
  single run: {"rate", "produced", "stored", "p50_ms", "p95_ms", "p99_ms", "max_ms"}
      rate: users/s asked; latencies in whole ms, null when nothing was stored.
  --sweep:    {"target_p99_ms": 2000, "max_rate_within_target": <rate or null>,
               "steps": [<an object of the single-run shape per rate, in the order run>]}

Starts the local Kafka and Cassandra when they do not answer (and leaves them running, as
`userstream stack up` does). Everything it creates is removed after.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from _report import arg_parser, emit_json, job_settings, latency_figures, loud
from _scratch import scratch_pipeline
from cassandra.query import SimpleStatement

from userstream.config import Settings
from userstream.errors import UserstreamError
from userstream.producing.plan import page_size
from userstream.producing.run import run_producer
from userstream.source.standin.server import FakeApiServer
from userstream.store import session
from userstream.streaming import control

#: How long the job may make no progress before the wait for the last users ends.
IDLE_S = 60.0
#: The wait for the last users ends after this long even while the job progresses.
MAX_WAIT_S = 1800.0
#: A step whose producer reached less than this share of the asked rate is not a pass.
RATE_SHORTFALL = 0.9
#: Rates the search never leaves (users/s).
SEARCH_BOUNDS = (10.0, 100_000.0)
#: The search stops when the failing rate is within this factor of the passing one.
SEARCH_PRECISION = 1.2

MEASURED = (
    "measured: latency as users feel it, from the producer's ingested_at (stored in the "
    "row) to WRITETIME(first_name) in Cassandra (when the row was written)"
)


@dataclass
class Step:
    """One rate, measured: what was produced, what was stored and how late."""

    rate: float
    produced: int
    achieved: float
    stored: int
    latencies_ms: list[float]
    no_write_time: int = 0
    #: The micro-batches seen during the step: Spark's durationMs per phase, and rows.
    batches: list[dict[str, Any]] = field(default_factory=list)
    figures: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.figures = latency_figures(self.latencies_ms)

    @property
    def lost(self) -> int:
        return self.produced - self.stored

    @property
    def short(self) -> bool:
        return self.achieved < RATE_SHORTFALL * self.rate

    def passes(self, target_ms: float) -> bool:
        p99 = self.figures["p99_ms"]
        return not self.lost and not self.short and p99 is not None and p99 <= target_ms

    def as_json(self) -> dict[str, Any]:
        return {
            "rate": _number(self.rate),
            "produced": self.produced,
            "stored": self.stored,
            **self.figures,
            "batches": batch_figures(self.batches),
        }


#: Spark's phases of a micro-batch worth showing (``StreamingQueryProgress.durationMs``):
#: the whole trigger, the write (``foreachBatch``), the offsets asked of Kafka, the
#: offset log written before the batch, and the commit log after it.
PHASES = ("triggerExecution", "addBatch", "latestOffset", "walCommit", "commitOffsets")


def batch_figures(batches: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-batch figures: how many, rows per batch (median), and each phase's median and
    largest duration in ms (phases Spark did not report are left out)."""
    if not batches:
        return {"count": 0}
    figures: dict[str, Any] = {
        "count": len(batches),
        "rows_p50": statistics.median(b.get("num_input_rows") or 0 for b in batches),
    }
    for phase in PHASES:
        values = [
            d[phase] for b in batches if isinstance(d := b.get("durations_ms"), dict) and phase in d
        ]
        if values:
            figures[f"{phase}_ms"] = {"p50": statistics.median(values), "max": max(values)}
    return figures


class BatchSampler:
    """Reads the stream's progress file every ``every_s`` while a step runs and keeps each
    micro-batch once (by id): the progress file holds only the last one."""

    def __init__(self, settings: Settings, every_s: float = 0.1) -> None:
        self.settings = settings
        self.every_s = every_s
        self.batches: dict[int, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="batch-sampler", daemon=True)

    def __enter__(self) -> BatchSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            last = (control.last_progress(self.settings) or {}).get("last_batch") or {}
            batch_id = last.get("batch_id")
            if isinstance(batch_id, int) and last.get("num_input_rows"):
                self.batches.setdefault(batch_id, last)


class Rig:
    """A running stream on a scratch pipeline, the stand-in API, and the producer."""

    def __init__(self, settings: Settings, api_url: str) -> None:
        self.settings = settings
        self.api_url = api_url

    def measure(self, rate: float, seconds: float) -> Step:
        """Produce ``rate`` users/s for ``seconds``, wait until stored, read the times."""
        start_ms = time.time_ns() // 1_000_000
        with BatchSampler(self.settings) as sampler:
            summary = run_producer(
                self.settings,
                source_url=self.api_url,
                count=max(1, round(rate * seconds)),
                rate=rate,
            )
        end_ms = time.time_ns() // 1_000_000 + 1
        self.wait_processed()
        step = self.read_back(rate, summary.produced, summary.users_per_s, start_ms, end_ms)
        step.batches = list(sampler.batches.values())
        if step.lost:
            state = control.last_progress(self.settings) or {}
            loud(
                f"STORED {step.stored:,} OF {step.produced:,} USERS at {rate:g}/s: "
                f"{step.lost:,} missing after the wait (stream state {state.get('state')!r}, "
                f"log {self.settings.paths.log_file(self.settings.spark.job_name)})"
            )
        if step.short:
            loud(f"the producer reached {step.achieved:,.0f} of {rate:,.0f} users/s asked")
        if step.no_write_time:
            loud(f"{step.no_write_time:,} stored rows have no first_name, so no write time")
        return step

    def wait_processed(self) -> None:
        """Until the job has processed the whole topic, or makes no progress for IDLE_S."""
        seen: object = None
        changed = time.monotonic()
        deadline = changed + MAX_WAIT_S
        while time.monotonic() < deadline:
            state = control.last_progress(self.settings) or {}
            lag = control.lag(self.settings, state)
            if lag is not None and not any(lag.values()):
                return
            marker = ((state.get("last_batch") or {}).get("batch_id"), state.get("totals"))
            if marker != seen:
                seen, changed = marker, time.monotonic()
            elif time.monotonic() - changed > IDLE_S:
                return
            time.sleep(0.5)

    def read_back(
        self, rate: float, produced: int, achieved: float, start_ms: int, end_ms: int
    ) -> Step:
        query = SimpleStatement(
            "SELECT toUnixTimestamp(ingested_at), WRITETIME(first_name) FROM user_profiles",
            fetch_size=5000,
        )
        stored = no_write_time = 0
        latencies: list[float] = []
        with session(self.settings, self.settings.cassandra.keyspace) as sess:
            for ingested_ms, written_us in sess.execute(query, timeout=120):
                # Only this step's users: earlier steps are in the same table.
                if ingested_ms is None or not start_ms <= ingested_ms <= end_ms:
                    continue
                stored += 1
                if written_us is None:
                    no_write_time += 1
                else:
                    latencies.append(written_us / 1000 - ingested_ms)
        return Step(rate, produced, achieved, stored, latencies, no_write_time)


def _number(value: float) -> float | int:
    return int(value) if value.is_integer() else value


def single(rig: Rig, rate: float, seconds: float) -> Step:
    count = max(1, round(rate * seconds))
    page = page_size(rig.settings.source, count=count, batch_size=None, rate=rate)
    print(
        f"input: {rate:,.0f} users/s asked for {seconds:g} s ({count:,} users), "
        f"fetched in pages of {page:,} users, each spread over its second",
        flush=True,
    )
    step = rig.measure(rate, seconds)
    f = step.figures
    print(
        f"produced {step.produced:,} users at {step.achieved:,.0f} users/s; "
        f"stored {step.stored:,} of {step.produced:,}"
    )
    if f["p50_ms"] is None:
        loud("no user was stored: no latency to report")
    else:
        print(
            f"latency (ms): p50 {f['p50_ms']:,}  p95 {f['p95_ms']:,}  p99 {f['p99_ms']:,}  "
            f"max {f['max_ms']:,}"
        )
    print(f"micro-batches while producing: {_batches_line(batch_figures(step.batches))}")
    return step


def _batches_line(b: dict[str, Any]) -> str:
    if not b["count"]:
        return "none seen"
    phases = ", ".join(
        f"{phase} {b[key]['p50']:,.0f}/{b[key]['max']:,.0f}"
        for phase in PHASES
        if (key := f"{phase}_ms") in b
    )
    return f"{b['count']:,} seen, {b['rows_p50']:,.0f} rows each (median); ms median/max: {phases}"


_ROW = "{:>8} {:>9} {:>9} {:>9} {:>7} {:>7} {:>7} {:>7}  {}"


def sweep(
    rig: Rig, rates: list[float], seconds: float, target_ms: float, search_steps: int
) -> tuple[list[Step], float | None]:
    """The fixed rates, then the search; returns the steps and the best passing rate."""
    print(
        f"input: each step asks R users/s for {seconds:g} s, in pages of about a second of "
        "users, each spread over its second; pass: all stored, the producer reached "
        f"{RATE_SHORTFALL:.0%} of R, p99 <= {target_ms:,.0f} ms",
        flush=True,
    )
    print(_ROW.format("rate", "achieved", "produced", "stored", "p50", "p95", "p99", "max", "pass"))
    steps: list[Step] = []

    def run(rate: float) -> None:
        step = rig.measure(rate, seconds)
        steps.append(step)
        f = {k: "-" if v is None else f"{v:,}" for k, v in step.figures.items()}
        print(
            _ROW.format(
                f"{rate:,.0f}",
                f"{step.achieved:,.0f}",
                f"{step.produced:,}",
                f"{step.stored:,}",
                f["p50_ms"],
                f["p95_ms"],
                f["p99_ms"],
                f["max_ms"],
                "yes" if step.passes(target_ms) else "no",
            ),
            flush=True,
        )

    for rate in rates:
        run(rate)
    for _ in range(search_steps):
        searched = _next_rate(steps, target_ms)
        if searched is None:
            break
        run(searched)
    return steps, max((s.rate for s in steps if s.passes(target_ms)), default=None)


def _next_rate(steps: list[Step], target_ms: float) -> float | None:
    """The next rate to try, or None when the search is done."""
    best = max((s.rate for s in steps if s.passes(target_ms)), default=0.0)
    worst = min((s.rate for s in steps if not s.passes(target_ms) and s.rate > best), default=0)
    if worst and best and worst / best <= SEARCH_PRECISION:
        return None
    if not worst:
        rate = best * 2
    elif not best:
        rate = worst / 2
    else:
        rate = math.sqrt(best * worst)
    rate = float(f"{rate:.2g}")  # two significant digits: rates a reader can repeat
    tried = {s.rate for s in steps}
    low, high = SEARCH_BOUNDS
    return rate if low <= rate <= high and rate not in tried else None


def _arguments() -> argparse.Namespace:
    parser = arg_parser(__doc__ or "")
    parser.add_argument("--rate", type=float, default=1000.0, help="users/s (default 1000)")
    parser.add_argument(
        "--seconds", type=float, default=30.0, help="seconds of input per rate (default 30)"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="produce this long first at the first rate and do not count it (default 0)",
    )
    parser.add_argument("--sweep", action="store_true", help="several rates, then a search")
    parser.add_argument(
        "--rates",
        default="200,1000,5000",
        help="with --sweep: the fixed rates, comma-separated (default 200,1000,5000)",
    )
    parser.add_argument(
        "--target-p99-ms", type=float, default=2000.0, help="with --sweep (default 2000)"
    )
    parser.add_argument(
        "--search-steps",
        type=int,
        default=4,
        help="with --sweep: steps of the search at most, 0 for none (default 4)",
    )
    args = parser.parse_args()
    args.rates = [float(r) for r in args.rates.split(",")] if args.sweep else [args.rate]
    if min(args.rates) <= 0 or args.seconds <= 0 or args.warmup < 0:
        parser.error("rates and --seconds must be positive, --warmup 0 or more")
    return args


def main() -> None:
    args = _arguments()
    first = args.rates[0]
    with scratch_pipeline("bench_latency") as settings, FakeApiServer() as api:
        job = job_settings(settings)
        print(f"{MEASURED}\njob: {job}", flush=True)
        started = time.perf_counter()
        control.start(settings)
        print(f"stream running after {time.perf_counter() - started:.0f} s", flush=True)
        rig = Rig(settings, api.url)
        if args.warmup:
            rig.measure(first, args.warmup)
            counted = f"after a warm-up of {args.warmup:g} s at {first:,.0f} users/s, not counted"
        else:
            counted = "every stored user counted, no warm-up excluded"
        print(counted, flush=True)
        if args.sweep:
            steps, best = sweep(
                rig, args.rates, args.seconds, args.target_p99_ms, args.search_steps
            )
            print(
                f"highest rate with p99 <= {args.target_p99_ms:,.0f} ms ({counted}; {job}): "
                + (f"{best:,.0f} users/s" if best else "none of the rates tried")
            )
            figures: object = {
                "target_p99_ms": _number(args.target_p99_ms),
                "max_rate_within_target": None if best is None else _number(best),
                "steps": [s.as_json() for s in steps],
            }
        else:
            steps = [single(rig, first, args.seconds)]
            figures = steps[0].as_json()
            print(
                f"measured ingested_at -> WRITETIME(first_name) at {first:,.0f} users/s for "
                f"{args.seconds:g} s, {counted}; {job}"
            )
    emit_json(args.json, figures)
    if any(s.lost for s in steps):
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    except UserstreamError as exc:  # what is wrong and what to do, without a traceback
        print(f"{sys.argv[0]}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
