"""Fixtures for the source tests: stand-in servers on ephemeral ports, fast retry settings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from userstream.config import SourceSettings
from userstream.source.standin.server import FakeApiServer

SAMPLE = Path(__file__).parents[2] / "fixtures" / "randomuser_sample.json"


@pytest.fixture(scope="session")
def sample() -> dict[str, Any]:
    """The recorded real API page (two real users)."""
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def api() -> Iterator[FakeApiServer]:
    """A fault-free stand-in shared by a module's read-only tests."""
    with FakeApiServer() as server:
        yield server


@pytest.fixture
def fast() -> SourceSettings:
    """Retry settings with tiny backoff, so retry tests take milliseconds."""
    return SourceSettings(timeout_s=5.0, max_retries=3, backoff_base_s=0.001, backoff_max_s=0.005)
