"""apply_schema: a statement Cassandra refuses is a clear error naming it, not a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from cassandra import InvalidRequest, Unauthorized, Unavailable  # type: ignore[attr-defined]

from userstream import store
from userstream.config import Settings
from userstream.errors import TerminalError, TransientError
from userstream.store import schema


class _Refusing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def execute(self, statement: str, **kw: Any) -> None:
        raise self.error


def _use(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    @contextmanager
    def session(settings: Settings, keyspace: str | None = None) -> Iterator[_Refusing]:
        yield _Refusing(error)

    monkeypatch.setattr(store, "session", session)


@pytest.mark.parametrize(
    "error",
    [Unauthorized("User x has no CREATE permission"), InvalidRequest("bad replication")],
)
def test_a_refused_statement_is_a_terminal_error_naming_it(
    base_settings: Settings, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    _use(monkeypatch, error)
    first = schema.render(base_settings.cassandra)[0].splitlines()[0]
    with pytest.raises(TerminalError, match=type(error).__name__) as caught:
        schema.apply_schema(base_settings)
    assert first in caught.value.message


def test_an_unavailable_cluster_stays_transient(
    base_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, Unavailable("not enough replicas"))
    with pytest.raises(TransientError):
        schema.apply_schema(base_settings)
