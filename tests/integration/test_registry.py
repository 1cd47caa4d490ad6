"""The local schema registry as a process, against the session's real Kafka: confluent-kafka's
own client registers and reads back, a SIGKILLed registry rebuilds from its topic with the
same ids and never reuses one, and an incompatible schema is refused with Avro's words."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from userstream import schemas
from userstream.config import Settings
from userstream.host import process
from userstream.host.net import free_ports
from userstream.kafka.topics import admin_client
from userstream.registry import client_config
from userstream.stack import schema_registry

pytestmark = pytest.mark.integration


@pytest.fixture
def own_registry(stack: Settings, unique: str) -> Iterator[Settings]:
    """A registry process of this test's own: its own port and topic, the session's Kafka."""
    registry = stack.registry.model_copy(
        update={"port": free_ports(1)[0], "topic": f"_schemas_it_{unique}"}
    )
    settings = stack.model_copy(update={"registry": registry})
    assert schema_registry.start_registry(settings) is not None
    try:
        yield settings
    finally:
        schema_registry.stop_registry(settings)
        admin = admin_client(settings.kafka)
        for future in admin.delete_topics([registry.topic], operation_timeout=30).values():
            future.result()


def _client(settings: Settings) -> SchemaRegistryClient:
    return SchemaRegistryClient(client_config.config(settings.registry, settings.paths))


def _topic_config(settings: Settings) -> dict[str, str]:
    from confluent_kafka.admin import ConfigResource, ResourceType

    admin = admin_client(settings.kafka)
    resource = ConfigResource(ResourceType.TOPIC, settings.registry.topic)
    entries = admin.describe_configs([resource])[resource].result()
    return {name: entry.value for name, entry in entries.items()}


def test_confluents_client_registers_the_user_schema_and_reads_it_back(
    own_registry: Settings,
) -> None:
    client = _client(own_registry)
    subject = schemas.subject("user_topic")
    schema_id = client.register_schema(subject, Schema(schemas.text(), "AVRO"))
    assert schema_id == 1
    fresh = _client(own_registry)  # nothing cached
    assert json.loads(fresh.get_schema(1).schema_str) == schemas.load()
    latest = fresh.get_latest_version(subject)
    assert (latest.schema_id, latest.version, latest.subject) == (1, 1, subject)
    assert fresh.get_subjects() == [subject]
    assert fresh.register_schema(subject, Schema(schemas.text(), "AVRO")) == 1
    assert fresh.get_versions(subject) == [1]
    config = _topic_config(own_registry)
    assert config["cleanup.policy"] == "compact"


def test_a_killed_registry_rebuilds_from_its_topic_and_never_reuses_an_id(
    own_registry: Settings,
) -> None:
    record = {"type": "record", "name": "Thing", "fields": [{"name": "a", "type": "string"}]}
    optional = {"name": "b", "type": ["null", "string"], "default": None}
    v2 = {**record, "fields": [*record["fields"], optional]}
    client = _client(own_registry)
    assert client.register_schema("things-value", Schema(json.dumps(record), "AVRO")) == 1
    assert client.register_schema("things-value", Schema(json.dumps(v2), "AVRO")) == 2
    client.set_compatibility("things-value", "FULL")

    assert process.kill(own_registry.paths, schema_registry.process_name(own_registry.registry))
    assert schema_registry.start_registry(own_registry) is not None

    again = _client(own_registry)
    assert json.loads(again.get_schema(1).schema_str) == record
    assert json.loads(again.get_schema(2).schema_str) == v2
    assert again.get_versions("things-value") == [1, 2]
    assert again.get_compatibility("things-value") == "FULL"
    assert again.register_schema("things-value", Schema(json.dumps(v2), "AVRO")) == 2
    third = {**v2, "fields": [*v2["fields"], {**optional, "name": "c"}]}
    assert again.register_schema("things-value", Schema(json.dumps(third), "AVRO")) == 3


def test_an_incompatible_schema_is_refused_with_409_and_avros_words(
    own_registry: Settings,
) -> None:
    client = _client(own_registry)
    subject = schemas.subject("user_topic")
    client.register_schema(subject, Schema(schemas.text(), "AVRO"))
    changed = schemas.load()
    first = changed["fields"][0]
    changed["fields"][0] = {**first, "type": "int"}  # a type changed
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(subject, Schema(json.dumps(changed), "AVRO"))
    assert refused.value.http_status_code == 409
    assert refused.value.error_code == 409
    assert refused.value.error_message.startswith(
        "Schema being registered is incompatible with an earlier schema for subject "
        f"\"{subject}\", details: [{{errorType:'TYPE_MISMATCH'"
    )
    assert refused.value.error_message.endswith(
        "{oldSchemaVersion: 1}, {compatibility: 'BACKWARD'}]"
    )
    assert client.get_versions(subject) == [1]


def test_without_the_login_every_request_is_refused(own_registry: Settings) -> None:
    client = SchemaRegistryClient({"url": own_registry.registry.address})
    with pytest.raises(SchemaRegistryError) as refused:
        client.get_subjects()
    assert (refused.value.http_status_code, refused.value.error_code) == (401, 40101)


def test_status_shows_the_registry_with_its_address_and_health(own_registry: Settings) -> None:
    from userstream.stack.local import stack_status

    part = next(p for p in stack_status(own_registry) if p.name == "schema registry")
    proc = process.running(own_registry.paths, schema_registry.process_name(own_registry.registry))
    assert proc is not None
    assert (part.running, part.healthy, part.pid, part.address, part.detail) == (
        True,
        True,
        proc.pid,
        own_registry.registry.address,
        "answers (0 subjects)",
    )
    assert part.metrics_url == f"{own_registry.registry.address}/metrics"
