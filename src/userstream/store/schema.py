"""Apply ``cassandra/init.cql`` — the one source of the schema — to the configured cluster,
with a ``user_profiles`` column for each field the Avro schema in use adds to the project's.

Idempotent and safe on a live cluster: every statement is ``CREATE … IF NOT EXISTS``, so a
second run changes nothing and existing rows are never touched.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from userstream import schemas
from userstream.config import CassandraSettings, Settings
from userstream.contract import PROFILES_TABLE
from userstream.errors import ConfigError, TerminalError, TransientError
from userstream.files import project_file
from userstream.schemas import AddedField

log = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_REPLICATION_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")
#: Time the cluster may take to agree on a new table before the next statement uses it.
SCHEMA_AGREEMENT_WAIT_S = 30


def init_cql_path() -> Path:
    """``cassandra/init.cql``: of the checkout, else of the working directory (an image).

    Raises ``ConfigError`` when neither exists.
    """
    found = project_file("cassandra/init.cql")
    if found is not None:
        return found
    raise ConfigError(
        "cassandra/init.cql was not found beside the package nor in the working directory.",
        hint="Run from the project's checkout (or the image's /opt/userstream).",
    )


def replication_cql(replication: dict[str, str | int]) -> str:
    """A replication map as CQL, e.g. ``{'class': 'SimpleStrategy', 'replication_factor': 1}``.

    Raises ``ConfigError`` on a key or value that could not be a replication option (the
    map is rendered into CQL text, so nothing else may pass).
    """
    if "class" not in replication:
        raise ConfigError(
            "cassandra.replication has no 'class'.",
            hint="Set e.g. USERSTREAM_CASSANDRA__REPLICATION="
            '\'{"class": "SimpleStrategy", "replication_factor": 1}\'.',
        )
    parts = []
    for key, value in replication.items():
        if not _REPLICATION_KEY.fullmatch(key) or not _REPLICATION_KEY.fullmatch(str(value)):
            raise ConfigError(
                f"cassandra.replication entry {key!r}: {value!r} is not a valid option.",
                hint="Use a strategy class and data-center names with replication factors.",
            )
        parts.append(f"'{key}': '{value}'" if isinstance(value, str) else f"'{key}': {value}")
    return "{" + ", ".join(parts) + "}"


def render(cassandra: CassandraSettings, text: str | None = None) -> list[str]:
    """The statements of init.cql for these settings, in file order, without comments."""
    if not _IDENTIFIER.fullmatch(cassandra.keyspace):
        raise ConfigError(
            f"Keyspace name {cassandra.keyspace!r} is not a plain CQL identifier.",
            hint="Use lower-case letters, digits and underscores, starting with a letter.",
        )
    source = text if text is not None else init_cql_path().read_text(encoding="utf-8")
    # Whole-line comments only (the file's own rule), so a '--' inside a value is safe.
    lines = [line for line in source.splitlines() if not line.lstrip().startswith("--")]
    statements = [s.strip() for s in re.split(r";[ \t]*$", "\n".join(lines), flags=re.M)]
    replication = replication_cql(cassandra.replication)
    return [
        s.replace("{keyspace}", cassandra.keyspace).replace("{replication}", replication)
        for s in statements
        if s
    ]


def added_columns(keyspace: str, added: tuple[AddedField, ...]) -> list[str]:
    """The statements that add a ``user_profiles`` column for each of the schema's added
    fields (``schemas.added_fields``); idempotent like the rest."""
    return [
        f"ALTER TABLE {keyspace}.{PROFILES_TABLE} ADD IF NOT EXISTS {f.name} {f.cql_type}"
        for f in added
    ]


def apply_schema(settings: Settings) -> list[str]:
    """Create the keyspace and tables when missing, and the columns of the added fields of
    the schema in use (``kafka.value_schema``); return the statements run.

    Raises ``TransientError`` when the cluster does not answer or does not agree on the
    schema in time, ``TerminalError`` naming the statement when Cassandra refuses one
    (Unauthorized, InvalidRequest, ...), and ``ConfigError``/``TerminalError`` from
    ``store.connect``.
    """
    from cassandra import (  # type: ignore[attr-defined]
        RequestExecutionException,
        RequestValidationException,
        Timeout,
        Unavailable,
    )
    from cassandra.cluster import NoHostAvailable, OperationTimedOut

    from userstream.store import session

    statements = render(settings.cassandra)
    added = schemas.in_use(settings.kafka.value_schema).added
    statements += added_columns(settings.cassandra.keyspace, added)
    with session(settings) as sess:
        for statement in statements:
            try:
                sess.execute(statement, timeout=SCHEMA_AGREEMENT_WAIT_S)
            except (OperationTimedOut, NoHostAvailable) as exc:
                raise TransientError(
                    f"Applying the schema to keyspace {settings.cassandra.keyspace!r} timed "
                    f"out at: {statement.splitlines()[0]}",
                    hint="Retry `userstream db init` when the cluster is healthy; it is "
                    "idempotent.",
                ) from exc
            except (Timeout, Unavailable) as exc:
                raise TransientError(
                    f"Cassandra could not apply the schema of keyspace "
                    f"{settings.cassandra.keyspace!r} right now ({type(exc).__name__}) at: "
                    f"{statement.splitlines()[0]}",
                    hint="Retry `userstream db init` when the cluster is healthy; it is "
                    "idempotent.",
                ) from exc
            except (RequestValidationException, RequestExecutionException) as exc:
                raise TerminalError(
                    f"Cassandra refused a schema statement for keyspace "
                    f"{settings.cassandra.keyspace!r} ({type(exc).__name__}: {exc}) at: "
                    f"{statement.splitlines()[0]}",
                    hint="Check that the configured login may create keyspaces and tables "
                    "(a superuser, or CREATE permission), then retry `userstream db init`.",
                ) from exc
        if not sess.cluster.control_connection.wait_for_schema_agreement(
            wait_time=SCHEMA_AGREEMENT_WAIT_S
        ):
            raise TransientError(
                "The Cassandra nodes did not agree on the schema in time.",
                hint="Retry `userstream db init`; it is idempotent.",
            )
    log.info(
        "schema_applied keyspace=%s statements=%d", settings.cassandra.keyspace, len(statements)
    )
    return statements
