"""The Spark job against real Kafka and Cassandra: N users in, exactly N rows out, every
poison message in the rejects table and on the DLQ topic with its reason."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from tests.integration.conftest_stream import (
    POISON,
    fake_users,
    isolated,
    produce,
    read_dlq,
    stream_env,
    user_messages,
)
from userstream.config import Settings
from userstream.streaming import control

pytestmark = pytest.mark.integration

N = 600


@pytest.fixture
def settings(stack: Settings, unique: str) -> Iterator[Settings]:
    with stream_env(isolated(stack, unique, max_offsets_per_trigger=250)) as s:
        yield s


def _ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


def test_users_land_once_with_clean_values_and_poison_is_rejected(settings, cassandra_session):
    users = fake_users(settings.kafka.topic, N)
    # Quirks of real responses the stand-in may not draw: a string postcode with a leading
    # zero, a null national id, a non-Latin name, a dirty phone, coordinates out of range.
    users[0]["location"]["postcode"] = "0301"
    users[1]["id"] = {"name": "", "value": None}
    users[2]["name"]["first"], users[2]["name"]["last"] = "Мирослава", "Шевчук"
    users[3]["phone"] = " 03A-55B1-2 "
    users[4]["location"]["coordinates"] = {"latitude": "-145.3", "longitude": "200.1"}
    users[5]["email"] = "Upper.Case@Example.COM"
    produce(settings, user_messages(users[: N // 2]) + [(k, v) for k, v, _ in POISON])
    produce(settings, user_messages(users[N // 2 :]))

    state = control.drain(settings, timeout=600)

    assert state["state"] == "drained"
    assert state["totals"]["stored"] == N
    assert state["totals"]["rejected"] == len(POISON)
    ks = settings.cassandra.keyspace
    rows = {str(r.id): r for r in cassandra_session.execute(f"SELECT * FROM {ks}.user_profiles")}
    assert len(rows) == N
    assert set(rows) == {u["login"]["uuid"] for u in users}
    for u in users:
        row = rows[u["login"]["uuid"]]
        loc = u["location"]
        assert row.first_name == u["name"]["first"]
        assert row.last_name == u["name"]["last"]
        assert row.title == u["name"]["title"]
        assert row.gender == u["gender"]
        assert row.email == u["email"].lower()
        assert row.username == u["login"]["username"]
        assert row.dob == _ts(u["dob"]["date"])
        assert row.registered_at == _ts(u["registered"]["date"])
        assert row.postcode == str(loc["postcode"])
        assert row.city == loc["city"]
        assert row.state == loc["state"]
        assert row.country == loc["country"]
        assert row.street_number == loc["street"]["number"]
        assert row.street_name == loc["street"]["name"]
        assert row.timezone_offset == loc["timezone"]["offset"]
        assert row.nationality == u["nat"]
        assert row.id_value == u["id"]["value"]
        assert row.picture_large == u["picture"]["large"]
        assert row.ingested_at == dt.datetime(2026, 11, 23, 10, 0, 0, 123000)
        assert row.source_url == "http://127.0.0.1:8765/api/1.4/"
        assert row.processed_at is not None
        assert row.kafka_partition in (0, 1)
        assert row.kafka_offset >= 0
    assert rows[users[0]["login"]["uuid"]].postcode == "0301"
    assert rows[users[1]["login"]["uuid"]].id_name is None
    assert rows[users[3]["login"]["uuid"]].phone == "03A-55B1-2"
    assert rows[users[4]["login"]["uuid"]].latitude is None
    assert rows[users[4]["login"]["uuid"]].longitude is None
    assert rows[users[5]["login"]["uuid"]].email == "upper.case@example.com"
    lat = float(users[6]["location"]["coordinates"]["latitude"])
    assert rows[users[6]["login"]["uuid"]].latitude == lat

    by_country = list(cassandra_session.execute(f"SELECT id, country FROM {ks}.users_by_country"))
    assert len(by_country) == N

    rejects = list(cassandra_session.execute(f"SELECT * FROM {ks}.user_profiles_rejects"))
    assert sorted((r.raw_value or "", r.reason) for r in rejects) == sorted(
        (v.decode(), reason) for _, v, reason in POISON
    )
    dlq = read_dlq(settings, len(POISON))
    got = {
        (m.value() or b"", dict(m.headers())["dlq_reason"].decode())
        for m in dlq
        if dict(m.headers()).get("source_topic") == settings.kafka.topic.encode()
    }
    assert got == {(v, reason) for _, v, reason in POISON}


def test_a_second_run_over_the_same_users_changes_nothing(settings, cassandra_session):
    users = fake_users(settings.kafka.topic, 200)
    produce(settings, user_messages(users))
    control.drain(settings, timeout=600)
    # The producer retried: the same users again (same keys), later offsets.
    produce(settings, user_messages(users))
    state = control.drain(settings, timeout=600)
    assert state["totals"]["stored"] == 200
    ks = settings.cassandra.keyspace
    assert cassandra_session.execute(f"SELECT count(*) FROM {ks}.user_profiles").one()[0] == 200
    rows = list(
        cassandra_session.execute(f"SELECT kafka_partition, kafka_offset FROM {ks}.user_profiles")
    )
    for partition in {r.kafka_partition for r in rows}:
        first_round = sum(1 for r in rows if r.kafka_partition == partition)
        # Each user's row comes from its second copy: offsets after the first round's.
        assert all(r.kafka_offset >= first_round for r in rows if r.kafka_partition == partition)


def test_db_init_is_idempotent_on_a_live_table(settings, cassandra_session):
    from userstream.store.schema import apply_schema

    ks = settings.cassandra.keyspace
    cassandra_session.execute(
        f"INSERT INTO {ks}.user_profiles (id, first_name) "
        "VALUES (9f07341f-c7e6-45b7-bab0-af6de5a4582d, 'Laura')"
    )
    apply_schema(settings)
    apply_schema(settings)
    rows = list(cassandra_session.execute(f"SELECT id, first_name FROM {ks}.user_profiles"))
    assert [(str(r.id), r.first_name) for r in rows] == [
        ("9f07341f-c7e6-45b7-bab0-af6de5a4582d", "Laura")
    ]


def test_a_checkpoint_given_as_a_file_uri_reaches_spark_verbatim(stack, unique, tmp_path):
    """``spark.checkpoint_dir`` as a URI (what a cluster gives: hdfs://, s3a://; here
    file://) is Spark's checkpoint location as written, and a second driver resumes from it."""
    folder = tmp_path / "checkpoint"
    uri = f"file://{folder}"
    with stream_env(isolated(stack, unique, checkpoint_dir=uri)) as s:
        assert s.checkpoint_location() == uri and s.checkpoint_dir() == folder
        produce(s, user_messages(fake_users(s.kafka.topic, 100)))
        state = control.drain(s, timeout=600)
        assert state["checkpoint"] == uri and state["totals"]["stored"] == 100
        assert (folder / "offsets").is_dir() and (folder / "commits").is_dir()
        produce(s, user_messages(fake_users(f"{s.kafka.topic}-more", 40)))
        # A new driver: only what came after the checkpointed offsets.
        assert control.drain(s, timeout=600)["totals"]["stored"] == 40


def test_a_checkpoint_of_another_kafka_cluster_is_refused_before_spark_starts(settings):
    """The first start records the Kafka cluster's id beside the checkpoint; a checkpoint
    that recorded another one (the single node's against the cluster's, a recreated Kafka)
    is refused with what to do, instead of skipping or refusing users."""
    import json

    from userstream.errors import ConfigError
    from userstream.streaming import job
    from userstream.streaming.query import KAFKA_MARK, check_checkpoint_kafka

    check_checkpoint_kafka(settings)
    mark = settings.checkpoint_dir() / KAFKA_MARK
    recorded = json.loads(mark.read_text())
    assert recorded["topic"] == settings.kafka.topic
    assert recorded["kafka_cluster_id"]
    check_checkpoint_kafka(settings)  # the same cluster: accepted
    mark.write_text(json.dumps({**recorded, "kafka_cluster_id": "AnotherClusterId000000"}))
    with pytest.raises(ConfigError, match="another Kafka cluster") as caught:
        job.run(settings, until_idle=True)
    assert "CHECKPOINT_DIR" in (caught.value.hint or "")


def test_a_topic_migrating_from_json_to_avro_lands_every_user_once(settings, cassandra_session):
    """JSON first, then Confluent Avro (registered in the local registry by the producer's
    own serializer) on the same topic, with Avro values that cannot be read among them:
    every user stored once with the same columns, each broken value a reject with its
    reason, and the stream never stops."""
    from userstream.producing.avro_values import AvroValues

    users = fake_users(settings.kafka.topic, 200)
    users[0]["location"]["postcode"] = "0301"
    values = AvroValues(settings)
    values.start()
    avro = [(u["login"]["uuid"].encode(), values.encode(u)) for u in users[100:]]
    framed = avro[0][1]
    broken = [
        (b"k1", framed[:3], "Avro value of 3 bytes is shorter than its 5-byte header"),
        (b"k2", framed[:-4], f"value is truncated Avro of schema id {values.schema_id}"),
        (b"k3", framed + b"xy",
         f"value has 2 bytes after its Avro record of schema id {values.schema_id}"),
        (b"k4", b"\x00\x7f\xff\xff\xf0" + framed[5:],
         "schema id 2147483632 is not in the registry"),
    ]  # fmt: skip
    produce(settings, user_messages(users[:100]))
    produce(settings, avro[:50] + [(k, v) for k, v, _ in broken] + avro[50:])

    state = control.drain(settings, timeout=600)

    assert state["state"] == "drained"
    assert (state["totals"]["stored"], state["totals"]["rejected"]) == (200, len(broken))
    ks = settings.cassandra.keyspace
    rows = {str(r.id): r for r in cassandra_session.execute(f"SELECT * FROM {ks}.user_profiles")}
    assert set(rows) == {u["login"]["uuid"] for u in users}
    for u in users:
        row = rows[u["login"]["uuid"]]
        assert (row.email, row.dob, row.postcode, row.nationality) == (
            u["email"].lower(), _ts(u["dob"]["date"]), str(u["location"]["postcode"]), u["nat"],
        )  # fmt: skip
    assert rows[users[0]["login"]["uuid"]].postcode == "0301"
    rejects = list(cassandra_session.execute(f"SELECT * FROM {ks}.user_profiles_rejects"))
    got = sorted((r.raw_key, r.reason) for r in rejects)
    assert [key for key, _ in got] == ["k1", "k2", "k3", "k4"]
    for (_, reason), (_, _, want) in zip(got, broken, strict=True):
        assert reason.startswith(want), (reason, want)


def test_writers_of_v1_and_a_v2_that_adds_a_field_land_side_by_side(
    settings, cassandra_session, tmp_path
):
    """Adding a field is one schema change: a v2 ``.avsc`` with an optional ``nickname``,
    named by ``kafka.value_schema``, gets its column from ``db init`` and is registered beside
    v1 under the same subject (the registry checks it). A v1 and a v2 producer write the same
    topic, interleaved; the stream reading with v2 stores every user once, the nickname where
    a v2 producer sent it and no nickname where v1 did."""
    import json

    from userstream import schemas
    from userstream.producing.avro_values import AvroValues
    from userstream.store.schema import apply_schema

    v2 = schemas.load()
    v2["fields"].append(
        {"name": "nickname", "type": ["null", "string"], "default": None, "doc": "New in v2."}
    )
    v2_file = tmp_path / "user.v2.avsc"
    v2_file.write_text(json.dumps(v2))
    v2_settings = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"value_schema": v2_file})}
    )
    apply_schema(v2_settings)
    v1_writer, v2_writer = AvroValues(settings), AvroValues(v2_settings)
    v1_writer.start()
    v2_writer.start()
    assert v2_writer.schema_id != v1_writer.schema_id
    users = fake_users(settings.kafka.topic, 120)
    messages = []
    for i, u in enumerate(users):
        writer = v1_writer if i % 2 else v2_writer
        if writer is v2_writer:
            u["nickname"] = u["name"]["first"][:3]
        value = writer.encode(u)
        assert int.from_bytes(value[1:5], "big") == writer.schema_id
        messages.append((u["login"]["uuid"].encode(), value))
    produce(settings, messages)

    state = control.drain(v2_settings, timeout=600)

    assert (state["totals"]["stored"], state["totals"]["rejected"]) == (120, 0)
    ks = settings.cassandra.keyspace
    rows = {str(r.id): r for r in cassandra_session.execute(f"SELECT * FROM {ks}.user_profiles")}
    assert set(rows) == {u["login"]["uuid"] for u in users}
    for u in users:
        row = rows[u["login"]["uuid"]]
        assert row.first_name == u["name"]["first"]
        assert row.nickname == u.get("nickname")
