"""Write one partition of a micro-batch to Cassandra (and its rejects to the DLQ topic).

Runs inside Spark's Python workers (``batch_writer.BatchWriter`` hands each Kafka partition of a
micro-batch to ``write_partition``). The connection is opened once per worker process and
kept: the cassandra-driver reconnects on its own after a node restart (every second), so a
micro-batch that meets a node going away waits for it and carries on.

Guarantee: effectively exactly-once into Cassandra. Every write is an upsert keyed by what
the record determines (``id``; ``(country, registered_at, id)``; ``(topic, partition,
offset)`` for rejects), so a replayed micro-batch converges to the same rows. A user's rows
are written as ``INSERT … JSON ? DEFAULT UNSET`` (one text value per row: cheaper for this
process than binding each column) and a reject's with bound values; either way an absent
field is UNSET: nothing is written for it, so no tombstone. A partition is written in
chunks (``CHUNK_RECORDS``, every copy of a uuid in one), ``WRITERS`` at a time.

Per record, never per batch:

- a record ``records.judge`` rejects, a uuid already stored with other content, and a row
  Cassandra refuses (``InvalidRequest``) or the driver cannot encode, become one reject row
  with the reason; the batch goes on;
- transient failures (no node, timeouts, overload) are retried with a short capped backoff
  until ``retry_deadline_s``; then the batch fails and is replayed from the checkpoint;
- anything else (a refused login, a missing table) fails the batch: rejecting every row
  for a configuration error would lose users.

Dead letters are sent once per source position: a reject whose position is already in the
rejects table was dead-lettered by an earlier attempt of this batch and is not sent again.
A new reject is produced to the DLQ topic and flushed *before* its row is written, so a
crash in between re-sends it on replay (at least once, doubled only by a crash in that
window) and never loses it. The rejects table stays the exact record.

A reject row (and its dead letter) keeps the raw key, and the raw value without its
credentials (``records.redact``); the row expires after ``SinkConfig.rejects_ttl_s``
seconds (0: never). The check above reads the rows back, so they must outlive any replay
of their batch: the TTL counts in days, a replay comes within minutes.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from userstream.contract import (
    BY_COUNTRY_COLUMNS,
    H_INGESTED_AT,
    H_SOURCE_URL,
    PROFILE_COLUMNS,
    REJECT_COLUMNS,
)
from userstream.errors import TransientError
from userstream.schemas import AddedField
from userstream.store import Tls, new_cluster
from userstream.store.queries import SINK
from userstream.streaming import avro_reader, records
from userstream.streaming.counts import Counts, add_reason, reason_kind
from userstream.streaming.dlq import DeadLetters

if TYPE_CHECKING:
    from cassandra.cluster import Session
    from cassandra.query import PreparedStatement

log = logging.getLogger(__name__)

#: Requests in flight per writer: with a commit log synced before each acknowledgement, more
#: only queue up behind the syncs (12 measured best of 6–96 on 2 cores; docs/performance.md).
CONCURRENCY = 12
LOOKUP_CHUNK = 100
#: Rows per unlogged batch and about how many bytes (the rows' JSON text): batches cut the
#: per-request cost several times; Cassandra refuses a batch over 50 KiB by default.
BATCH_ROWS = 32
BATCH_BYTES = 16 * 1024
BACKOFF_MAX_S = 1.0
PROFILE_WRITE_COLUMNS = (*PROFILE_COLUMNS, "fingerprint")
#: A reject row's values: its columns, then its time to live (``USING TTL ?``).
REJECT_WRITE_VALUES = (*REJECT_COLUMNS, "ttl")
#: A partition is written in chunks of about this many records (all copies of a uuid in one
#: chunk), ``WRITERS`` chunks at a time: one chunk is judged and bound while the writes of
#: the others wait on Cassandra, so the Python work and Cassandra's overlap instead of
#: adding up (docs/performance.md).
CHUNK_RECORDS = 200
WRITERS = 3


@dataclass(frozen=True)
class SinkConfig:
    """What a worker needs to write (plain values: it is pickled to the executors)."""

    hosts: tuple[str, ...]
    port: int
    local_dc: str
    username: str
    password: str = field(repr=False)
    keyspace: str
    bootstrap_servers: str
    #: The stream role's librdkafka settings (with its password: kept out of the repr).
    kafka_config: tuple[tuple[str, str], ...] = field(repr=False)
    dlq_topic: str
    retry_deadline_s: float
    #: Seconds a row of the rejects table lives (``cassandra.rejects_ttl_days``); 0: forever.
    rejects_ttl_s: int = 0
    #: TLS to the nodes (none by default).
    tls: Tls = field(default_factory=Tls)
    #: The schema registry client's settings (``registry.client_config.config``, with its
    #: password: kept out of the repr), for the writer schemas of Avro values.
    registry_config: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    #: The reader schema's text when it is not the project's (``kafka.value_schema``).
    value_schema: str | None = field(default=None, repr=False)
    #: Its fields beyond the API's, each written to its own column.
    added: tuple[AddedField, ...] = ()


def _is_transient(exc: BaseException) -> bool:
    from cassandra import (  # type: ignore[attr-defined]
        CoordinationFailure,
        OperationTimedOut,
        ReadTimeout,
        Unavailable,
        WriteTimeout,
    )
    from cassandra.cluster import NoHostAvailable
    from cassandra.connection import ConnectionException
    from cassandra.protocol import IsBootstrappingErrorMessage, OverloadedErrorMessage, ServerError

    return isinstance(
        exc,
        CoordinationFailure
        | OperationTimedOut
        | ReadTimeout
        | Unavailable
        | WriteTimeout
        | NoHostAvailable
        | ConnectionException
        | IsBootstrappingErrorMessage
        | OverloadedErrorMessage
        | ServerError,
    )


def _is_refused_row(exc: BaseException) -> bool:
    from cassandra import InvalidRequest  # type: ignore[attr-defined]

    return isinstance(exc, InvalidRequest)


class _Store:
    """A worker's session and prepared statements (one per ``SinkConfig``, kept)."""

    def __init__(self, config: SinkConfig) -> None:
        self.cluster = new_cluster(
            config.hosts, config.port, config.local_dc, config.username, config.password,
            tls=config.tls, connect_timeout=10, request_timeout=10,
        )  # fmt: skip
        try:
            self.session: Session = self.cluster.connect(config.keyspace)
            prepared = {name: self.session.prepare(cql) for name, cql in SINK.items()}
        except BaseException:
            self.cluster.shutdown()  # no half-built cluster (and its threads) left behind
            raise
        self.insert_profile = prepared["insert_profile"]
        self.insert_by_country = prepared["insert_by_country"]
        self.insert_reject = prepared["insert_reject"]
        self.rejects_ttl_s = config.rejects_ttl_s
        self.lookup = prepared["lookup"]
        self.known_rejects = prepared["known_rejects"]
        self.delete_profile = prepared["delete_profile"]
        self.delete_by_country = prepared["delete_by_country"]
        self.dead_letters = DeadLetters(
            config.bootstrap_servers, dict(config.kafka_config), config.dlq_topic
        )


