"""No credential reaches Kafka, Cassandra or a dead-letter topic; rejects expire; the default
Cassandra login is refused once the node is secured. Real Kafka and Cassandra (and Spark for
the whole pipeline)."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from tests.integration.conftest import open_session, unlock_default_login
from tests.integration.conftest_stream import (
    SOURCE_URL,
    isolated,
    produce,
    read_dlq,
    stream_env,
)
from tests.integration.static_api import StaticApi
from tests.integration.test_producer import (
    as_avro,
    decoded,
    random_letters,
    read_topic,
)
from userstream.config import Settings
from userstream.credentials import FIELDS
from userstream.errors import TerminalError
from userstream.producing.run import run_producer
from userstream.source.standin.data import make_page
from userstream.stack._cassandra_auth import _disable_default, secure_node
from userstream.store import connect_as
from userstream.streaming import cassandra_writer, control
from userstream.streaming.batch_writer import sink_config
from userstream.streaming.records import MAX_MESSAGE_BYTES, MAX_RAW_CHARS

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_stack(shared_own_stack: Settings) -> Settings:
    """The session's private stack (``shared_own_stack``): this module leaves it as it was."""
    return shared_own_stack


DAY_S = 86_400
INGESTED_AT = b"2026-11-23T10:00:00.123Z"


@pytest.fixture
def settings(stack: Settings, unique: str) -> Iterator[Settings]:
    with stream_env(isolated(stack, unique)) as s:
        yield s


def secrets_of(users: list[Any]) -> list[str]:
    """The salts and hashes of ``users``: random text found nowhere else (a password such as
    ``123456`` could be, so it is checked as a login field instead)."""
    return [u["login"][name] for u in users for name in ("salt", "md5", "sha1", "sha256")]


def assert_clean(texts: list[str | bytes | None], secrets: list[str], *, names: bool) -> None:
    """No secret in any of ``texts``; with ``names``, no credential's name either."""
    assert texts, "nothing to check: the test would prove nothing"
    for text in texts:
        blob = text.encode() if isinstance(text, str) else text or b""
        for word in [*secrets, *(FIELDS if names else ())]:
            for form in (word.encode(), word.encode("utf-16-le")):
                assert form not in blob, (word, blob[:300])


def hostile(unique: str) -> tuple[list[tuple[bytes | None, bytes]], list[str]]:
    """Messages that did not come from our producer, each a reject carrying credentials,
    and the credentials they carry."""
    users = make_page(f"hostile-{unique}", 1, 9)
    secrets = secrets_of(users)
    for u in users:  # a password found nowhere else
        u["login"]["password"] = f"pw{u['login']['salt']}"
        secrets.append(u["login"]["password"])
    bad = [copy.deepcopy(u) for u in users]
    for u in bad:
        u["email"] = "no-domain"
    key = [u["login"]["uuid"].encode() for u in users]
    login0 = json.dumps(users[4]["login"])
    twice = f'"password":"{users[5]["login"]["password"]}","salt":'.encode()
    big = {"login": users[7]["login"], "extra": "x" * (MAX_MESSAGE_BYTES + 10)}
    messages: list[tuple[bytes | None, bytes]] = [
        (key[0], orjson.dumps(bad[0])),  # well formed, invalid email
        (key[1], orjson.dumps(users[1])[:-40]),  # cut short after the login
        (key[2], orjson.dumps(bad[2]).replace(b'"gender":"', b'"gender":"\xff', 1)),
        (key[3], orjson.dumps({**bad[3], "login": [users[3]["login"]]})),
        (key[4], orjson.dumps({**bad[4], "login": login0})),  # JSON inside a string
        (key[5], orjson.dumps(bad[5]).replace(b'"salt":', twice, 1)),
        (key[6], json.dumps(bad[6]).encode("utf-16-le")),
        (key[7], orjson.dumps(big)),  # too large: the stream reads only its beginning
        (key[8], orjson.dumps(bad[8]).replace(b'"password"', b'"p\\u0061ssword"')),
    ]
    return messages, secrets


def source_rows(topic: str, partition: int, messages: list[tuple[bytes | None, bytes]]) -> list:
    """``batch_writer.SOURCE_COLUMNS`` rows, cut as the stream's SQL cuts them."""
    rows = []
    for offset, (key, value) in enumerate(messages):
        read = value[:MAX_RAW_CHARS] if len(value) > MAX_MESSAGE_BYTES else value
        rows.append((key, len(key or b""), read, len(value), topic, partition, offset,
                     1_700_000_000_000, INGESTED_AT, SOURCE_URL))  # fmt: skip
    return rows


@pytest.fixture
def sink(settings: Settings) -> Iterator[cassandra_writer.SinkConfig]:
    """The stream's sink config, written to from this process; its session closed after."""
    config = sink_config(settings)
    yield config
    for key in [k for k in cassandra_writer._stores if k.keyspace == config.keyspace]:
        cassandra_writer._stores.pop(key).cluster.shutdown()


