"""The registry's REST API against an in-memory log: Confluent's answers and error codes."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from tests.unit.registry.conftest import open_registry
from userstream import schemas
from userstream.registry.log import MemoryLog

SUBJECT = "users-value"
V1 = {
    "type": "record",
    "name": "User",
    "fields": [{"name": "id", "type": "string"}, {"name": "age", "type": "int"}],
}
# An optional field with a default: what BACKWARD lets a new version add.
NICK = {"name": "nick", "type": ["null", "string"], "default": None}
V2 = {**V1, "fields": [*V1["fields"], NICK]}


def register(client: TestClient, schema: object, subject: str = SUBJECT) -> tuple[int, dict]:
    text = schema if isinstance(schema, str) else json.dumps(schema)
    response = client.post(f"/subjects/{subject}/versions", json={"schema": text})
    return response.status_code, response.json()


def test_a_schema_is_registered_and_read_back_by_id(client: TestClient) -> None:
    assert register(client, schemas.text()) == (200, {"id": 1})
    response = client.get("/schemas/ids/1")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.schemaregistry.v1+json"
    assert json.loads(response.json()["schema"]) == schemas.load()
    assert client.get("/schemas/ids/1/versions").json() == [{"subject": SUBJECT, "version": 1}]
    assert client.get("/schemas/ids/1/subjects").json() == [SUBJECT]
    assert client.get("/schemas/types").json() == ["AVRO"]


def test_registering_the_same_schema_again_returns_its_id_and_writes_nothing(
    client: TestClient, schema_log: MemoryLog
) -> None:
    assert register(client, V1) == (200, {"id": 1})
    records = len(schema_log.records)
    spaced = json.dumps(V1, indent=4)
    reordered = json.dumps(dict(reversed(list(V1.items()))))
    assert register(client, spaced) == (200, {"id": 1})
    assert register(client, reordered) == (200, {"id": 1})
    assert len(schema_log.records) == records
    assert client.get(f"/subjects/{SUBJECT}/versions").json() == [1]


def test_the_same_schema_has_the_same_id_in_another_subject(client: TestClient) -> None:
    assert register(client, V1) == (200, {"id": 1})
    assert register(client, V1, "other-value") == (200, {"id": 1})
    assert client.get("/subjects").json() == ["other-value", SUBJECT]
    assert client.get("/schemas/ids/1/versions").json() == [
        {"subject": "other-value", "version": 1},
        {"subject": SUBJECT, "version": 1},
    ]


def test_versions_latest_and_the_raw_schema(client: TestClient) -> None:
    register(client, V1)
    assert register(client, V2) == (200, {"id": 2})
    assert client.get(f"/subjects/{SUBJECT}/versions").json() == [1, 2]
    latest = client.get(f"/subjects/{SUBJECT}/versions/latest").json()
    assert latest == {
        "subject": SUBJECT,
        "version": 2,
        "id": 2,
        "schema": json.dumps(V2, separators=(",", ":")),
    }
    assert client.get(f"/subjects/{SUBJECT}/versions/-1").json() == latest
    assert client.get(f"/subjects/{SUBJECT}/versions/1").json()["id"] == 1
    assert client.get(f"/subjects/{SUBJECT}/versions/1/schema").json() == V1


def test_a_look_up_finds_the_version_of_a_schema(client: TestClient) -> None:
    register(client, V1)
    register(client, V2)
    found = client.post(f"/subjects/{SUBJECT}", json={"schema": json.dumps(V2, indent=2)})
    assert found.status_code == 200
    assert {k: found.json()[k] for k in ("subject", "id", "version")} == {
        "subject": SUBJECT,
        "id": 2,
        "version": 2,
    }
    unknown = {**V1, "name": "Other"}
    missing = client.post(f"/subjects/{SUBJECT}", json={"schema": json.dumps(unknown)})
    assert (missing.status_code, missing.json()) == (
        404,
        {"error_code": 40403, "message": "Schema not found"},
    )


def test_errors_carry_confluents_codes_and_messages(client: TestClient) -> None:
    register(client, V1)
    cases = {
        "/subjects/nope/versions": (404, 40401, "Subject 'nope' not found."),
        "/subjects/nope/versions/1": (404, 40401, "Subject 'nope' not found."),
        f"/subjects/{SUBJECT}/versions/7": (404, 40402, "Version 7 not found."),
        "/schemas/ids/99": (404, 40403, "Schema 99 not found"),
    }
    for path, (status, code, message) in cases.items():
        response = client.get(path)
        assert (response.status_code, response.json()) == (
            status,
            {"error_code": code, "message": message},
        ), path
    for bad in ("0", "two", "2147483648"):
        response = client.get(f"/subjects/{SUBJECT}/versions/{bad}")
        assert response.status_code == 422
        assert response.json()["error_code"] == 42202
        assert f"'{bad}' is not a valid version id" in response.json()["message"]


def test_a_text_that_is_not_an_avro_schema_is_refused_as_invalid(client: TestClient) -> None:
    for text in ('{"type": "record", "name": "X"}', "{not json", '{"type": "nothing"}'):
        status, body = register(client, text)
        assert status == 422, text
        assert body["error_code"] == 42201
        assert body["message"].startswith("Invalid schema: ")
    response = client.post(
        f"/subjects/{SUBJECT}/versions", json={"schema": "{}", "schemaType": "PROTOBUF"}
    )
    assert response.json() == {
        "error_code": 42201,
        "message": "Invalid schema: schemaType PROTOBUF is not supported here (AVRO only)",
    }
    assert client.get("/subjects").json() == []


def test_every_route_but_health_and_metrics_asks_for_the_login(schema_log: MemoryLog) -> None:
    anonymous = open_registry(schema_log)
    anonymous.auth = None
    unauthorized = {"error_code": 40101, "message": "Unauthorized"}
    for method, path in (("GET", "/subjects"), ("GET", "/config"), ("GET", "/schemas/ids/1")):
        response = anonymous.request(method, path)
        assert (response.status_code, response.json()) == (401, unauthorized)
        assert response.headers["www-authenticate"] == 'Basic realm="userstream-registry"'
    for wrong in (("userstream", "guess"), ("admin", "s3cret-for-tests"), ("", "")):
        response = anonymous.get("/subjects", auth=wrong)
        assert (response.status_code, response.json()) == (401, unauthorized), wrong
    response = anonymous.post(f"/subjects/{SUBJECT}/versions", json={"schema": json.dumps(V1)})
    assert response.status_code == 401
    assert schema_log.records == []
    assert anonymous.get("/").json() == {}
    assert anonymous.get("/metrics").status_code == 200


def test_metrics_count_requests_and_subjects(client: TestClient) -> None:
    register(client, V1)
    text = client.get("/metrics").text
    assert "userstream_registry_subjects 1.0" in text
    assert 'userstream_registry_requests_total{method="POST",status="200"} 1.0' in text


def test_unknown_paths_answer_in_the_registrys_json(client: TestClient) -> None:
    response = client.get("/nothing/here")
    assert (response.status_code, response.json()) == (
        404,
        {"error_code": 404, "message": "HTTP 404 Not Found"},
    )