_stores: dict[SinkConfig, _Store] = {}


def connect(config: SinkConfig) -> None:
    """Connect this process's store for ``config`` now (it is kept for every batch)."""
    _store(config)


def _store_by(config: SinkConfig, deadline: float) -> _Store:
    """``_store``, waiting for a node that is away (restarting) until ``deadline``."""
    while True:
        try:
            return _store(config)
        except Exception as exc:
            if not _is_transient(exc) or time.monotonic() + 1 > deadline:
                raise
            log.warning("cassandra_connect_retry error=%s", exc)
            time.sleep(1)


def _store(config: SinkConfig) -> _Store:
    """This process's store for ``config``, connected on first use and kept."""
    store = _stores.get(config)
    if store is None:
        store = _stores[config] = _Store(config)
    return store


def _bind(statement: PreparedStatement, values: dict[str, Any], columns: Iterable[str]) -> Any:
    """A bound statement; absent values are UNSET (no cell written, no tombstone)."""
    from cassandra.query import UNSET_VALUE

    return statement.bind([values.get(c, UNSET_VALUE) for c in columns])


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NAIVE_EPOCH = _EPOCH.replace(tzinfo=None)
_SECOND = dt.timedelta(seconds=1)


def _millis(at: dt.datetime) -> int:
    """A timestamp column's value in epoch milliseconds, exactly as cassandra-driver binds it
    (``DateType.serialize``: whole UTC seconds, then ``int(s * 1e3 + µs / 1e3)``, the same
    float sum cut toward zero), without its ``timegm(utctimetuple())``, which cost a tenth
    of the writer's CPU. A naive datetime is UTC, as the driver reads it."""
    seconds = (at - (_NAIVE_EPOCH if at.tzinfo is None else _EPOCH)) // _SECOND
    return int(seconds * 1e3 + at.microsecond / 1e3)


