"""Every statement the project runs on Cassandra's tables, and the reads that run them.

The one place that talks CQL about data (the schema itself: ``store.schema``; the local node's
roles: ``stack``): the stream's writes (``SINK``, prepared by ``streaming.cassandra_writer``),
the DAG's read-back of a batch (``quality``), the row counts of ``status``, the dashboard's
countries and ages, and the release version the health checks ask for. Table names come from
``userstream.contract``; identifiers cannot be bound, and come from our settings and code,
never from input; every value is a bound marker.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from userstream.contract import (
    BY_COUNTRY_TABLE,
    PROFILES_TABLE,
    REJECT_COLUMNS,
    REJECTS_TABLE,
)

if TYPE_CHECKING:
    import uuid

    from cassandra.cluster import Session
    from cassandra.pool import Host

#: Values per ``IN ?`` (Cassandra refuses an IN over 100 keys by default, and a large one
#: makes one node do the work of many).
IN_CHUNK = 100

#: The rejects of one partition at these offsets.
_REJECTS_AT = (
    f"SELECT kafka_partition, kafka_offset FROM {REJECTS_TABLE} "  # noqa: S608
    "WHERE topic = ? AND kafka_partition = ? AND kafka_offset IN ?"
)


def _insert(table: str, columns: Iterable[str]) -> str:
    names = list(columns)
    marks = ", ".join("?" for _ in names)
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})"  # noqa: S608


def _insert_json(table: str) -> str:
    """A row as one JSON text: Cassandra decodes it, which costs it less than binding ~35
    values costs the Python driver. ``DEFAULT UNSET``: a column absent from the text is not
    written (no tombstone)."""
    return f"INSERT INTO {table} JSON ? DEFAULT UNSET"


#: Every statement the stream's writer runs (it prepares each once per worker).
SINK = {
    "insert_profile": _insert_json(PROFILES_TABLE),
    "insert_by_country": _insert_json(BY_COUNTRY_TABLE),
    # A TTL of 0 keeps the row forever.
    "insert_reject": _insert(REJECTS_TABLE, REJECT_COLUMNS) + " USING TTL ?",
    "lookup": f"SELECT id, fingerprint FROM {PROFILES_TABLE} WHERE id IN ?",  # noqa: S608
    "known_rejects": _REJECTS_AT,
    "delete_profile": f"DELETE FROM {PROFILES_TABLE} WHERE id = ?",  # noqa: S608
    "delete_by_country": f"DELETE FROM {BY_COUNTRY_TABLE} "  # noqa: S608
    "WHERE country = ? AND registered_at = ? AND id = ?",
}


def chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def release_version(session: Session, host: Host | None = None) -> str:
    """The Cassandra version of the node that answers, or of ``host`` alone (a health
    check's question)."""
    row = session.execute("SELECT release_version FROM system.local", host=host).one()
    return str(row[0])


def count(session: Session, keyspace: str, table: str, *, timeout: float = 30) -> int | None:
    """``COUNT(*)`` of a whole table: a full scan, for status probes of a small pipeline
    (the server warns about it in the driver's ``cassandra.protocol`` log)."""
    row = session.execute(f'SELECT COUNT(*) FROM "{keyspace}".{table}', timeout=timeout).one()  # noqa: S608
    return int(row[0]) if row else None


def profiles(session: Session, ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
    """The ``user_profiles`` rows of these ids (of the session's keyspace), as dicts."""
    statement = session.prepare(f"SELECT * FROM {PROFILES_TABLE} WHERE id IN ?")  # noqa: S608
    rows: list[dict[str, Any]] = []
    for chunk in chunks(ids):
        result = session.execute(statement, (list(chunk),))
        names = result.column_names
        rows.extend(dict(zip(names, row, strict=True)) for row in result)
    return rows


def rejected_at(
    session: Session, topic: str, offsets: Mapping[int, Sequence[int]]
) -> set[tuple[int, int]]:
    """(partition, offset) of these positions of ``topic`` that ``user_profiles_rejects``
    holds (of the session's keyspace); ``offsets`` is partition → offsets."""
    statement = session.prepare(_REJECTS_AT)
    found: set[tuple[int, int]] = set()
    for partition, wanted in offsets.items():
        for chunk in chunks(sorted(wanted)):
            for row in session.execute(statement, (topic, partition, list(chunk))):
                found.add((row[0], row[1]))
    return found


def users_per_country(session: Session, keyspace: str, *, limit: int) -> dict[str, int]:
    """Users of each of at most ``limit`` countries: one ``COUNT(*)`` per partition of
    ``users_by_country``, eight at a time (a failed count leaves its country out)."""
    from cassandra.concurrent import execute_concurrent_with_args

    table = f'"{keyspace}".{BY_COUNTRY_TABLE}'
    names = [
        row.country
        for row in session.execute(
            f"SELECT DISTINCT country FROM {table} LIMIT {int(limit)}",  # noqa: S608
            timeout=10,
        )
    ]
    statement = session.prepare(f"SELECT COUNT(*) FROM {table} WHERE country = ?")  # noqa: S608
    results = execute_concurrent_with_args(session, statement, [(n,) for n in names], concurrency=8)
    return {
        name: int(outcome.one()[0])
        for name, (ok, outcome) in zip(names, results, strict=True)
        if ok
    }


def ages(session: Session, keyspace: str, *, limit: int) -> list[int | None]:
    """The ``age`` of at most ``limit`` users of ``user_profiles`` (in token order)."""
    rows = session.execute(
        f'SELECT age FROM "{keyspace}".{PROFILES_TABLE} LIMIT {int(limit)}',  # noqa: S608
        timeout=10,
    )
    return [row.age for row in rows]
