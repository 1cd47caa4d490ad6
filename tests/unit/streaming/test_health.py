"""The stream's health: one pure decision from the progress file, the lag and the supervisor."""

from __future__ import annotations

import datetime as dt
from typing import Any

from userstream.streaming.health import Health, assess, iso, last_completed

NOW = dt.datetime(2026, 11, 27, 12, 0, 0, tzinfo=dt.UTC)
LIMIT = 60.0
DRIVER = 4242


def ago(seconds: float) -> str:
    return iso(NOW - dt.timedelta(seconds=seconds)) or ""


def progress(**changes: Any) -> dict[str, Any]:
    """A running driver's progress file: a batch completed 3 s ago, heartbeat 1 s ago."""
    state: dict[str, Any] = {
        "pid": DRIVER,
        "state": "running",
        "state_since": ago(600),
        "error": None,
        "totals": {"batches": 40, "valid": 900, "stored": 900, "rejected": 3, "batch_ms": 9000},
        "restarts": 0,
        "retrying_since": None,
        "batch_active_since": None,
        "updated_at": ago(1),
        "last_batch": {
            "batch_id": 39,
            "timestamp": ago(4),
            "batch_duration_ms": 800,
            "completed_at": ago(3),
            "end_offsets": {"t": {"0": 500, "1": 403}},
        },
    }
    state.update(changes)
    return state


def check(
    state: dict[str, Any] | None,
    *,
    driver_pid: int | None = DRIVER,
    supervisor: dict[str, Any] | None = None,
    lag: int | None = 0,
) -> Health:
    return assess(
        state,
        driver_pid=driver_pid,
        supervisor=supervisor,
        lag=lag,
        now=NOW,
        unhealthy_after_s=LIMIT,
    )


def test_a_running_driver_with_recent_batches_is_healthy_since_it_began_running():
    health = check(progress())
    assert health == Health(True, None, ago(600))


def test_an_idle_stream_with_nothing_to_read_stays_healthy_long_after_its_last_batch():
    state = progress(last_batch={"batch_id": 3, "completed_at": ago(3600)})
    assert check(state, lag=0).healthy
    assert check(state, lag=None).healthy


def test_no_driver_process_is_unhealthy_since_its_last_state_began():
    health = check(progress(state="stopped", state_since=ago(30)), driver_pid=None)
    assert not health.healthy
    assert health.reason == "no driver process (its last state: stopped)"
    assert health.since == ago(30)


def test_no_driver_and_no_progress_at_all_is_unhealthy_with_no_since():
    assert check(None, driver_pid=None) == Health(False, "no driver process", None)


def test_a_driver_between_two_supervised_restarts_says_how_it_died_and_when():
    supervisor = {
        "pid": 1,
        "restarts": 2,
        "driver_pid": None,
        "last_exit": {"code": None, "signal": "SIGKILL", "at": ago(2)},
    }
    health = check(progress(), driver_pid=None, supervisor=supervisor)
    assert not health.healthy
    assert "it was killed by SIGKILL" in (health.reason or "")
    assert "restarting" in (health.reason or "")
    assert health.since == ago(2)


def test_a_stream_retrying_one_poisoned_batch_for_half_an_hour_is_unhealthy():
    # Once shown as "healthy (retrying; 0 batches)".
    state = progress(
        state="retrying",
        state_since=ago(5),
        retrying_since=ago(1800),
        error="NoHostAvailable",
        restarts=31,
    )
    health = check(state)
    assert not health.healthy
    assert health.reason == "retrying a failed micro-batch: NoHostAvailable"
    assert health.since == ago(1800)


def test_retrying_in_an_older_file_without_retrying_since_uses_the_state_time():
    state = progress(state="retrying", state_since=ago(90), error="boom")
    del state["retrying_since"]
    assert check(state).since == ago(90)


def test_stalled_failed_starting_and_ending_states_are_unhealthy():
    for name, words in (
        ("stalled", "stalled"),
        ("failed", "failed"),
        ("starting", "starting"),
        ("stopped", "ending"),
        ("drained", "ending"),
    ):
        health = check(progress(state=name, state_since=ago(7)))
        assert not health.healthy, name
        assert words in (health.reason or ""), (name, health.reason)
        assert health.since == ago(7)


def test_a_progress_file_of_a_previous_driver_means_the_new_one_is_starting():
    supervisor = {"pid": 1, "restarts": 1, "driver_started_at": ago(4)}
    health = check(progress(pid=DRIVER - 1), supervisor=supervisor)
    assert health == Health(False, "the driver is starting", ago(4))