def _json_row(values: dict[str, Any], columns: Iterable[str]) -> str:
    """``columns`` of ``values`` as the JSON text of an ``INSERT … JSON``; absent values are
    left out (UNSET). Timestamps as epoch ms in text (Cassandra reads a small JSON
    number as an int, which it refuses for a timestamp), blobs as 0x-hex, uuids as text."""
    row: dict[str, Any] = {}
    for column in columns:
        value = values.get(column)
        if value is None:
            continue
        if isinstance(value, dt.datetime):
            value = str(_millis(value))
        elif isinstance(value, bytes):
            value = "0x" + value.hex()
        row[column] = value
    return orjson.dumps(row).decode()


Copy = tuple[records.Record, records.Profile]


class _Row(NamedTuple):
    """One row to write: batches are ordered by (``by_country``, ``key``)."""

    by_country: bool
    #: The partition key, serialized (routes the row and its batch).
    key: bytes
    statement: Any
    #: Its JSON text's length (what cuts batches at ``BATCH_BYTES``).
    size: int
    owner: Copy


class _Batch:
    """One partition's records through judge → conflict check → writes → rejects."""

    def __init__(
        self,
        store: _Store,
        deadline: float,
        processed_at: dt.datetime,
        writers: avro_reader.WriterSchemas | None = None,
        added: tuple[AddedField, ...] = (),
    ) -> None:
        self.store = store
        self.writers = writers
        self.added = added
        self.profile_columns = (*PROFILE_WRITE_COLUMNS, *(f.name for f in added))
        self.deadline = deadline
        self.processed_at = processed_at
        self.rejects: list[tuple[records.Record, str, dt.datetime | None]] = []

    def reject(self, record: records.Record, reason: str, at: dt.datetime | None) -> None:
        self.rejects.append((record, reason, at))

    def run(self, batch: list[records.Record]) -> Counts:
        copies: dict[str, list[Copy]] = {}
        for record in sorted(batch, key=lambda r: r.offset):
            verdict = records.judge(record, self.writers, self.added)
            if isinstance(verdict, records.Reject):
                self.reject(record, verdict.reason, verdict.ingested_at)
            else:
                copies.setdefault(verdict.id, []).append((record, verdict))
        stored = self._stored_fingerprints(list(copies))
        written = self._write_profiles(self._resolve(copies, stored), stored)
        counts = Counts(valid=len(batch) - len(self.rejects))
        counts.note_stored(written, time.time())  # visible in Cassandra from now on
        self._write_rejects()
        counts.rejected = len(self.rejects)
        for _, reason, _ in self.rejects:
            add_reason(counts.reasons, reason_kind(reason), 1)
        return counts

    def _resolve(
        self, copies: dict[str, list[Copy]], stored: dict[str, bytes | None]
    ) -> list[Copy]:
        """One copy per id: the latest with the stored content; copies with other content
        are rejected (the first content stored for a uuid is the user)."""
        chosen = []
        for user_id, versions in copies.items():
            truth = stored.get(user_id)
            keep = None
            for record, profile in versions:
                if truth is None or profile.fingerprint == truth:
                    truth, keep = profile.fingerprint, (record, profile)
                else:
                    reason = f"login.uuid {user_id} is already stored with other values"
                    self.reject(record, reason, profile.columns.get("ingested_at"))
            if keep is not None:
                chosen.append(keep)
        return chosen

    def _stored_fingerprints(self, ids: list[str]) -> dict[str, bytes | None]:
        chunks = [ids[i : i + LOOKUP_CHUNK] for i in range(0, len(ids), LOOKUP_CHUNK)]
        statements = [self.store.lookup.bind([[uuid.UUID(i) for i in c]]) for c in chunks]
        found: dict[str, bytes | None] = {}
        for rows in self._execute(statements, "look up stored users").values():
            for row in rows:
                found[str(row.id)] = row.fingerprint
        return found

    def _write_profiles(
        self, chosen: list[Copy], stored: dict[str, bytes | None]
    ) -> list[records.Profile]:
        """Write both tables; returns the users stored. A user Cassandra refuses
        (either table) is rejected, and the half of a *new* user that was written is undone
        so ``users_by_country`` never lists a user ``user_profiles`` lacks (or the reverse)."""
        rows: list[_Row] = []
        refused: dict[str, str] = {}
        for record, profile in chosen:
            values = {
                **profile.columns,
                "processed_at": self.processed_at,
                "fingerprint": profile.fingerprint,
            }
            try:
                user = [(False, uuid.UUID(profile.id).bytes, self.store.insert_profile,
                         _json_row(values, self.profile_columns))]  # fmt: skip
                country = values.get("country")
                if country and values.get("registered_at"):
                    user.append((True, country.encode(), self.store.insert_by_country,
                                 _json_row(values, BY_COUNTRY_COLUMNS)))  # fmt: skip
                bound = [_Row(c, key, insert.bind([text]), len(text), (record, profile))
                         for c, key, insert, text in user]  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - any encoding failure is this row's
                refused[profile.id] = f"the Cassandra driver cannot encode the row: {exc}"
                continue
            rows.extend(bound)
        # The rows of one users_by_country partition side by side: Cassandra applies a
        # batch's rows of one partition as one update (one memtable change, not one a row).
        rows.sort(key=lambda row: (row.by_country, row.key))
        statements = [row.statement for row in rows]
        owners = [row.owner for row in rows]
        keys = [row.key for row in rows]
        sizes = [row.size for row in rows]
        failures = self._execute_rows(statements, keys, sizes)
        for index, reason in failures.items():
            refused.setdefault(owners[index][1].id, reason)
        undo = [
            self._undo(statements[i], profile)
            for i, (_, profile) in enumerate(owners)
            if profile.id in refused and i not in failures and profile.id not in stored
        ]
        if undo:
            self._execute(undo, "remove half-written users")
        for record, profile in chosen:
            if profile.id in refused:
                self.reject(record, refused[profile.id], profile.columns.get("ingested_at"))
        return [p for _, p in chosen if p.id not in refused]

    def _undo(self, statement: Any, profile: records.Profile) -> Any:
        user_id = uuid.UUID(profile.id)
        if statement.prepared_statement is self.store.insert_profile:
            return self.store.delete_profile.bind([user_id])
        values = profile.columns
        return self.store.delete_by_country.bind(
            [values["country"], values["registered_at"], user_id]
        )

    def _write_rejects(self) -> None:
        """DLQ once per position, then the rejects rows (see the module docstring)."""
        if not self.rejects:
            return
        positions: dict[tuple[str, int], list[int]] = {}
        for record, _, _ in self.rejects:
            positions.setdefault((record.topic, record.partition), []).append(record.offset)
        keys = [
            (topic, partition, offsets[i : i + LOOKUP_CHUNK])
            for (topic, partition), offsets in positions.items()
            for i in range(0, len(offsets), LOOKUP_CHUNK)
        ]
        lookups = [self.store.known_rejects.bind(list(key)) for key in keys]
        known = {
            (keys[i][0], keys[i][1], row.kafka_offset)
            for i, rows in self._execute(lookups, "look up rejects").items()
            for row in rows
        }
        fresh = []
        for record, reason, at in self.rejects:
            position = (record.topic, record.partition, record.offset)
            if position not in known:
                known.add(position)
                fresh.append((record, reason, at))
        if not fresh:
            return
        self.store.dead_letters.send(fresh)
        rows = [
            _bind(
                self.store.insert_reject,
                {
                    "topic": record.topic,
                    "kafka_partition": record.partition,
                    "kafka_offset": record.offset,
                    "raw_key": records.raw_text(record.key, records.MAX_KEY_BYTES),
                    "raw_value": records.raw_value(record, self.writers),
                    "reason": reason[:2000],
                    "ingested_at": at,
                    "rejected_at": self.processed_at,
                    "ttl": self.store.rejects_ttl_s,
                },
                REJECT_WRITE_VALUES,
            )
            for record, reason, at in fresh
        ]
        self._execute(rows, "write rejects")

    def _execute(self, statements: list[Any], what: str) -> dict[int, Any]:
        """Run ``statements``, retrying transient failures; results by index. Raises
        ``TransientError`` past the deadline and any other failure as it is."""
        results, failures = self._run(statements, what)
        for exc in failures.values():
            raise exc
        return results

    def _execute_rows(
        self, statements: list[Any], keys: list[bytes], sizes: list[int]
    ) -> dict[int, str]:
        """Run row writes in token-aware unlogged batches (``keys``: each row's partition
        key, serialized); a row Cassandra refuses is a reason (by index), not a failure. A
        refused batch is retried row by row to find the row(s) at fault."""
        from cassandra.query import BatchStatement, BatchType

        groups = self._group(keys, sizes)
        batches = []
        for group in groups:
            batch = BatchStatement(batch_type=BatchType.UNLOGGED)
            for index in group:
                batch.add(statements[index])
            batch.routing_key = keys[group[0]]
            batches.append(batch)
        _, failures = self._run(batches, "write users")
        singles = []
        for number, exc in failures.items():
            if not _is_refused_row(exc):
                raise exc
            singles.extend(groups[number])
        if not singles:
            return {}
        _, refused = self._run([statements[i] for i in singles], "write users one by one")
        reasons = {}
        for position, exc in refused.items():
            if not _is_refused_row(exc):
                raise exc
            reasons[singles[position]] = f"Cassandra refused the row: {str(exc)[:500]}"
        return reasons

    def _group(self, keys: list[bytes], sizes: list[int]) -> list[list[int]]:
        """Rows (by their partition keys) grouped by the replicas that own them (one group
        per node set, like the Spark connector's ``replica_set`` grouping), cut at
        ``BATCH_ROWS`` rows and about ``BATCH_BYTES`` bytes so no batch nears Cassandra's
        size limit."""
        metadata = self.store.cluster.metadata
        keyspace = self.store.session.keyspace
        open_groups: dict[Any, tuple[list[int], int]] = {}
        done = []
        for index, routing_key in enumerate(keys):
            replicas = metadata.get_replicas(keyspace, routing_key)
            key = tuple(sorted(str(h.endpoint) for h in replicas))
            group, size = open_groups.get(key, ([], 0))
            if group and (len(group) >= BATCH_ROWS or size + sizes[index] > BATCH_BYTES):
                done.append(group)
                group, size = [], 0
            group.append(index)
            open_groups[key] = (group, size + sizes[index])
        done.extend(group for group, _ in open_groups.values() if group)
        return done

    def _run(
        self, statements: list[Any], what: str, *, refused_ok: bool = False
    ) -> tuple[dict[int, Any], dict[int, BaseException]]:
        from cassandra.concurrent import execute_concurrent

        results: dict[int, Any] = {}
        failures: dict[int, BaseException] = {}
        pending = list(range(len(statements)))
        delay = 0.1
        while pending:
            outcome = execute_concurrent(
                self.store.session,
                [(statements[i], None) for i in pending],
                concurrency=CONCURRENCY,
                raise_on_first_error=False,
            )
            retry = []
            for index, (ok, value) in zip(pending, outcome, strict=True):
                if ok:
                    results[index] = value
                elif _is_transient(value):
                    retry.append((index, value))
                else:
                    failures[index] = value
            pending = [i for i, _ in retry]
            if not pending:
                break
            if time.monotonic() + delay > self.deadline:
                raise TransientError(
                    f"Cassandra did not take the writes ({what}) within the batch's retry "
                    f"deadline; last error: {retry[0][1]}",
                    hint="The micro-batch is replayed from the checkpoint.",
                )
            log.warning(
                "cassandra_retry what=%s statements=%d error=%s", what, len(pending), retry[0][1]
            )
            time.sleep(delay)
            delay = min(BACKOFF_MAX_S, delay * 2)
        return results, failures


