"""The registry's state lives in its log: a restart rebuilds it, ids are never reused, and a
change the log did not store is not applied."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from tests.unit.registry.conftest import open_registry
from tests.unit.registry.test_api import SUBJECT, V1, V2, register
from userstream.registry.log import MemoryLog


def test_a_restarted_registry_rebuilds_every_subject_id_and_level(
    client: TestClient, schema_log: MemoryLog
) -> None:
    register(client, V1)
    register(client, V2)
    register(client, V1, "other-value")
    client.put(f"/config/{SUBJECT}", json={"compatibility": "FULL"})
    before = {
        path: client.get(path).json()
        for path in ("/subjects", f"/subjects/{SUBJECT}/versions/1",
                     f"/subjects/{SUBJECT}/versions/2", f"/config/{SUBJECT}", "/schemas/ids/2")
    }  # fmt: skip
    again = open_registry(MemoryLog(schema_log.records))
    assert {path: again.get(path).json() for path in before} == before
    third = {**V2, "fields": [*V2["fields"], {"name": "x", "type": "int", "default": 0}]}
    assert register(again, third) == (200, {"id": 3})


def test_the_records_are_confluents(client: TestClient, schema_log: MemoryLog) -> None:
    register(client, V1)
    client.put("/config", json={"compatibility": "FULL"})
    keys = [json.loads(key) for key, _ in schema_log.records]
    values = [json.loads(value or b"null") for _, value in schema_log.records]
    assert keys == [
        {"keytype": "SCHEMA", "subject": SUBJECT, "version": 1, "magic": 1},
        {"keytype": "CONFIG", "subject": None, "magic": 0},
    ]
    assert values == [
        {"subject": SUBJECT, "version": 1, "id": 1,
         "schema": json.dumps(V1, separators=(",", ":")), "deleted": False},
        {"compatibilityLevel": "FULL"},
    ]  # fmt: skip


def test_a_change_the_log_refused_is_not_applied_and_its_id_is_not_reused(
    client: TestClient, schema_log: MemoryLog
) -> None:
    register(client, V1)
    schema_log.broken = "the brokers are away"
    status, body = register(client, V2)
    assert (status, body) == (
        500,
        {"error_code": 50001, "message": "Error in the backend data store: the brokers are away"},
    )
    assert client.put("/config", json={"compatibility": "NONE"}).json()["error_code"] == 50001
    assert client.get(f"/subjects/{SUBJECT}/versions").json() == [1]
    assert client.get("/config").json() == {"compatibilityLevel": "BACKWARD"}
    schema_log.broken = None
    assert register(client, V2) == (200, {"id": 3})
    assert client.get(f"/subjects/{SUBJECT}/versions").json() == [1, 2]


def test_a_restart_continues_after_the_highest_id_ever_stored(schema_log: MemoryLog) -> None:
    # A log that already holds id 41 (an older registry, a hand-written record).
    key = {"keytype": "SCHEMA", "subject": "old-value", "version": 1, "magic": 1}
    value = {"subject": "old-value", "version": 1, "id": 41, "schema": '"string"',
             "deleted": False}  # fmt: skip
    schema_log.records.append((json.dumps(key).encode(), json.dumps(value).encode()))
    schema_log.records.append((b"not json", b"{}"))  # skipped with a warning, not fatal
    client = open_registry(schema_log)
    assert client.get("/schemas/ids/41").json() == {"schema": '"string"'}
    assert register(client, V1) == (200, {"id": 42})
