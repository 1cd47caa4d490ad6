from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from userstream.registry.app import build_app
from userstream.registry.log import MemoryLog
from userstream.registry.store import Registry

USER, PASSWORD = "userstream", "s3cret-for-tests"


def open_registry(schema_log: MemoryLog, compatibility: str = "BACKWARD") -> TestClient:
    registry = Registry(schema_log, default_compatibility=compatibility)  # type: ignore[arg-type]
    registry.load()
    client = TestClient(build_app(registry, USER, PASSWORD))
    client.auth = (USER, PASSWORD)
    return client


@pytest.fixture
def schema_log() -> MemoryLog:
    return MemoryLog()


@pytest.fixture
def client(schema_log: MemoryLog) -> TestClient:
    return open_registry(schema_log)
