"""Each role's Kafka client settings: the local stack's logins, an operator's, or none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from userstream.config import Settings, load_settings
from userstream.errors import ConfigError
from userstream.kafka import client_config
from userstream.kafka.topics import role_acls
from userstream.streaming.batch_writer import kafka_client_options


def _with_logins(tmp_path: Path) -> Settings:
    settings = load_settings(state_dir=tmp_path)
    settings.paths.secrets.mkdir(parents=True)
    logins = {
        role: {"username": name, "password": f'pw-{role}-"quoted\\'}
        for role, name in client_config.USERNAMES.items()
    }
    (settings.paths.secrets / "kafka.json").write_text(json.dumps(logins))
    return settings


def test_without_generated_logins_a_client_has_no_login(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path)
    assert client_config.config(settings.kafka, "producer") == {
        "bootstrap.servers": "127.0.0.1:9092"
    }
    assert role_acls(settings.kafka) == []


def test_each_role_logs_in_as_its_own_user(tmp_path: Path) -> None:
    kafka = _with_logins(tmp_path).kafka
    for role in client_config.ROLES:
        config = client_config.config(kafka, role)
        assert config["security.protocol"] == "SASL_PLAINTEXT"
        assert config["sasl.mechanism"] == "SCRAM-SHA-512"
        assert config["sasl.username"] == client_config.USERNAMES[role]
        assert config["sasl.password"] == f'pw-{role}-"quoted\\'


def test_an_operator_security_protocol_wins_for_every_role(tmp_path: Path) -> None:
    settings = _with_logins(tmp_path)
    mine = {"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "sasl.username": "me"}
    kafka = settings.kafka.model_copy(update={"client_config": {**mine, "sasl.password": "x"}})
    for role in client_config.ROLES:
        assert client_config.config(kafka, role) == {
            "bootstrap.servers": "127.0.0.1:9092",
            **mine,
            "sasl.password": "x",
        }
    assert role_acls(kafka) == []  # the operator's cluster, the operator's ACLs


def test_spark_gets_a_jaas_config_with_the_password_escaped(tmp_path: Path) -> None:
    options = kafka_client_options(_with_logins(tmp_path).kafka)
    assert options["kafka.security.protocol"] == "SASL_PLAINTEXT"
    assert options["kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    assert options["kafka.sasl.jaas.config"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="userstream_stream" password="pw-stream-\\"quoted\\\\";'
    )
    assert not any(key.startswith("kafka.sasl.username") for key in options)
    assert not any(key.startswith("kafka.sasl.password") for key in options)
    assert options["groupIdPrefix"] == client_config.STREAM_GROUP_PREFIX


def test_spark_understands_the_plural_mechanism_spelling_of_librdkafka(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path)
    mine = {
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "PLAIN",
        "sasl.username": "me",
        "sasl.password": "pw",
    }
    kafka = settings.kafka.model_copy(update={"client_config": mine})
    options = client_config.spark_options(kafka, "stream")
    assert options["kafka.sasl.mechanism"] == "PLAIN"
    assert "kafka.sasl.mechanisms" not in options
    assert options["kafka.sasl.jaas.config"].startswith(
        "org.apache.kafka.common.security.plain.PlainLoginModule required"
    )
    # librdkafka keeps the spelling it was given.
    assert client_config.config(kafka, "stream")["sasl.mechanisms"] == "PLAIN"


def test_spark_gets_librdkafkas_tls_settings_in_the_java_clients_words(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path)
    mine = {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "me",
        "sasl.password": "pw",
        "ssl.ca.location": "/etc/kafka/ca.pem",
        "ssl.certificate.location": "/etc/kafka/me.pem",
        "ssl.key.location": "/etc/kafka/me.pem",
        "ssl.key.password": "kpw",
        "ssl.endpoint.identification.algorithm": "none",
    }
    kafka = settings.kafka.model_copy(update={"client_config": mine})
    options = client_config.spark_options(kafka, "stream")
    assert {k: v for k, v in options.items() if k.startswith("kafka.ssl.")} == {
        "kafka.ssl.truststore.type": "PEM",
        "kafka.ssl.truststore.location": "/etc/kafka/ca.pem",
        "kafka.ssl.keystore.type": "PEM",
        "kafka.ssl.keystore.location": "/etc/kafka/me.pem",
        "kafka.ssl.key.password": "kpw",
        "kafka.ssl.endpoint.identification.algorithm": "",
    }
    assert options["kafka.security.protocol"] == "SASL_SSL"
    # librdkafka keeps its own words.
    assert client_config.config(kafka, "stream")["ssl.ca.location"] == "/etc/kafka/ca.pem"


def test_the_systems_cas_leave_java_its_own_trust_store() -> None:
    assert client_config.java_tls({"ssl.ca.location": "probe"}) == {}


def test_a_ca_given_as_text_is_a_pem_trust_store_of_text() -> None:
    java = client_config.java_tls({"ssl.ca.pem": "-----BEGIN CERTIFICATE-----\n…"})
    assert java == {
        "ssl.truststore.type": "PEM",
        "ssl.truststore.certificates": "-----BEGIN CERTIFICATE-----\n…",
    }


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"ssl.certificate.location": "/c.pem", "ssl.key.location": "/k.pem"}, "one PEM file"),
        ({"enable.ssl.certificate.verification": "false"}, "always verifies"),
        ({"ssl.key.pem": "-----BEGIN PRIVATE KEY-----"}, "one PEM file"),
        ({"ssl.ca.location": "/"}, "is a directory"),
    ],
)
def test_tls_settings_the_java_client_cannot_take_are_refused_clearly(settings, says) -> None:
    with pytest.raises(ConfigError, match=says):
        client_config.java_tls(settings)


def test_the_acls_grant_each_role_only_its_topics(tmp_path: Path) -> None:
    kafka = _with_logins(tmp_path).kafka
    granted = {
        (acl.principal, acl.restype.name, acl.name, acl.operation.name) for acl in role_acls(kafka)
    }
    producer, stream = "User:userstream_producer", "User:userstream_stream"
    assert granted == {
        (producer, "TOPIC", "user_topic", "WRITE"),
        (producer, "TOPIC", "user_topic", "DESCRIBE"),
        (producer, "TOPIC", "user_topic.dlq", "WRITE"),
        (producer, "TOPIC", "user_topic.dlq", "DESCRIBE"),
        (stream, "TOPIC", "user_topic", "READ"),
        (stream, "TOPIC", "user_topic", "DESCRIBE"),
        (stream, "TOPIC", "user_topic.dlq", "WRITE"),
        (stream, "TOPIC", "user_topic.dlq", "DESCRIBE"),
        (stream, "GROUP", client_config.STREAM_GROUP_PREFIX, "READ"),
    }


def test_properties_is_a_librdkafka_file() -> None:
    text = client_config.properties({"bootstrap.servers": "h:1", "sasl.username": "u"})
    assert text == "bootstrap.servers=h:1\nsasl.username=u\n"
