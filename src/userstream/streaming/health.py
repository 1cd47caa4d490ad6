"""Is the stream healthy? One pure decision, shared by `userstream status` and `stream status`.

A stream is healthy only when it is making progress or has nothing to do. It is unhealthy,
with the reason and the moment it stopped making progress, when:

- no driver process runs (stopped, crashed, or between two supervised restarts);
- the driver is not in state ``running`` (starting, retrying a failed batch, stalled,
  failed, stopping) — since the state began (``retrying_since`` for retries);
- its progress heartbeat (``updated_at``, rewritten at least every few seconds) is older
  than the threshold;
- on a cluster master, the stream has had no executor for longer than the threshold (the
  reason quotes Spark's own warning when it logged one);
- a micro-batch has been active for longer than the threshold;
- input waits (lag > 0) while no micro-batch completed for longer than the threshold;
- the supervisor restarted the driver less than the threshold ago and no batch has
  completed since.

The inputs are what the driver and the supervisor wrote (see ``progress`` and
``supervisor``); any field may be missing in a file of an older release, which never
raises: an unknown time just does not trigger the rule that needs it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The driver's states in which it processes input (every other one is unhealthy).
RUNNING = "running"


@dataclass(frozen=True)
class Health:
    healthy: bool
    #: Why it is unhealthy, as a sentence; None when healthy.
    reason: str | None
    #: When the current health began (ISO-8601 UTC), when known.
    since: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "reason": self.reason, "since": self.since}


def parse_time(value: object) -> dt.datetime | None:
    """An ISO-8601 time (``Z`` or an offset; naive means UTC), or None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    text = moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def last_completed(batch: Mapping[str, Any] | None) -> dt.datetime | None:
    """When the last micro-batch completed: ``completed_at``, else start + duration."""
    if not batch:
        return None
    done = parse_time(batch.get("completed_at"))
    if done is not None:
        return done
    started = parse_time(batch.get("timestamp"))
    duration = batch.get("batch_duration_ms")
    if started is None:
        return None
    if isinstance(duration, int | float):
        return started + dt.timedelta(milliseconds=duration)
    return started


def describe_exit(last_exit: Mapping[str, Any] | None) -> str:
    """How a driver ended, from a supervisor's ``last_exit``: "was killed by SIGKILL",
    "exited with code 1" or "exited"."""
    if not last_exit:
        return "exited"
    if last_exit.get("signal"):
        return f"was killed by {last_exit['signal']}"
    if last_exit.get("code") is not None:
        return f"exited with code {last_exit['code']}"
    return "exited"


def _count(value: object) -> int:
    return value if isinstance(value, int) else 0


def _seconds(now: dt.datetime, then: dt.datetime) -> str:
    return f"{max(0.0, (now - then).total_seconds()):.0f} s"


def _unhealthy(reason: str, since: dt.datetime | None) -> Health:
    return Health(False, reason, iso(since))


def assess(
    progress: Mapping[str, Any] | None,
    *,
    driver_pid: int | None,
    supervisor: Mapping[str, Any] | None,
    lag: int | None,
    now: dt.datetime,
    unhealthy_after_s: float,
) -> Health:
    """Decide the stream's health from what its processes wrote.

    ``progress``: the driver's progress file. ``driver_pid``: the driver process when it is
    alive, else None. ``supervisor``: the running supervisor's state file, None when the
    stream is not supervised (a foreground ``stream run``) or its supervisor is gone.
    ``lag``: messages waiting in the topic beyond the last batch, None when unknown.
    ``now``: an aware time; every time compared with it comes from the files.
    """
    limit = dt.timedelta(seconds=unhealthy_after_s)
    state = progress or {}
    sup = supervisor or {}
    last_exit = sup.get("last_exit") or None
    driver_started = parse_time(sup.get("driver_started_at"))

    if driver_pid is None:
        if supervisor is not None:
            if last_exit:
                exited = parse_time(last_exit.get("at"))
                return _unhealthy(
                    f"no driver process: it {describe_exit(last_exit)}; the supervisor is "
                    "restarting it",
                    exited,
                )
            return _unhealthy(
                "no driver process yet: the supervisor is starting it",
                parse_time(sup.get("started_at")),
            )
        last = state.get("state")
        ended = parse_time(state.get("state_since")) or parse_time(state.get("updated_at"))
        detail = f" (its last state: {last})" if last else ""
        return _unhealthy(f"no driver process{detail}", ended if last else None)

    if progress is None or state.get("pid") != driver_pid:
        # The file is a previous driver's: this one has not written its own yet.
        return _unhealthy("the driver is starting", driver_started)

    current = state.get("state")
    state_since = parse_time(state.get("state_since"))
    error = state.get("error")
    if current != RUNNING:
        if current == "retrying":
            since = parse_time(state.get("retrying_since")) or state_since
            return _unhealthy(f"retrying a failed micro-batch: {error or 'unknown error'}", since)
        if current == "stalled":
            return _unhealthy(
                f"a micro-batch stalled; the driver restarts itself: {error or 'no detail'}",
                state_since,
            )
        if current == "failed":
            return _unhealthy(f"the driver failed: {error or 'no detail'}", state_since)
        if current == "starting":
            return _unhealthy("the driver is starting", state_since or driver_started)
        return _unhealthy(f"the driver is ending (state {current})", state_since)

    heartbeat = parse_time(state.get("updated_at"))
    if heartbeat is not None and now - heartbeat > limit:
        return _unhealthy(f"no heartbeat from the driver for {_seconds(now, heartbeat)}", heartbeat)

    none_since = parse_time(state.get("executors_none_since"))
    if state.get("executors") == 0 and none_since is not None and now - none_since > limit:
        said = state.get("spark_says")
        return _unhealthy(
            f"no Spark executors for {_seconds(now, none_since)}: the cluster gives this "
            "stream no cores" + (f' (Spark: "{said}")' if said else "") + "; free cores on "
            "the cluster, or lower spark.cores_max of the streams that hold them",
            none_since,
        )

    active = parse_time(state.get("batch_active_since"))
    if active is not None and now - active > limit:
        return _unhealthy(f"a micro-batch has been running for {_seconds(now, active)}", active)

    batch = state.get("last_batch") or None
    completed = last_completed(batch)
    # Progress is measured from the last completed batch, or from when processing began.
    reference = max((t for t in (completed, state_since) if t is not None), default=None)
    if lag and reference is not None and now - reference > limit:
        return _unhealthy(
            f"{lag} messages waiting and no micro-batch completed for {_seconds(now, reference)}",
            reference,
        )

    if (
        _count(sup.get("restarts")) > 0
        and driver_started is not None
        and now - driver_started <= limit
        and (completed is None or completed < driver_started)
    ):
        exited = parse_time((last_exit or {}).get("at")) or driver_started
        return _unhealthy(
            f"the driver was restarted {_seconds(now, driver_started)} ago (it "
            f"{describe_exit(last_exit)}); no micro-batch completed since",
            exited,
        )

    return Health(True, None, iso(state_since))
