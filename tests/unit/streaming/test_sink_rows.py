"""The sink's row text and chunks: ``INSERT … JSON`` values as cassandra-driver would bind
them, and every copy of a uuid in one chunk."""

from __future__ import annotations

import datetime as dt
import random
import uuid

import orjson
import pytest

from userstream.streaming import cassandra_writer
from userstream.streaming.cassandra_writer import _chunks, _json_row, _millis
from userstream.streaming.counts import Counts
from userstream.streaming.records import Record

UTC = dt.UTC


def test_timestamps_are_in_milliseconds_as_the_driver_binds_them() -> None:
    # The driver cuts toward zero: before 1970 a sub-millisecond rest rounds up.
    cases = {
        dt.datetime(1993, 7, 20, 9, 44, 18, 674_999, tzinfo=UTC): 743_161_458_674,
        dt.datetime(1950, 1, 2, 3, 4, 5, 999_999, tzinfo=UTC): -631_054_554_000,
        dt.datetime(1900, 1, 1, tzinfo=UTC): -2_208_988_800_000,
        dt.datetime(2026, 12, 1, 8, 0, 0, 1, tzinfo=UTC): 1_796_112_000_000,
    }
    for at, millis in cases.items():
        assert _millis(at) == millis, at


def test_timestamps_match_the_drivers_own_encoding_everywhere() -> None:
    from cassandra.cqltypes import DateType
    from cassandra.marshal import int64_unpack

    rng = random.Random(7)
    zones = [
        UTC,
        dt.timezone(dt.timedelta(hours=-11, minutes=-30)),
        dt.timezone(dt.timedelta(hours=14)),
    ]
    instants = [
        dt.datetime(1, 1, 2, tzinfo=UTC),
        dt.datetime(9999, 12, 30, 23, 59, 59, 999_999, tzinfo=UTC),
    ]
    for _ in range(20_000):
        at = dt.datetime(1, 1, 2, tzinfo=UTC) + dt.timedelta(
            microseconds=rng.randrange(315_000_000_000_000_000)
        )
        instants.append(at.astimezone(rng.choice(zones)))
    instants += [at.replace(tzinfo=None) for at in instants[:2_000]]  # naive: read as UTC
    for at in instants:
        assert _millis(at) == int64_unpack(DateType.serialize(at, 0)), at


def test_a_row_text_leaves_absent_columns_out_and_encodes_what_json_lacks() -> None:
    values = {
        "id": "6a0c6bd1-7e3c-4b36-a3a1-6e0b32b2e0a4",
        "first_name": "Laura",
        "last_name": None,
        "dob": dt.datetime(1993, 7, 20, 9, 44, 18, 674_000, tzinfo=UTC),
        "latitude": -45.123456789,
        "street_number": 42,
        "fingerprint": b"\x00\xff\x10",
        "unknown": "not a column",
    }
    columns = ("id", "first_name", "last_name", "dob", "latitude", "street_number",
               "fingerprint", "email")  # fmt: skip
    row = orjson.loads(_json_row(values, columns))
    assert row == {
        "id": "6a0c6bd1-7e3c-4b36-a3a1-6e0b32b2e0a4",
        "first_name": "Laura",
        "dob": "743161458674",
        "latitude": -45.123456789,
        "street_number": 42,
        "fingerprint": "0x00ff10",
    }


def _record(key: bytes | None, offset: int) -> Record:
    return Record(key, b"{}", "t", 0, offset)


def test_chunks_keep_every_copy_of_a_key_together_and_lose_nothing() -> None:
    keys = [str(uuid.UUID(int=i % 450)).encode() for i in range(1000)] + [None, None]
    batch = [_record(k, offset) for offset, k in enumerate(keys)]
    chunks = _chunks(batch)
    assert len(chunks) > 1
    assert sorted(r.offset for chunk in chunks for r in chunk) == list(range(len(batch)))
    home = {}
    for number, chunk in enumerate(chunks):
        for r in chunk:
            assert home.setdefault(r.key, number) == number
    assert _chunks(batch[:10]) == [batch[:10]]


def test_counts_of_chunks_add_up_to_the_partitions() -> None:
    def counts(n: int, at: str, reasons: dict[str, int]) -> Counts:
        shown = {"id": at, "ingested_at": at}
        return Counts(valid=n, stored=n, rejected=1, reasons=reasons, newest=[shown],
                      latency_ms=[float(n)])  # fmt: skip

    total = counts(3, "2026-12-01T08:00:02", {"a": 1})
    total.absorb(counts(5, "2026-12-01T08:00:01", {"a": 1}))
    total.absorb(counts(1, "2026-12-01T08:00:03", {"b": 1}))
    assert (total.valid, total.stored, total.rejected) == (9, 9, 3)
    assert total.reasons == {"a": 2, "b": 1}
    assert [u["id"] for u in total.newest] == [
        "2026-12-01T08:00:01",
        "2026-12-01T08:00:02",
        "2026-12-01T08:00:03",
    ]
    assert total.latency_ms == [1.0, 3.0, 5.0]


def test_a_failed_chunk_fails_the_partition_only_once_every_chunk_has_ended(monkeypatch) -> None:
    import threading
    import time

    ended: list[int] = []
    lock = threading.Lock()

    def run(self, chunk):
        if any(r.offset == 0 for r in chunk):
            raise RuntimeError("Cassandra away")
        time.sleep(0.2)
        with lock:
            ended.append(len(chunk))
        return Counts(valid=len(chunk))

    monkeypatch.setattr(cassandra_writer, "_store_by", lambda config, deadline: object())
    monkeypatch.setattr(cassandra_writer._Batch, "run", run)
    config = cassandra_writer.SinkConfig(
        hosts=("127.0.0.1",), port=9042, local_dc="dc1", username="u", password="p",
        keyspace="k", bootstrap_servers="b", kafka_config=(), dlq_topic="d",
        retry_deadline_s=1.0,
    )  # fmt: skip
    rows = [
        (str(uuid.UUID(int=i)).encode(), 36, b"{}", 2, "t", 0, i, 0, None, None)
        for i in range(4 * cassandra_writer.CHUNK_RECORDS)
    ]
    with pytest.raises(RuntimeError, match="Cassandra away"):
        list(cassandra_writer.write_partition(config, dt.datetime.now(UTC), rows))
    assert sum(ended) + len(next(c for c in _chunks_of(rows) if 0 in c)) == len(rows)


def _chunks_of(rows):
    batch = [cassandra_writer._record(row) for row in rows]
    return [{r.offset for r in chunk} for chunk in _chunks(batch)]
