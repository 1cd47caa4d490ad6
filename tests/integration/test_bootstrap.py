"""`userstream bootstrap`: the path for clusters and Docker Compose, on the real node.

A fresh cluster (the official Cassandra image) has only the default cassandra/cassandra
superuser. The test recreates that situation on a node of this module's own (``own_stack``:
never a developer's, whose default login must stay locked), runs the real command with a
configured login, and checks what Compose relies on: the configured login exists and is a
superuser, the default login is refused again, the topics and the schema exist.
"""

from __future__ import annotations

import secrets
import subprocess
import sys

import pytest
from confluent_kafka.admin import AdminClient

from tests.integration.conftest import command_env, unlock_default_login
from userstream.config import Settings
from userstream.errors import TerminalError
from userstream.kafka import client_config
from userstream.stack._cassandra_auth import _disable_default
from userstream.store import connect_as

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_stack(shared_own_stack: Settings) -> Settings:
    """The session's private stack (``shared_own_stack``): this module leaves it as it was."""
    return shared_own_stack


@pytest.fixture(scope="module")
def kafka_admin(own_stack: Settings) -> AdminClient:
    return AdminClient(client_config.config(own_stack.kafka, "admin"))


def test_bootstrap_creates_the_configured_login_and_disables_the_default(
    own_stack: Settings, own_session, kafka_admin, unique: str
) -> None:
    stack = own_stack
    user, password = f"compose_{unique}", secrets.token_urlsafe(24)
    name = f"it_boot_{unique}"
    # What a fresh node looks like: the default superuser can log in.
    unlock_default_login(own_session)
    env = {
        **command_env(stack),
        "USERSTREAM_CASSANDRA__USERNAME": user,
        "USERSTREAM_CASSANDRA__PASSWORD": password,
        "USERSTREAM_CASSANDRA__KEYSPACE": name,
        "USERSTREAM_KAFKA__TOPIC": name,
    }
    try:
        result = subprocess.run(
            [sys.executable, "-m", "userstream", "bootstrap"],
            env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert password not in result.stdout + result.stderr

        configured = connect_as(stack.cassandra, user, password)
        try:
            row = configured.execute(
                "SELECT is_superuser FROM system_auth.roles WHERE role = %s", (user,)
            ).one()
            assert row.is_superuser
            tables = {
                r.table_name
                for r in configured.execute(
                    "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s",
                    (name,),
                )
            }
            assert {"user_profiles", "users_by_country", "user_profiles_rejects"} <= tables
        finally:
            configured.cluster.shutdown()
        with pytest.raises(TerminalError):
            connect_as(stack.cassandra, "cassandra", "cassandra")
        topics = kafka_admin.list_topics(timeout=10).topics
        assert {name, f"{name}.dlq"} <= set(topics)

        # Idempotent: a second run changes nothing and succeeds.
        again = subprocess.run(
            [sys.executable, "-m", "userstream", "bootstrap"],
            env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert again.returncode == 0, again.stdout + again.stderr
    finally:
        # Leave the default login locked whatever happened (bootstrap normally did it).
        _disable_default(own_session)
        own_session.execute(f"DROP ROLE IF EXISTS {user}")
        own_session.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=60)
        for future in kafka_admin.delete_topics([name, f"{name}.dlq"]).values():
            future.result()


def test_bootstrap_without_a_configured_login_says_what_to_set(
    own_stack: Settings, kafka_admin, unique: str
) -> None:
    unset = ("USERSTREAM_CASSANDRA__USERNAME", "USERSTREAM_CASSANDRA__PASSWORD")
    env = {k: v for k, v in command_env(own_stack).items() if k not in unset}
    name = f"it_boot_unused_{unique}"
    env["USERSTREAM_KAFKA__TOPIC"] = name
    try:
        result = subprocess.run(
            [sys.executable, "-m", "userstream", "bootstrap"],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 1
        assert "USERSTREAM_CASSANDRA__USERNAME" in result.stderr
        assert "Traceback" not in result.stderr
        # Nothing was created before the missing login was noticed.
        leaked = {name, f"{name}.dlq"} & set(kafka_admin.list_topics(timeout=10).topics)
        assert leaked == set()
    finally:
        leaked = {name, f"{name}.dlq"} & set(kafka_admin.list_topics(timeout=10).topics)
        if leaked:
            for future in kafka_admin.delete_topics(sorted(leaked)).values():
                future.result()