def test_a_reject_keeps_no_credential_expires_and_is_dead_lettered_once(
    settings: Settings, sink: cassandra_writer.SinkConfig, cassandra_session, unique: str
) -> None:
    ks, topic = settings.cassandra.keyspace, settings.kafka.topic
    messages, secrets = hostile(unique)
    now = dt.datetime.now(dt.UTC)
    month = dataclasses.replace(sink, rejects_ttl_s=30 * DAY_S)
    forever = dataclasses.replace(sink, rejects_ttl_s=0)
    rows = source_rows(topic, 0, messages)
    [counts] = cassandra_writer.write_partition(month, now, rows)
    assert counts["rejected"] == len(messages), counts
    [counts] = cassandra_writer.write_partition(forever, now, source_rows(topic, 1, messages[:2]))
    assert counts["rejected"] == 2

    found = list(cassandra_session.execute(
        "SELECT kafka_partition, raw_value, reason, TTL(reason) AS ttl "
        f"FROM {ks}.user_profiles_rejects"))  # fmt: skip
    assert len(found) == len(messages) + 2
    assert_clean([r.raw_value for r in found], secrets, names=True)
    assert_clean([r.reason for r in found], secrets, names=False)
    # What is not a credential is kept for the diagnosis.
    assert any(messages[0][0].decode() in (r.raw_value or "") for r in found)
    ttls = [r.ttl for r in found if r.kafka_partition == 0]
    assert all(30 * DAY_S - 600 < ttl <= 30 * DAY_S for ttl in ttls), ttls
    assert [r.ttl for r in found if r.kafka_partition == 1] == [None, None]

    dead = read_dlq(settings, len(messages) + 2, timeout=60)
    assert len(dead) == len(messages) + 2
    assert_clean([m.value() for m in dead], secrets, names=True)
    # A replayed batch finds its rows (with their TTL) and sends no dead letter again.
    cassandra_writer.write_partition(month, now, rows)
    assert len(read_dlq(settings, len(messages) + 2, timeout=10)) == len(messages) + 2


def test_no_credential_reaches_kafka_cassandra_or_a_dlq(
    settings: Settings, cassandra_session, unique: str
) -> None:
    ks, topic = settings.cassandra.keyspace, settings.kafka.topic
    users = make_page(f"cred-{unique}", 1, 40)
    secrets = secrets_of(users)
    # The producer's own dead letters: a login that is not an object, and a user too large.
    odd = {"login": [copy.deepcopy(users[0]["login"])], "name": {"first": "x"}}
    big = copy.deepcopy(users[1])
    big["picture"]["large"] = random_letters(1_500_000)  # after the login: within 64 KiB kept
    page = {"results": [odd, big, *users[2:]], "info": {"seed": "c", "results": 40, "page": 1,
                                                         "version": "1.4"}}  # fmt: skip
    with StaticApi(json.dumps(page).encode()) as api:
        summary = run_producer(settings, source_url=api.url, count=40, batch_size=40, seed="c")
    assert (summary.produced, summary.dead_lettered, summary.failed) == (38, 2, 0)

    main = read_topic(settings.kafka, topic)
    # Avro, the default (read back by confluent-kafka's deserializer): the schema has no
    # credential field, and the values hold none of the secrets.
    assert decoded(settings, main) == {u["login"]["uuid"].encode(): as_avro(u) for u in users[2:]}
    produced_dlq = read_topic(settings.kafka, settings.kafka.dlq_topic)
    assert len(produced_dlq) == 2
    assert_clean([r.value for r in main + produced_dlq], secrets, names=False)
    for value in [r.value for r in main + produced_dlq]:
        for name in FIELDS:
            assert f'"{name}"'.encode() not in value

    # Messages of another producer: a user with its credentials (stored without them) and
    # rejects that carry some.
    elder = make_page(f"elder-{unique}", 1, 1)
    messages, more = hostile(unique)
    produce(settings, [(elder[0]["login"]["uuid"].encode(), orjson.dumps(elder[0])), *messages])
    secrets += more + secrets_of(elder)
    control.drain(settings, timeout=600)

    profiles = list(cassandra_session.execute(f"SELECT * FROM {ks}.user_profiles"))
    by_country = list(cassandra_session.execute(f"SELECT * FROM {ks}.users_by_country"))
    assert {str(r.id) for r in profiles} == {u["login"]["uuid"] for u in users[2:] + elder}
    assert by_country
    assert_clean([repr(r) for r in profiles + by_country], secrets, names=False)

    rejects = list(cassandra_session.execute(
        f"SELECT raw_value, TTL(reason) AS ttl FROM {ks}.user_profiles_rejects"))  # fmt: skip
    assert len(rejects) == len(messages)
    assert_clean([r.raw_value for r in rejects], secrets, names=True)
    days = settings.cassandra.rejects_ttl_days * DAY_S
    assert all(days - 3600 < (r.ttl or 0) <= days for r in rejects), [r.ttl for r in rejects]

    everything = read_dlq(settings, 2 + len(messages), timeout=60)
    assert len(everything) == 2 + len(messages)
    assert_clean([m.value() for m in everything], secrets, names=True)


def test_the_default_login_is_refused_once_the_node_is_secured(own_stack: Settings) -> None:
    # On a node of this module's own: a developer's default login is never unlocked.
    stack = own_stack
    with open_session(stack) as cassandra_session:
        _default_login_is_refused_once_secured(stack, cassandra_session)


def _default_login_is_refused_once_secured(stack: Settings, cassandra_session) -> None:
    # What a fresh node looks like: the default superuser can log in.
    unlock_default_login(cassandra_session)
    try:
        connect_as(stack.cassandra, "cassandra", "cassandra").cluster.shutdown()
        secure_node(stack)
        # At once, with no wait of ours: secure_node returned only once it was refused.
        with pytest.raises(TerminalError, match="refused the login of 'cassandra'"):
            connect_as(stack.cassandra, "cassandra", "cassandra")
    finally:
        # Leave the default login locked whatever happened.
        _disable_default(cassandra_session)