def _record(row: Any) -> records.Record:
    """A ``batch_writer.SOURCE_COLUMNS`` row as a ``records.Record``."""
    key, key_size, value, size, topic, partition, offset, timestamp_ms, ingested, url = row
    return records.Record(
        key=None if key is None else bytes(key),
        value=None if value is None else bytes(value),
        key_size=key_size if key is not None and key_size != len(key) else None,
        size=size if value is not None and size != len(value) else None,
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp_ms=timestamp_ms,
        headers=(
            (H_INGESTED_AT, None if ingested is None else bytes(ingested)),
            (H_SOURCE_URL, None if url is None else bytes(url)),
        ),
    )


def write_partition(
    config: SinkConfig, processed_at: dt.datetime, rows: Iterable[Any]
) -> Iterator[dict[str, Any]]:
    """``mapPartitions`` body: Kafka rows of one partition in, one dict of counts out.

    A row is ``batch_writer.SOURCE_COLUMNS``: key and its size, value and its size (both possibly
    cut), topic, partition, offset, timestamp (ms), the ``ingested_at`` and ``source_url``
    header values.
    """
    batch = [_record(row) for row in rows]
    if not batch:
        yield Counts().as_dict()
        return
    started = time.monotonic()
    deadline = started + config.retry_deadline_s
    store = _store_by(config, deadline)
    writers = _writer_schemas(config)
    writers.fetch((i for r in batch if (i := avro_reader.schema_id(r.value)) is not None), deadline)

    def run(chunk: list[records.Record]) -> Counts:
        return _Batch(store, deadline, processed_at, writers, config.added).run(chunk)

    chunks = _chunks(batch)
    if len(chunks) == 1:
        counts, others = run(chunks[0]), []
    else:
        # Every chunk ends before the batch does, failed or not: no write of this attempt
        # may still run beside its replay.
        futures = [_pool().submit(run, chunk) for chunk in chunks]
        wait(futures)
        counts, *others = (future.result() for future in futures)
    for other in others:
        counts.absorb(other)
    counts.worker_ms = int((time.monotonic() - started) * 1000)
    yield counts.as_dict()


