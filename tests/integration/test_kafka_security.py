"""The local broker lets in only our logins, and each role only where its ACLs say.

Against the real broker of `userstream stack up` (SASL/SCRAM-SHA-512, StandardAuthorizer):
every check produces or reads for real and asserts the broker's own verdict.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from userstream.config import Settings
from userstream.kafka import client_config
from userstream.kafka.topics import admin_client, ensure_topics

pytestmark = pytest.mark.integration


@pytest.fixture
def secured(stack: Settings) -> Iterator[Settings]:
    """A topic of this test's own (with its DLQ and the roles' ACLs), deleted after."""
    if client_config.local_logins(stack.kafka) is None:
        pytest.skip("not the local stack's broker: its security is the operator's")
    name = f"it_acl_{uuid.uuid4().hex[:8]}"
    settings = stack.model_copy(update={"kafka": stack.kafka.model_copy(update={"topic": name})})
    ensure_topics(settings.kafka)
    yield settings
    admin = admin_client(settings.kafka)
    for future in admin.delete_topics([name, f"{name}.dlq"], operation_timeout=30).values():
        future.result()


def _produce(config: dict[str, Any], topic: str) -> KafkaError | None:
    """Produce one message; the broker's error, or None when it was acknowledged."""
    outcome: list[KafkaError | None] = []
    producer = Producer({**config, "enable.idempotence": True, "message.timeout.ms": 15000})
    producer.produce(topic, key=b"k", value=b"{}", on_delivery=lambda e, _m: outcome.append(e))
    producer.flush(30)
    assert outcome, "no delivery report within 30 s"
    return outcome[0]


def _read_error(config: dict[str, Any], topic: str) -> KafkaError | None:
    """Fetch the topic's first partition from the start; the broker's error, or None when a
    message arrived."""
    group = f"{client_config.STREAM_GROUP_PREFIX}-it-{uuid.uuid4().hex[:6]}"
    consumer = Consumer({**config, "group.id": group})
    try:
        consumer.assign([TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 0)])
        for _ in range(20):
            message = consumer.poll(1.0)
            if message is not None:
                return message.error()
        raise AssertionError("neither a message nor an error within 20 s")
    finally:
        consumer.close()


def test_a_client_without_a_login_or_with_a_wrong_one_is_refused(secured: Settings) -> None:
    bootstrap = {"bootstrap.servers": secured.kafka.bootstrap_servers, "socket.timeout.ms": 3000}
    wrong = {**client_config.config(secured.kafka, "admin"), "sasl.password": "not-the-password"}
    for config in (bootstrap, wrong):
        with pytest.raises(KafkaException):
            AdminClient(config).list_topics(timeout=5)
    # The controller listener asks for a login too.
    host, _ = secured.kafka.bootstrap_servers.rsplit(":", 1)
    controller = {**bootstrap, "bootstrap.servers": f"{host}:{secured.kafka.controller_port}"}
    with pytest.raises(KafkaException):
        AdminClient(controller).list_topics(timeout=5)


def test_each_role_may_do_what_it_needs_and_nothing_more(secured: Settings) -> None:
    kafka = secured.kafka
    producer = client_config.config(kafka, "producer")
    stream = client_config.config(kafka, "stream")
    denied = KafkaError.TOPIC_AUTHORIZATION_FAILED

    assert _produce(producer, kafka.topic) is None
    assert _produce(producer, kafka.dlq_topic) is None
    assert _produce(stream, kafka.dlq_topic) is None
    assert _read_error(stream, kafka.topic) is None

    refused = _produce(stream, kafka.topic)
    assert refused is not None and refused.code() == denied
    read = _read_error(producer, kafka.topic)
    # Refused either way: the fetch (topic) or, when the client asks first, the group.
    assert read is not None and read.code() in (denied, KafkaError.GROUP_AUTHORIZATION_FAILED)
    # Neither may touch another topic, nor create one.
    other = f"it_acl_other_{uuid.uuid4().hex[:6]}"
    refused = _produce(producer, "__consumer_offsets")
    assert refused is not None and refused.code() == denied
    for config in (producer, stream):
        admin = AdminClient(config)  # kept: its futures fail once the client is collected
        future = admin.create_topics([NewTopic(other, 1, 1)])[other]
        with pytest.raises(KafkaException) as caught:
            future.result(timeout=30)
        assert caught.value.args[0].code() == denied


def test_kafka_config_prints_a_working_librdkafka_config(secured: Settings) -> None:
    from typer.testing import CliRunner

    from userstream.cli import _register, app

    _register()
    result = CliRunner().invoke(app, ["kafka-config", "--role", "stream"])
    assert result.exit_code == 0, result.output
    config = dict(line.split("=", 1) for line in result.output.splitlines())
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert config["sasl.username"] == client_config.USERNAMES["stream"]
    assert _produce(config, secured.kafka.dlq_topic) is None
    assert _produce(client_config.config(secured.kafka, "producer"), secured.kafka.topic) is None
    assert _read_error(config, secured.kafka.topic) is None
