"""The page's data, assembled from what the pipeline reports (no services)."""

from __future__ import annotations

import datetime as dt

from userstream.dashboard.data import History, age_bins, assemble, newest, ranked

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def test_rates_are_differences_per_second_and_a_restart_is_a_gap() -> None:
    history = History()
    history.add(100.0, 1000, 50, 1)
    history.add(102.0, 1400, 250, 3)
    history.add(104.0, 1400, 10, 3)  # the driver restarted: its totals start again
    history.add(105.0, None, 20, 4)  # Kafka did not answer
    rates = history.rates()
    assert rates["at"] == [102_000, 104_000, 105_000]
    assert rates["produced"] == [200.0, 0.0, None]
    assert rates["stored"] == [100.0, None, 10.0]
    assert rates["rejected"] == [1.0, 0.0, 1.0]


def test_latency_is_recorded_once_per_batch_that_stored_users() -> None:
    history = History()
    batch = {"batch_id": 7, "latency_ms": {"p50": 300, "p99": 900}}
    history.add_batch(1.0, batch)
    history.add_batch(2.0, batch)  # the same batch, seen again by the next sample
    history.add_batch(3.0, {"batch_id": 8, "latency_ms": None})  # rejects only
    history.add_batch(4.0, {"batch_id": 9, "latency_ms": {"p50": 250, "p99": 700}})
    history.add_batch(5.0, None)
    assert list(history.latency) == [(1.0, 300, 900), (4.0, 250, 700)]


def test_ranked_is_largest_first_and_sums_the_tail() -> None:
    assert ranked({"b": 2, "a": 2, "c": 5, "none": 0}) == [("c", 5), ("a", 2), ("b", 2)]
    many = {f"k{n:02d}": n for n in range(1, 21)}
    top = ranked(many, top=5)
    assert top[:4] == [("k20", 20), ("k19", 19), ("k18", 18), ("k17", 17)]
    assert top[4] == ("other", sum(range(1, 17)))


def test_ages_fall_in_decades_with_an_open_last_bin() -> None:
    bins = age_bins([23, 29, 30, 47, None, 71, 88, -1])
    assert bins == {
        "labels": ["20–29", "30–39", "40–49", "50–59", "60–69", "70+"],
        "counts": [2, 1, 1, 0, 0, 2],
        "sample": 6,
    }
    assert age_bins([]) == {"labels": [], "counts": [], "sample": 0}
    assert age_bins([90])["labels"] == ["70+"]


def test_newest_users_have_initials_and_a_portrait_of_ours() -> None:
    users = [
        {"id": "u1", "first_name": "ada", "last_name": "Lovelace", "country": "United Kingdom",
         "picture_thumbnail": "https://randomuser.me/api/portraits/thumb/women/1.jpg",
         "ingested_at": "2026-11-27T12:00:00.000+00:00"},
        {"id": "u2", "first_name": None, "last_name": None},
        {"first_name": "no id"},
    ]  # fmt: skip
    shown = newest(users)
    assert [u["id"] for u in shown] == ["u1", "u2"]
    assert shown[0]["name"] == "ada Lovelace" and shown[0]["initials"] == "AL"
    assert shown[0]["portrait"] == "portraits/u1"  # never the remote URL itself
    assert "picture_thumbnail" not in shown[0]
    assert shown[1]["initials"] == "?" and shown[1]["name"] == ""


def test_assemble_reads_status_progress_offsets_and_the_data() -> None:
    history = History()
    history.add(0.0, 100, 0, 0)
    history.add(2.0, 300, 180, 2)
    history.add_batch(2.0, {"batch_id": 3, "latency_ms": {"p50": 410, "p99": 980}})
    status = {
        "healthy": False,
        "parts": [{"name": "kafka", "healthy": True, "address": "127.0.0.1:9092",
                   "pid": 1, "detail": "4.4.0"}],
        "rows_stored": 180, "rows_rejected": 2, "notes": ["airflow: down"],
        "quality": {"run_id": "r1", "checks": [
            {"name": "completeness", "passed": True, "detail": "ok", "figures": {}},
            {"name": "valid_emails", "passed": False, "detail": "1 invalid", "figures": {}},
        ]},
        "dashboard_url": "http://127.0.0.1:8090/",
    }  # fmt: skip
    state = {
        "totals": {"stored": 180, "rejected": 2, "reasons": {"value is not valid JSON": 2},
                   "newest": [{"id": "u1", "first_name": "Ada", "last_name": "L"}]},
        "last_batch": {"batch_id": 3, "latency_ms": {"p50": 410, "p99": 980}},
    }  # fmt: skip
    page = assemble(
        now=NOW, topic="t", keyspace="k", status=status, state=state,
        ends={"t": {"0": 150, "1": 150}, "t.dlq": {"0": 9}}, lag={1: 20, 0: 0},
        history=history, countries={"Norway": 3, "Ireland": 5}, ages=[25, 31],
        runs=[{"dag_run_id": "r1", "state": "failed"}], notes=["kafka: slow"],
    )  # fmt: skip
    assert page["generated_at"] == "2026-11-27T12:00:00+00:00"
    assert page["counts"] == {"produced": 300, "stored": 180, "rejected": 2, "lag": 20}
    assert page["lag"] == {"0": 0, "1": 20}
    assert page["rate_now"] == {"produced": 100.0, "stored": 90.0, "rejected": 1.0}
    assert page["latency"] == {"last": {"p50": 410, "p99": 980}, "at": [2000], "p50": [410],
                               "p99": [980]}  # fmt: skip
    assert page["reasons"] == [("value is not valid JSON", 2)]
    assert page["countries"] == [("Ireland", 5), ("Norway", 3)]
    assert page["ages"]["counts"] == [1, 1]
    assert [u["initials"] for u in page["newest"]] == ["AL"]
    assert page["quality"] == {"run_id": "r1", "passed": False, "checks": [
        {"name": "completeness", "passed": True, "detail": "ok"},
        {"name": "valid_emails", "passed": False, "detail": "1 invalid"},
    ]}  # fmt: skip
    assert page["dag_runs"] == [{"dag_run_id": "r1", "state": "failed"}]
    assert page["notes"] == ["airflow: down", "kafka: slow"]


def test_assemble_before_anything_is_known() -> None:
    page = assemble(
        now=NOW, topic="t", keyspace="k", status=None, state={}, ends=None, lag=None,
        history=History(), countries=None, ages=None, runs=None, notes=[],
    )  # fmt: skip
    assert page["counts"] == {"produced": None, "stored": None, "rejected": None, "lag": None}
    assert page["parts"] == [] and page["newest"] == [] and page["quality"] is None
    assert page["rate_now"] == {"produced": None, "stored": None, "rejected": None}
    assert page["countries"] is None and page["ages"] is None and page["lag"] is None