def _chunks(batch: list[records.Record]) -> list[list[records.Record]]:
    """About ``CHUNK_RECORDS`` records each, every copy of one key in the same chunk (a
    uuid's copies are resolved against each other and the stored row together)."""
    n = -(-len(batch) // CHUNK_RECORDS)
    if n == 1:
        return [batch]
    chunks: list[list[records.Record]] = [[] for _ in range(n)]
    for record in batch:
        chunks[hash(record.key) % n].append(record)
    return [chunk for chunk in chunks if chunk]


_writer_schemas_by: dict[
    tuple[tuple[tuple[str, str], ...], str | None], avro_reader.WriterSchemas
] = {}


def _writer_schemas(config: SinkConfig) -> avro_reader.WriterSchemas:
    """This process's writer schemas for the registry of ``config`` (fetched once, kept)."""
    key = (config.registry_config, config.value_schema)
    writers = _writer_schemas_by.get(key)
    if writers is None:
        writers = avro_reader.WriterSchemas(dict(config.registry_config), config.value_schema)
        _writer_schemas_by[key] = writers
    return writers


_writers: ThreadPoolExecutor | None = None
_writers_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """This process's writer threads (kept, like its Cassandra session)."""
    global _writers
    with _writers_lock:
        if _writers is None:
            _writers = ThreadPoolExecutor(WRITERS, thread_name_prefix="cassandra-writer")
        return _writers
