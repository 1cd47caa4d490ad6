"""No input stops the stream: every poison of the catalogue becomes exactly one reject with its
reason (table and DLQ), valid users sent after it land, a forced replay sends no dead letter
twice, and absent fields leave no tombstone. Real Kafka, Spark and Cassandra."""

from __future__ import annotations

import json
import re
import urllib.request
from collections import Counter
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest_stream import (
    fake_users,
    isolated,
    produce,
    read_dlq,
    stream_env,
    user_messages,
    wait_until,
)
from tests.poison_catalogue import catalogue
from userstream.config import Settings
from userstream.streaming import control

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(stack: Settings, unique: str) -> Iterator[Settings]:
    with stream_env(isolated(stack, unique)) as s:
        yield s


def _forget_batches_after(settings: Settings, messages: int) -> int:
    """Delete the checkpoint's offsets and commits of every batch after the one that ended
    at ``messages`` messages, so the restarted query replays them (as after a crash between
    the writes and the commit). Returns how many batches were forgotten."""
    root = settings.checkpoint_dir()
    batches = sorted(int(p.name) for p in (root / "offsets").iterdir() if p.name.isdigit())
    keep = None
    for batch in batches:
        ends = json.loads((root / "offsets" / str(batch)).read_text().splitlines()[-1])
        if sum(ends[settings.kafka.topic].values()) == messages:
            keep = batch
            break
    assert keep is not None, "no batch ended exactly after the users produced first"
    forgotten = [b for b in batches if b > keep]
    for batch in forgotten:
        for folder in ("offsets", "commits"):
            (root / folder / str(batch)).unlink(missing_ok=True)
    return len(forgotten)


def _batch_ends(settings: Settings) -> dict[str, int]:
    """Batch id → messages its offsets end at, for every batch the checkpoint has committed."""
    root = settings.checkpoint_dir()
    ends = {}
    for offsets in (root / "offsets").iterdir():
        if offsets.name.isdigit() and (root / "commits" / offsets.name).exists():
            end = json.loads(offsets.read_text().splitlines()[-1])[settings.kafka.topic]
            ends[offsets.name] = sum(end.values())
    return ends


def _committed_end(settings: Settings) -> int:
    return max(_batch_ends(settings).values())


def _committed_through(settings: Settings, messages: int) -> bool:
    """True once the checkpoint has committed a batch that ends at ``messages`` messages: its
    writes are done, and with them its dead letters (each flushed before its row is written)."""
    return messages in _batch_ends(settings).values()


