"""The producer runs' counts add up in the file the dashboard serves (textfile pattern), and
what it serves holds the topic's counters at 0 before the first run."""

from __future__ import annotations

import stat

from prometheus_client.parser import text_string_to_metric_families

from userstream.config import StatePaths
from userstream.producing.metrics import record_run, runs_file, served_runs


def _samples(paths: StatePaths) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return _parsed(runs_file(paths).read_text())


def _parsed(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_runs_add_up_per_topic_and_outcome(tmp_path):
    paths = StatePaths(tmp_path)
    record_run(paths, "a", {"fetched": 10, "produced": 8, "dead_lettered": 1, "failed": 1}, 2)
    record_run(paths, "a", {"fetched": 5, "produced": 5, "dead_lettered": 0, "failed": 0}, 1)
    record_run(paths, "b", {"fetched": 3, "produced": 3, "dead_lettered": 0, "failed": 0}, 1)
    got = _samples(paths)
    users = "userstream_producer_users_total"
    assert got[(users, (("outcome", "produced"), ("topic", "a")))] == 13
    assert got[(users, (("outcome", "dead_lettered"), ("topic", "a")))] == 1
    assert got[(users, (("outcome", "failed"), ("topic", "a")))] == 1
    assert got[(users, (("outcome", "produced"), ("topic", "b")))] == 3
    assert got[("userstream_producer_users_fetched_total", (("topic", "a"),))] == 15
    assert got[("userstream_producer_pages_fetched_total", (("topic", "a"),))] == 3
    last = got[("userstream_producer_last_run_timestamp_seconds", (("topic", "b"),))]
    assert last > 1.7e9
    assert not any(name.endswith("_created") for name, _ in got)
    assert stat.S_IMODE(runs_file(paths).stat().st_mode) == 0o600


def test_an_unreadable_file_starts_counting_afresh(tmp_path):
    paths = StatePaths(tmp_path)
    runs_file(paths).parent.mkdir(parents=True)
    runs_file(paths).write_text("this is { not prometheus text\n")
    record_run(paths, "a", {"fetched": 2, "produced": 2}, 1)
    got = _samples(paths)
    assert got[("userstream_producer_users_total", (("outcome", "produced"), ("topic", "a")))] == 2


def test_before_any_run_the_topics_counters_are_served_at_0(tmp_path):
    served = _parsed(served_runs(runs_file(StatePaths(tmp_path)), "a"))
    assert served == {
        ("userstream_producer_users_total", (("outcome", "produced"), ("topic", "a"))): 0,
        ("userstream_producer_users_total", (("outcome", "dead_lettered"), ("topic", "a"))): 0,
        ("userstream_producer_users_total", (("outcome", "failed"), ("topic", "a"))): 0,
        ("userstream_producer_users_fetched_total", (("topic", "a"),)): 0,
        ("userstream_producer_pages_fetched_total", (("topic", "a"),)): 0,
    }  # no last-run stamp: 0 would say the producer last ran in 1970


def test_served_totals_are_the_runs_own_plus_the_configured_topic(tmp_path):
    paths = StatePaths(tmp_path)
    record_run(paths, "old", {"fetched": 2, "produced": 2}, 1)
    served = _parsed(served_runs(runs_file(paths), "new"))
    users = "userstream_producer_users_total"
    assert served[(users, (("outcome", "produced"), ("topic", "old")))] == 2
    assert served[(users, (("outcome", "produced"), ("topic", "new")))] == 0
    assert ("userstream_producer_last_run_timestamp_seconds", (("topic", "old"),)) in served
