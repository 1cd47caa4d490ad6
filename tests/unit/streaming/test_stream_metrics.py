"""The driver's Prometheus metrics: at 0 from the start, counted once per batch, lag from
Spark's progress, served on 127.0.0.1 (and on another port when the configured one is taken)."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from userstream.streaming.metrics import StreamMetrics


def _values(metrics: StreamMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client import generate_latest

    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


STORED = ("userstream_stream_rows_total", (("outcome", "stored"), ("table", "user_profiles")))
LAG = "userstream_stream_lag_messages"


def test_every_labelled_series_exists_at_0_before_the_first_batch() -> None:
    values = _values(StreamMetrics("user_topic", 2))
    rejected = (("outcome", "rejected"), ("table", "user_profiles_rejects"))
    for series in (
        STORED,
        ("userstream_stream_rows_total", rejected),
        ("userstream_stream_rejects_total", (("reason", "other"),)),
        (LAG, (("partition", "0"), ("topic", "user_topic"))),
        (LAG, (("partition", "1"), ("topic", "user_topic"))),
        ("userstream_stream_batch_duration_seconds_count", ()),
        ("userstream_end_to_end_latency_seconds_count", ()),
    ):
        assert values.get(series) == 0, series


def test_the_first_progress_replaces_the_configured_partitions_with_the_topics_own() -> None:
    metrics = StreamMetrics("user_topic", 3)  # the topic was created with 2 before
    metrics.record_lag({"sources": [{"endOffset": None, "latestOffset": None}]})  # nothing read
    assert (LAG, (("partition", "2"), ("topic", "user_topic"))) in _values(metrics)
    offsets = '{"user_topic": {"0": 4, "1": 9}}'
    metrics.record_lag({"sources": [{"endOffset": offsets, "latestOffset": offsets}]})
    lags = {labels: v for (name, labels), v in _values(metrics).items() if name == LAG}
    assert lags == {
        (("partition", "0"), ("topic", "user_topic")): 0,
        (("partition", "1"), ("topic", "user_topic")): 0,
    }


def test_a_replayed_batch_counts_once() -> None:
    metrics = StreamMetrics("user_topic", 2)
    counts = {"stored": 10, "rejected": 2, "reasons": {"empty value": 2}, "batch_ms": 400}
    metrics.record_batch(counts, {}, [120.0, 480.0])
    metrics.record_batch(counts, counts, [120.0, 480.0])  # the same batch, replayed
    values = _values(metrics)
    assert values[STORED] == 10
    assert values[("userstream_stream_rejects_total", (("reason", "empty value"),))] == 2
    assert values[("userstream_stream_batch_duration_seconds_count", ())] == 2
    assert values[("userstream_end_to_end_latency_seconds_count", ())] == 2
    assert values[("userstream_end_to_end_latency_seconds_sum", ())] == 0.6


def test_lag_per_partition_comes_from_the_progress() -> None:
    metrics = StreamMetrics("user_topic", 2)
    metrics.record_lag(
        {
            "sources": [
                {
                    "endOffset": '{"user_topic": {"0": 40, "1": 7}}',
                    "latestOffset": '{"user_topic": {"0": 45, "1": 7}}',
                }
            ]
        }
    )
    values = _values(metrics)
    assert values[(LAG, (("partition", "0"), ("topic", "user_topic")))] == 5
    assert values[(LAG, (("partition", "1"), ("topic", "user_topic")))] == 0


def test_served_on_loopback_and_a_taken_port_falls_back() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        url = StreamMetrics("user_topic", 2).serve(port)
    assert url is not None and url.startswith("http://127.0.0.1:")
    assert not url.startswith(f"http://127.0.0.1:{port}/")
    with urllib.request.urlopen(url, timeout=10) as reply:
        assert b"userstream_stream_rows_total" in reply.read()


def test_the_progress_is_served_beside_the_metrics_without_the_newest_users() -> None:
    state = {
        "pid": 42,
        "state": "running",
        "updated_at": "2026-12-07T19:00:00.000Z",
        "totals": {"stored": 7, "newest": [{"id": "u", "first_name": "Ada"}]},
    }
    url = StreamMetrics("user_topic", 2).serve(0, progress=lambda: state)
    assert url is not None
    with urllib.request.urlopen(url.replace("/metrics", "/progress"), timeout=10) as reply:
        assert reply.headers["Content-Type"] == "application/json"
        served = json.load(reply)
    assert served == {**state, "totals": {"stored": 7}}
    assert "Ada" not in json.dumps(served)
    with urllib.request.urlopen(url, timeout=10) as reply:
        assert b"userstream_stream_rows_total" in reply.read()
    # A driver that serves no progress says so.
    bare = StreamMetrics("user_topic", 2).serve(0)
    assert bare is not None
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(bare.replace("/metrics", "/progress"), timeout=10)
    assert missing.value.code == 404