def test_every_poison_is_one_reject_and_the_stream_keeps_going(settings, cassandra_session):
    ks = settings.cassandra.keyspace
    first, poison = catalogue(settings.kafka.topic)
    before = first + fake_users(f"{settings.kafka.topic}-before", 99)
    after = fake_users(f"{settings.kafka.topic}-after", 100)

    def stored_ids() -> set[str]:
        return {str(r.id) for r in cassandra_session.execute(f"SELECT id FROM {ks}.user_profiles")}

    produce(settings, user_messages(before))
    control.start(settings)
    wait_until("the users sent before the poison", lambda: len(stored_ids()) == len(before))

    positions = produce(settings, [(p.key, p.value) for p in poison])
    produce(settings, user_messages(after))
    wait_until("the users sent after the poison", lambda: len(stored_ids()) == len(before + after))

    status = control.last_progress(settings) or {}
    assert control.running(settings) is not None
    assert status["state"] == "running"
    assert stored_ids() == {u["login"]["uuid"] for u in before + after}

    expected = {position: p.reason for position, p in zip(positions, poison, strict=True)}

    def rejects() -> dict[tuple[int, int], str]:
        rows = cassandra_session.execute(
            f"SELECT kafka_partition, kafka_offset, reason FROM {ks}.user_profiles_rejects"
        )
        return {(r.kafka_partition, r.kafka_offset): r.reason for r in rows}

    wait_until("every reject", lambda: len(rejects()) >= len(poison))
    got = rejects()
    assert got == expected, {
        p.name: (got.get(pos), p.reason)
        for pos, p in zip(positions, poison, strict=True)
        if got.get(pos) != p.reason
    }

    def dlq_positions() -> Counter[tuple[int, int]]:
        messages = read_dlq(settings, len(poison), timeout=30)
        return Counter(
            (int(dict(m.headers())["source_partition"]), int(dict(m.headers())["source_offset"]))
            for m in messages
        )

    # What a reject keeps never holds the API's credentials (the catalogue's users carry them).
    assert sum(b'"salt"' in p.value for p in poison) > len(poison) / 2
    raws = [r.raw_value or "" for r in cassandra_session.execute(
        f"SELECT raw_value FROM {ks}.user_profiles_rejects")]  # fmt: skip
    dlq_values = [m.value() or b"" for m in read_dlq(settings, len(poison), timeout=30)]
    for kept in [raw.encode() for raw in raws] + dlq_values:
        assert not re.search(rb"password|salt|md5|sha1|sha256", kept), kept[:300]

    first_dlq = dlq_positions()
    assert first_dlq == Counter(expected.keys())
    reasons = {
        (int(h["source_partition"]), int(h["source_offset"])): h["dlq_reason"].decode()
        for h in (dict(m.headers()) for m in read_dlq(settings, len(poison), timeout=30))
    }
    assert reasons == expected

    # The driver's Prometheus metrics count the same, on 127.0.0.1.
    url = control.report(settings, control.last_progress(settings), None)["metrics_url"]
    assert url and url.startswith("http://127.0.0.1:"), url
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(
            urllib.request.urlopen(url, timeout=10).read().decode()
        )
        for s in family.samples
    }
    stored = ("userstream_stream_rows_total", (("outcome", "stored"), ("table", "user_profiles")))
    rejected = (
        "userstream_stream_rows_total",
        (("outcome", "rejected"), ("table", "user_profiles_rejects")),
    )
    assert samples[stored] == len(before + after)
    assert samples[rejected] == len(poison)
    rejects_by_reason = sum(
        v for (name, _), v in samples.items() if name == "userstream_stream_rejects_total"
    )
    assert rejects_by_reason == len(poison)
    assert samples[("userstream_end_to_end_latency_seconds_count", ())] > 0
    lags = {k: v for k, v in samples.items() if k[0] == "userstream_stream_lag_messages"}
    assert lags and set(lags.values()) == {0.0}, lags

    # Forced retry: the batches with the poison are run again from the checkpoint.
    assert control.stop(settings)
    total = _committed_end(settings)  # every message: the lag was 0
    assert _forget_batches_after(settings, len(before)) >= 1
    control.start(settings)
    wait_until("the replay committed", lambda: _committed_through(settings, total))
    assert dlq_positions() == Counter(expected.keys()), "a replay re-sent dead letters"
    assert rejects() == expected
    assert stored_ids() == {u["login"]["uuid"] for u in before + after}
    assert control.stop(settings)


def test_absent_fields_leave_no_tombstone(settings, cassandra_session):
    """Cassandra's own trace of a full read counts the tombstone cells it met: none."""
    from cassandra.query import SimpleStatement

    ks = settings.cassandra.keyspace
    users = fake_users(f"{settings.kafka.topic}-sparse", 50)
    for u in users:
        u["id"] = {"name": "", "value": None}
        del u["cell"]
        u["location"].pop("coordinates")
    produce(settings, user_messages(users))
    control.drain(settings, timeout=600)

    def tombstones() -> list[int]:
        statement = SimpleStatement(f"SELECT * FROM {ks}.user_profiles", fetch_size=1000)
        result = cassandra_session.execute(statement, trace=True)
        events = result.get_query_trace(max_wait_sec=30).events
        counts = []
        for event in events:
            words = event.description.split()
            if "tombstone" in event.description and words[0] == "Read":
                counts.append(int(words[words.index("and") + 1]))
        return counts

    counts = tombstones()
    assert counts, "the trace reported no read at all"
    assert sum(counts) == 0, counts
    # The check can fail: one row written the old way, with nulls, shows its tombstones.
    cassandra_session.execute(
        f"INSERT INTO {ks}.user_profiles (id, first_name, cell, id_value) "
        "VALUES (9f07341f-c7e6-45b7-bab0-af6de5a4582d, 'Laura', null, null)"
    )
    assert sum(tombstones()) >= 2
