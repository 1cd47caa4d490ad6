"""cassandra/init.cql rendering: placeholders, safety, idempotence markers."""

from __future__ import annotations

import pytest

from userstream.config import CassandraSettings
from userstream.errors import ConfigError
from userstream.store.schema import init_cql_path, render, replication_cql


def test_renders_keyspace_and_three_tables():
    statements = render(CassandraSettings(keyspace="ks_test"))
    assert len(statements) == 5
    assert statements[4] == "ALTER TABLE ks_test.user_profiles ADD IF NOT EXISTS fingerprint blob"
    statements = statements[:4]
    assert statements[0].startswith("CREATE KEYSPACE IF NOT EXISTS ks_test")
    assert "{'class': 'SimpleStrategy', 'replication_factor': 1}" in statements[0]
    names = [s.split("(")[0].split()[-1] for s in statements[1:]]
    assert names == ["ks_test.user_profiles", "ks_test.users_by_country",
                     "ks_test.user_profiles_rejects"]  # fmt: skip
    for statement in statements:
        assert "IF NOT EXISTS" in statement
        assert "{keyspace}" not in statement and "{replication}" not in statement
        assert "--" not in statement


def test_never_drops_truncates_or_stores_credentials():
    text = init_cql_path().read_text().upper()
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    for word in ("DROP ", "TRUNCATE", "DELETE ", "RENAME "):
        assert word not in body
    # The one ALTER only adds a column, idempotently.
    alters = [line for line in body.splitlines() if "ALTER " in line]
    assert alters and all(" ADD IF NOT EXISTS " in line for line in alters)
    for column in ("PASSWORD", "SALT", "MD5", "SHA1", "SHA256"):
        assert f" {column} " not in body


def test_query_table_key_and_order():
    statement = render(CassandraSettings(keyspace="k"))[2]
    assert "PRIMARY KEY ((country), registered_at, id)" in statement
    assert "CLUSTERING ORDER BY (registered_at DESC, id ASC)" in statement


def test_network_topology_replication():
    cql = replication_cql({"class": "NetworkTopologyStrategy", "dc1": 3, "dc2": 2})
    assert cql == "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}"


@pytest.mark.parametrize(
    "replication",
    [{"replication_factor": 1}, {"class": "SimpleStrategy', 'x': '1"}, {"class": "A", "b c": 1}],
)
def test_replication_that_could_inject_cql_is_refused(replication):
    with pytest.raises(ConfigError):
        replication_cql(replication)


@pytest.mark.parametrize("keyspace", ["Bad-Name", "ks; DROP KEYSPACE x", "1ks", ""])
def test_keyspace_must_be_a_plain_identifier(keyspace):
    with pytest.raises(ConfigError):
        render(CassandraSettings(keyspace=keyspace))
