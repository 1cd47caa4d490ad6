"""How the benchmarks speak: the command line, the job's settings in one line, loud
warnings, and the one JSON object that ends stdout with ``--json``."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

import orjson

from userstream.config import Settings


def arg_parser(doc: str) -> argparse.ArgumentParser:
    """A parser whose ``--help`` shows the benchmark's docstring, with ``--json`` added."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="end stdout with one line holding the figures as a JSON object",
    )
    return parser


def emit_json(enabled: bool, figures: object) -> None:
    """Print ``figures`` as the last line of stdout (when ``--json`` was given)."""
    if enabled:
        sys.stdout.flush()
        print(orjson.dumps(figures).decode(), flush=True)


def job_settings(settings: Settings) -> str:
    """The settings that shape the job's figures, as the user would set them."""
    spark = settings.spark
    return (
        f"trigger interval {spark.trigger_interval}, "
        f"maxOffsetsPerTrigger {spark.max_offsets_per_trigger:,}, master {spark.master}, "
        f"driver memory {spark.driver_memory}"
    )


def loud(message: str) -> None:
    """A finding the reader must not miss (lost users, a rig that fell short): framed on
    stdout, repeated on stderr."""
    print(f"!!! {message}", flush=True)
    print(f"!!! {message}", file=sys.stderr, flush=True)


def percentile(ordered: list[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile of an ascending, non-empty list."""
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def latency_figures(latencies_ms: list[float]) -> dict[str, Any]:
    """p50/p95/p99/max in whole milliseconds (None for all when there is nothing)."""
    ordered = sorted(latencies_ms)
    if not ordered:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "p50_ms": round(percentile(ordered, 50)),
        "p95_ms": round(percentile(ordered, 95)),
        "p99_ms": round(percentile(ordered, 99)),
        "max_ms": round(ordered[-1]),
    }
