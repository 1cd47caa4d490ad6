"""Fixtures every test level shares."""

from __future__ import annotations

import uuid

import pytest

from userstream.config import Settings, load_settings


@pytest.fixture
def unique() -> str:
    """A short unique suffix for a test's own topic, keyspace, checkpoint or consumer group."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    """Settings as a user would have them (env vars and .env), read once."""
    return load_settings()
