"""Time to first rows: `userstream up` → the first user in Cassandra, and where the time goes.

What is measured: `userstream up --source local` (the stand-in API) run as a user runs it, in
a state folder of its own on free ports (the jars linked from yours; your pipeline is neither
used nor stopped), twice:

1. **fresh**: an empty state folder (Kafka formats its storage, Cassandra creates its first
   files and the project's login, Airflow migrates its database);
2. **warm**: the same folder again after `userstream down` (the data, logins and Airflow's
   database are kept), which is what `up` costs on a checkout that ran before; with a topic
   and keyspace of its own (`warm`), so that its first row is one it produced.

For each: the seconds from the start of `up` to each of its numbered steps (`1/7 source`
… `7/7 Prometheus`), to `up`'s return, and to the first row of `user_profiles`
(polled every second with a CQL count). `userstream down` stops everything after; the state
folder is removed at the end (kept, and its path printed, when a run failed).

With --from-clone, a third run comes first: **clone**, what a new user meets. A `git clone`
of this checkout's committed HEAD into a temporary folder, then `make run` there exactly as
the README says (the source is `auto`: the real API when it answers, else the stand-in),
with empty package caches of its own (uv's `UV_CACHE_DIR`, pip's `PIP_CACHE_DIR` and Maven's
local repository, `-Dmaven.repo.local` in `MAVEN_OPTS`), so every package and jar is
downloaded again; its
state folder is the clone's `.userstream/` on free ports. Its steps are `make run`'s phases
(the install, each jar set fetched, then `up`'s numbered steps). Python and the JDK are the
machine's; the network is whatever it is at the time, so a clone's figure varies with it.

Usage: python benchmarks/bench_first_rows.py [--from-clone] [--json]
With --json the last line of stdout is {"fresh": RUN, "warm": RUN} (and "clone": RUN with
--from-clone), each RUN {"steps": {"1/7 source": s, ...}, "up_returned_s", "first_rows_s"}
(seconds, one decimal; first_rows_s null when no row came within the timeout; for the clone
"up_returned_s" is when `make run` returned).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _private import private_environment
from _report import arg_parser, emit_json, loud

USERSTREAM = str(Path(sys.executable).with_name("userstream"))
REPO = Path(__file__).resolve().parents[1]
#: How long a run may take to store its first row.
FIRST_ROWS_TIMEOUT_S = 600.0


def _stored(env: dict[str, str], cli: str = USERSTREAM) -> int:
    """Rows of ``user_profiles`` (0 while the keyspace or Cassandra is not there yet, or the
    ``cli`` is not installed yet)."""
    if not Path(cli).exists():
        return 0
    keyspace = env.get("USERSTREAM_CASSANDRA__KEYSPACE", "userstream")
    done = subprocess.run(
        [cli, "query", "--json", f"SELECT COUNT(*) AS n FROM {keyspace}.user_profiles"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        return 0
    return int(json.loads(done.stdout.strip().splitlines()[-1])["n"])


#: The lines of `make run` that begin a phase before `up`'s numbered steps: (start, name).
MAKE_PHASES = (
    ("Installing the locked dependency tree", "install: packages and jars"),
    ("kafka: fetching", "jars: kafka"),
    ("cassandra: fetching", "jars: cassandra"),
    ("spark-connectors: fetching", "jars: spark-connectors"),
    ("jmx-exporter: fetching", "jars: jmx-exporter"),
    ("Starting userstream", "up"),
)


def _step(text: str) -> str | None:
    """The step a line of output begins: one of `up`'s ("3/7 Kafka …") or `make run`'s."""
    if len(text) > 3 and text[0].isdigit() and text[1] == "/" and text[3] == " ":
        return text
    return next((name for start, name in MAKE_PHASES if text.startswith(start)), None)


def one_run(
    env: dict[str, str],
    label: str,
    command: list[str] | None = None,
    cwd: Path | None = None,
    cli: str = USERSTREAM,
) -> dict[str, Any]:
    """``command`` (`up` by default) run in ``cwd``, timed step by step, until the first
    row; then `down` by ``cli``."""
    steps: dict[str, float] = {}
    started = time.monotonic()
    command = command or [cli, "up", "--source", "local"]
    up = subprocess.Popen(
        command, cwd=cwd,
        env={**env, "PYTHONUNBUFFERED": "1"},  # each step's line as it is said
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    output: list[str] = []

    def read() -> None:
        assert up.stdout is not None
        for line in up.stdout:
            output.append(line)
            step = _step(line.strip())
            if step is not None and step not in steps:
                steps[step] = round(time.monotonic() - started, 1)
                print(f"  {label}: {steps[step]:6.1f} s  {step}", flush=True)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    first_rows: float | None = None
    returned: float | None = None
    try:
        while time.monotonic() - started < FIRST_ROWS_TIMEOUT_S:
            if returned is None and up.poll() is not None:
                returned = round(time.monotonic() - started, 1)
                if up.returncode != 0:
                    reader.join(5)
                    raise RuntimeError(f"`{' '.join(command)}` failed:\n" + "".join(output[-40:]))
                print(f"  {label}: {returned:6.1f} s  `up` returned", flush=True)
            if _stored(env, cli) > 0:
                first_rows = round(time.monotonic() - started, 1)
                print(f"  {label}: {first_rows:6.1f} s  first row in Cassandra", flush=True)
                break
            time.sleep(1.0)
        if first_rows is None:
            loud(f"{label}: no row in Cassandra {FIRST_ROWS_TIMEOUT_S:.0f} s after `up` began")
        if returned is None:
            up.wait(timeout=FIRST_ROWS_TIMEOUT_S)
            returned = round(time.monotonic() - started, 1)
    finally:
        if up.poll() is None:
            up.terminate()
        if Path(cli).exists():
            subprocess.run([cli, "down"], env=env, capture_output=True, timeout=300, check=False)
    return {"steps": steps, "up_returned_s": returned, "first_rows_s": first_rows}


def clone_run(workdir: Path) -> dict[str, Any]:
    """A clone of this checkout's HEAD, `make run` in it with empty package caches."""
    clone = workdir / "userstream"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True, timeout=300)
    env = {
        **private_environment(clone / ".userstream", link_jars=False),
        "PIP_CACHE_DIR": str(workdir / "pip-cache"),
        "UV_CACHE_DIR": str(workdir / "uv-cache"),
        "MAVEN_OPTS": f"-Dmaven.repo.local={workdir / 'maven-repository'}",
    }
    env.pop("VIRTUAL_ENV", None)
    return one_run(
        env, "clone", ["make", "run"], clone, str(clone / ".venv" / "bin" / "userstream")
    )


