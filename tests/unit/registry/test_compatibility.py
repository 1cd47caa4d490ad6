"""Compatibility per subject, judged by Apache Avro's checker, and the levels' config."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from tests.unit.registry.conftest import open_registry
from tests.unit.registry.test_api import SUBJECT, V1, V2, register
from userstream.registry.log import MemoryLog

# A new required field: the new schema cannot read what V1 wrote (no default to fill it).
ADDED_WITHOUT_DEFAULT = {**V1, "fields": [*V1["fields"], {"name": "email", "type": "string"}]}
# The id's type changed from string to int.
TYPE_CHANGED = {**V1, "fields": [{"name": "id", "type": "int"}, {"name": "age", "type": "int"}]}
# A field removed that has no default: an old reader of the new data has nothing for it.
REMOVED = {**V1, "fields": [{"name": "id", "type": "string"}]}

MISSING_DEFAULT = (
    "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'email', "
    "additionalInfo:'/fields/2'}, {oldSchemaVersion: 1}"
)
TYPE_MISMATCH = (
    "{errorType:'TYPE_MISMATCH', description:'reader type: int not compatible with writer "
    "type: string', additionalInfo:'/, /fields/0/type'}, {oldSchemaVersion: 1}"
)


def refusal(compatibility: str, *findings: str) -> dict[str, object]:
    details = ", ".join([*findings, f"{{compatibility: '{compatibility}'}}"])
    return {
        "error_code": 409,
        "message": "Schema being registered is incompatible with an earlier schema for "
        f'subject "{SUBJECT}", details: [{details}]',
    }


@pytest.mark.parametrize(
    ("schema", "finding"), [(ADDED_WITHOUT_DEFAULT, MISSING_DEFAULT), (TYPE_CHANGED, TYPE_MISMATCH)]
)
def test_backward_refuses_what_cannot_read_the_latest_version_with_avros_words(
    client: TestClient, schema_log: MemoryLog, schema: dict, finding: str
) -> None:
    register(client, V1)
    records = list(schema_log.records)
    assert register(client, schema) == (409, refusal("BACKWARD", finding))
    assert schema_log.records == records
    assert client.get(f"/subjects/{SUBJECT}/versions").json() == [1]


def test_backward_takes_an_optional_field_with_a_default_and_a_removed_field(
    client: TestClient,
) -> None:
    register(client, V1)
    assert register(client, V2) == (200, {"id": 2})
    assert register(client, REMOVED) == (200, {"id": 3})


def test_forward_and_full_refuse_a_removed_field_without_default(schema_log: MemoryLog) -> None:
    client = open_registry(schema_log, "FULL")
    register(client, V1)
    finding = (
        "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'age', "
        "additionalInfo:'/fields/1'}, {oldSchemaVersion: 1}"
    )
    assert register(client, REMOVED) == (409, refusal("FULL", finding))
    assert client.put("/config", json={"compatibility": "FORWARD"}).json() == {
        "compatibility": "FORWARD"
    }
    assert register(client, REMOVED) == (409, refusal("FORWARD", finding))


def test_transitive_levels_check_every_version_not_only_the_latest(client: TestClient) -> None:
    register(client, V1)
    assert register(client, REMOVED) == (200, {"id": 2})  # removing is BACKWARD
    # `age` back as a long: version 2 (no age) reads it, version 1 (age an int) cannot.
    readded = {**V1, "fields": [{"name": "id", "type": "string"}, {"name": "age", "type": "long"}]}
    client.put(f"/config/{SUBJECT}", json={"compatibility": "FORWARD_TRANSITIVE"})
    finding = (
        "{errorType:'TYPE_MISMATCH', description:'reader type: int not compatible with writer "
        "type: long', additionalInfo:'/fields/1/type'}, {oldSchemaVersion: 1}"
    )
    assert register(client, readded) == (409, refusal("FORWARD_TRANSITIVE", finding))
    client.put(f"/config/{SUBJECT}", json={"compatibility": "FORWARD"})
    assert register(client, readded) == (200, {"id": 3})


def test_none_takes_anything(client: TestClient) -> None:
    register(client, V1)
    client.put(f"/config/{SUBJECT}", json={"compatibility": "NONE"})
    assert register(client, TYPE_CHANGED) == (200, {"id": 2})


def test_the_compatibility_test_route_answers_without_registering(
    client: TestClient, schema_log: MemoryLog
) -> None:
    register(client, V1)
    records = list(schema_log.records)
    path = f"/compatibility/subjects/{SUBJECT}/versions/latest"
    bad = client.post(path, json={"schema": json.dumps(TYPE_CHANGED)})
    assert bad.json() == {"is_compatible": False}
    verbose = client.post(f"{path}?verbose=true", json={"schema": json.dumps(TYPE_CHANGED)})
    assert verbose.json() == {"is_compatible": False, "messages": [TYPE_MISMATCH]}
    good = client.post(f"{path}?verbose=true", json={"schema": json.dumps(V2)})
    assert good.json() == {"is_compatible": True, "messages": []}
    assert schema_log.records == records
    missing = client.post(f"/compatibility/subjects/{SUBJECT}/versions/4", json={"schema": "{}"})
    assert missing.status_code == 422  # the schema is judged first: "{}" is not one
    missing = client.post(
        f"/compatibility/subjects/{SUBJECT}/versions/4", json={"schema": json.dumps(V2)}
    )
    assert missing.json() == {"error_code": 40402, "message": "Version 4 not found."}


def test_config_global_and_per_subject(client: TestClient) -> None:
    assert client.get("/config").json() == {"compatibilityLevel": "BACKWARD"}
    assert client.get(f"/config/{SUBJECT}").json() == {
        "error_code": 40408,
        "message": f"Subject '{SUBJECT}' does not have subject-level compatibility configured",
    }
    assert client.get(f"/config/{SUBJECT}?defaultToGlobal=true").json() == {
        "compatibilityLevel": "BACKWARD"
    }
    assert client.put(f"/config/{SUBJECT}", json={"compatibility": "full_transitive"}).json() == {
        "compatibility": "FULL_TRANSITIVE"
    }
    assert client.get(f"/config/{SUBJECT}").json() == {"compatibilityLevel": "FULL_TRANSITIVE"}
    assert client.put("/config", json={"compatibility": "NONE"}).status_code == 200
    assert client.get("/config").json() == {"compatibilityLevel": "NONE"}
    wrong = client.put("/config", json={"compatibility": "SIDEWAYS"})
    assert wrong.status_code == 422
    assert wrong.json()["error_code"] == 42203
    assert client.get("/config").json() == {"compatibilityLevel": "NONE"}
