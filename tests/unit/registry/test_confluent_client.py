"""confluent-kafka's own Schema Registry client and Avro serdes, a client we did not write,
against the registry served over HTTP (its log in memory)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.unit.registry.conftest import PASSWORD, USER
from tests.unit.registry.test_api import V1, V2
from userstream.registry.app import build_app
from userstream.registry.log import MemoryLog
from userstream.registry.server import bind
from userstream.registry.store import Registry


@pytest.fixture
def url() -> Iterator[str]:
    registry = Registry(MemoryLog())
    registry.load()
    sock = bind("127.0.0.1", 0)
    config = uvicorn.Config(build_app(registry, USER, PASSWORD), log_level="warning",
                            lifespan="off")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive()
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _client(url: str) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": url, "basic.auth.user.info": f"{USER}:{PASSWORD}"})


def test_the_client_registers_looks_up_and_tests(url: str) -> None:
    client = _client(url)
    assert client.register_schema("t-value", Schema(json.dumps(V1), "AVRO")) == 1
    found = _client(url).lookup_schema("t-value", Schema(json.dumps(V1), "AVRO"))
    assert (found.schema_id, found.version, found.subject) == (1, 1, "t-value")
    assert client.test_compatibility("t-value", Schema(json.dumps(V2), "AVRO")) is True
    assert client.get_compatibility() == "BACKWARD"
    assert client.set_compatibility("t-value", "FULL") == {"compatibility": "FULL"}
    assert client.get_compatibility("t-value") == "FULL"
    assert client.get_schema_versions(1)[0].subject == "t-value"


def test_the_avro_serdes_write_and_read_the_wire_format(url: str) -> None:
    client = _client(url)
    serializer = AvroSerializer(client, json.dumps(V1))
    context = SerializationContext("t", MessageField.VALUE)
    data = serializer({"id": "a", "age": 3}, context)
    assert data is not None
    assert data[:5] == b"\x00\x00\x00\x00\x01"  # magic byte 0, schema id 1
    reader = AvroDeserializer(_client(url))  # the writer's schema fetched by id
    assert reader(data, context) == {"id": "a", "age": 3}


def test_a_refusal_reaches_the_client_as_confluents_error(url: str) -> None:
    client = _client(url)
    client.register_schema("t-value", Schema(json.dumps(V1), "AVRO"))
    changed = {**V1, "fields": [{"name": "id", "type": "int"}, {"name": "age", "type": "int"}]}
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema("t-value", Schema(json.dumps(changed), "AVRO"))
    assert (refused.value.http_status_code, refused.value.error_code) == (409, 409)
    with pytest.raises(SchemaRegistryError) as missing:
        client.get_latest_version("nope-value")
    assert (missing.value.http_status_code, missing.value.error_code) == (404, 40401)
    assert missing.value.error_message == "Subject 'nope-value' not found."