def main() -> int:
    parser = arg_parser(__doc__ or "")
    parser.add_argument(
        "--keep-state",
        action="store_true",
        help="keep the private state folder (its logs: Airflow's task logs among them)",
    )
    parser.add_argument(
        "--from-clone",
        action="store_true",
        help="first a fresh `git clone` and `make run` in it, with empty package caches",
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench_first_rows_"))
    state = workdir / "state"
    failed = True
    figures: dict[str, Any] = {}
    try:
        if args.from_clone:
            print("measured: a fresh clone's `make run` → the first row of user_profiles")
            figures["clone"] = clone_run(workdir)
        env = private_environment(state)
        print("measured: `userstream up --source local` → the first row of user_profiles")
        # Warm: the same folder, with a topic and keyspace of its own, so the first row is
        # one this run produced (the first run's rows are still stored).
        warm = {**env, "USERSTREAM_KAFKA__TOPIC": "warm", "USERSTREAM_CASSANDRA__KEYSPACE": "warm"}
        figures |= {"fresh": one_run(env, "fresh"), "warm": one_run(warm, "warm")}
        for label, run in figures.items():
            shown = "none" if run["first_rows_s"] is None else f"{run['first_rows_s']:.1f} s"
            print(f"{label}: first rows {shown}, `up` returned at {run['up_returned_s']} s")
        failed = any(run["first_rows_s"] is None for run in figures.values())
        emit_json(args.json, figures)
    finally:
        if failed or args.keep_state:
            print(f"the benchmark's folder is kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