def test_a_micro_batch_active_longer_than_the_threshold_is_unhealthy():
    assert check(progress(batch_active_since=ago(LIMIT - 1))).healthy
    health = check(progress(batch_active_since=ago(LIMIT + 30)))
    assert not health.healthy
    assert health.reason == "a micro-batch has been running for 90 s"
    assert health.since == ago(LIMIT + 30)


def test_a_silent_heartbeat_while_running_is_unhealthy():
    health = check(progress(updated_at=ago(LIMIT + 5)))
    assert not health.healthy
    assert "no heartbeat" in (health.reason or "")
    assert health.since == ago(LIMIT + 5)


def test_input_waiting_without_a_completed_batch_for_too_long_is_unhealthy():
    stale = {"batch_id": 7, "completed_at": ago(LIMIT + 40), "end_offsets": {}}
    assert check(progress(last_batch=stale), lag=0).healthy
    health = check(progress(last_batch=stale), lag=250)
    assert not health.healthy
    assert health.reason == "250 messages waiting and no micro-batch completed for 100 s"
    assert health.since == ago(LIMIT + 40)


def test_input_waiting_just_after_the_driver_began_running_is_not_yet_a_stall():
    stale = {"batch_id": 7, "completed_at": ago(3600)}
    assert check(progress(last_batch=stale, state_since=ago(10)), lag=250).healthy


def test_an_older_batch_without_completed_at_is_timed_from_its_start_and_duration():
    batch = {"timestamp": ago(150), "batch_duration_ms": 50_000}
    assert last_completed(batch) == NOW - dt.timedelta(seconds=100)
    assert not check(progress(last_batch=batch), lag=5).healthy
    assert check(progress(last_batch={"timestamp": ago(30)}), lag=5).healthy


def test_a_driver_restarted_recently_without_a_batch_since_is_unhealthy_then_healthy():
    supervisor = {
        "pid": 1,
        "restarts": 1,
        "driver_started_at": ago(20),
        "last_exit": {"code": 1, "signal": None, "at": ago(21)},
    }
    fresh = progress(state_since=ago(5), last_batch=None)
    health = check(fresh, supervisor=supervisor)
    assert not health.healthy
    assert health.reason == (
        "the driver was restarted 20 s ago (it exited with code 1); no micro-batch completed since"
    )
    assert health.since == ago(21)
    # A batch completed after the restart: healthy again.
    done = progress(state_since=ago(5), last_batch={"batch_id": 1, "completed_at": ago(1)})
    assert check(done, supervisor=supervisor).healthy
    # An idle topic: after the threshold the restart no longer counts against it.
    later = {**supervisor, "driver_started_at": ago(LIMIT + 20)}
    assert check(fresh, supervisor=later).healthy


def test_missing_or_malformed_fields_of_an_older_file_never_raise():
    minimal = {"pid": DRIVER, "state": "running"}
    assert check(minimal) == Health(True, None, None)
    odd = progress(
        state_since="yesterday",
        updated_at=17,
        batch_active_since="",
        last_batch={"timestamp": "not a time", "batch_duration_ms": "slow"},
    )
    assert check(odd, lag=10).healthy
    assert check(progress(last_batch=None), supervisor={"restarts": "x"}).healthy is not None


SPARK_SAYS = (
    "Initial job has not accepted any resources; check your cluster UI to ensure that "
    "workers are registered and have sufficient resources"
)


def test_a_stream_without_executors_past_the_limit_is_unhealthy_in_sparks_words():
    verdict = check(progress(executors=0, executors_none_since=ago(90), spark_says=SPARK_SAYS))
    assert not verdict.healthy
    assert verdict.since == ago(90)
    assert verdict.reason is not None
    assert verdict.reason.startswith("no Spark executors for 90 s: the cluster gives this stream")
    assert f'(Spark: "{SPARK_SAYS}")' in verdict.reason
    assert "spark.cores_max" in verdict.reason
    # Without Spark's warning (no batch asked for executors yet) it says so without a quote.
    quiet = check(progress(executors=0, executors_none_since=ago(90), spark_says=None))
    assert not quiet.healthy and quiet.reason is not None and "Spark:" not in quiet.reason


def test_no_executors_within_the_limit_or_some_executors_is_healthy():
    assert check(progress(executors=0, executors_none_since=ago(30))).healthy
    assert check(progress(executors=2, executors_none_since=None)).healthy
    assert check(progress()).healthy  # a local master counts none
