"""Starting Cassandra: a login refusal that outlasts the wait is reported, not a timeout, and
the start returns only once the default login is refused."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from userstream.config import CassandraSettings, Settings, load_settings
from userstream.errors import TerminalError, TransientError
from userstream.stack import _cassandra_auth, cassandra
from userstream.store import LoginRefused


def _fake_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, secure: Any) -> list[str]:
    stopped: list[str] = []
    monkeypatch.setattr(cassandra.process, "running", lambda paths, name: None)
    monkeypatch.setattr(cassandra.process, "start", lambda *a, **k: SimpleNamespace(pid=1))
    monkeypatch.setattr(
        cassandra.process, "stop", lambda paths, name, timeout: stopped.append(name)
    )
    monkeypatch.setattr(cassandra, "check_ports", lambda *a, **k: None)
    monkeypatch.setattr(cassandra, "require_java", lambda: "java")
    monkeypatch.setattr(cassandra.jars, "ensure_jars", lambda *a, **k: None)
    monkeypatch.setattr(cassandra, "_render_config", lambda *a: tmp_path / "c.yaml")
    monkeypatch.setattr(cassandra, "_command", lambda *a: ["true"])
    monkeypatch.setattr(cassandra, "secure_node", secure)

    def wait_ready(paths: Any, name: str, label: str, check: Any, **kw: Any) -> float:
        for _ in range(3):
            if check():
                return 1.0
        raise TransientError(f"{label} did not answer within 1 s, so it was stopped again.")

    monkeypatch.setattr(cassandra, "wait_ready", wait_ready)
    monkeypatch.setattr(cassandra, "port_open", lambda host, port: True)
    return stopped


def test_a_lasting_login_refusal_is_raised_instead_of_the_timeout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def refuse(settings: Settings, **_: Any) -> None:
        raise TerminalError("secrets file does not match this node's data folder")

    stopped = _fake_start(monkeypatch, tmp_path, refuse)
    with pytest.raises(TerminalError, match="does not match this node's data folder"):
        cassandra._start_cassandra(load_settings(state_dir=tmp_path))
    assert stopped == [cassandra.NAME]


def test_a_passing_refusal_is_retried(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[int] = []

    def refuse_once(settings: Settings, **_: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise TerminalError("default role not there yet")

    _fake_start(monkeypatch, tmp_path, refuse_once)
    took = cassandra._start_cassandra(load_settings(state_dir=tmp_path))
    assert took is not None and took >= 1.0  # the login's wait (1 s, faked) is counted
    assert len(calls) == 2


def test_a_plain_timeout_stays_a_timeout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def not_ready(settings: Settings, **_: Any) -> None:
        raise TransientError("auth tables not ready")

    _fake_start(monkeypatch, tmp_path, not_ready)
    with pytest.raises(TransientError, match="did not answer"):
        cassandra._start_cassandra(load_settings(state_dir=tmp_path))


class _Session:
    """A logged-in session: records what it runs, answers the default role's row."""

    def __init__(self, row: object = None) -> None:
        self.cluster = SimpleNamespace(shutdown=lambda: None)
        self.row = row
        self.executed: list[str] = []

    def execute(self, statement: str, params: object = None) -> object:
        self.executed.append(statement)
        return SimpleNamespace(one=lambda: self.row)


def _logins(monkeypatch: pytest.MonkeyPatch, accepted: int, project: object = None) -> list[str]:
    """Fake logins: the default one is accepted ``accepted`` times, then refused."""
    tried: list[str] = []

    def connect_as(
        cassandra: CassandraSettings, username: str, password: str, *a: Any, **k: Any
    ) -> Any:
        tried.append(username)
        if username != _cassandra_auth.DEFAULT_ROLE:
            return project
        if tried.count(username) <= accepted:
            return _Session()
        raise LoginRefused(f"Cassandra refused the login of {username!r}.")

    monkeypatch.setattr(_cassandra_auth, "connect_as", connect_as)
    monkeypatch.setattr(_cassandra_auth.time, "sleep", lambda seconds: None)
    return tried


def test_secure_node_returns_only_once_the_default_login_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = load_settings(state_dir=tmp_path / "s")
    project = _Session(row=SimpleNamespace(can_login=True, is_superuser=True))
    # Disabled, but still accepted twice (a node's credentials cache), then refused.
    tried = _logins(monkeypatch, accepted=2, project=project)
    _cassandra_auth.secure_node(settings)
    assert any("LOGIN = false" in statement for statement in project.executed)
    assert tried.count(_cassandra_auth.DEFAULT_ROLE) == 3


def test_a_tls_failure_is_not_taken_for_the_default_login_refused(
    base_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def connect_as(
        cassandra: CassandraSettings, username: str, password: str, *a: Any, **k: Any
    ) -> Any:
        raise TerminalError(
            "TLS with Cassandra at 127.0.0.1:9042 failed: CERTIFICATE_VERIFY_FAILED"
        )

    monkeypatch.setattr(_cassandra_auth, "connect_as", connect_as)
    with pytest.raises(TerminalError, match="TLS with Cassandra"):
        _cassandra_auth.wait_default_refused(base_settings.cassandra, timeout=0.2, interval=0.01)


def test_a_default_login_still_accepted_after_the_bound_is_a_terminal_error(
    base_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    tried = _logins(monkeypatch, accepted=10**6)
    with pytest.raises(TerminalError, match="still accepts the default 'cassandra' login"):
        _cassandra_auth.wait_default_refused(base_settings.cassandra, timeout=0.2, interval=0.01)
    assert len(tried) >= 2  # tried again, not given up at the first sight


@pytest.mark.parametrize("hosts", [["127.0.0.1"], ["127.0.0.1", "127.0.0.2", "127.0.0.3"]])
def test_the_cluster_gets_system_auth_replicated_last_and_read_back_with_every_node_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hosts: list[str]
) -> None:
    """On the first node alone, system_auth gets three replicas after the default login is
    disabled (logins fail from then until a second node joins): no read at ALL, no default
    login tried. With every node up, the roles are also read back at ALL, and the default
    login is tried until refused."""
    settings = load_settings(state_dir=tmp_path / "s", cassandra={"hosts": hosts})
    project = _Session(row=SimpleNamespace(can_login=True, is_superuser=True))
    tried = _logins(monkeypatch, accepted=0, project=project)
    replication = {"class": "NetworkTopologyStrategy", "datacenter1": 3}
    _cassandra_auth.secure_node(settings, auth_replication=replication)
    statements = [str(getattr(s, "query_string", s)) for s in project.executed]
    disabled = next(i for i, s in enumerate(statements) if "LOGIN = false" in s)
    altered = next(
        i for i, s in enumerate(statements) if s.startswith("ALTER KEYSPACE system_auth")
    )
    assert disabled < altered
    assert "'datacenter1': 3" in statements[altered]
    read_back = [s for s in statements if s == "SELECT role FROM system_auth.roles"]
    assert len(read_back) == (len(hosts) > 1)
    assert tried.count(_cassandra_auth.DEFAULT_ROLE) == (len(hosts) > 1)
