"""What the stream's workers are handed: ``batch_writer.sink_config``."""

from __future__ import annotations

from pathlib import Path

import pytest

from userstream.config import load_settings
from userstream.streaming.batch_writer import sink_config


@pytest.mark.parametrize(("days", "seconds"), [(30, 2_592_000), (1, 86_400), (0, 0)])
def test_rejects_live_as_many_days_as_configured(tmp_path: Path, days: int, seconds: int) -> None:
    settings = load_settings(
        state_dir=tmp_path / "s",
        cassandra={"username": "u", "password": "p", "rejects_ttl_days": days},
    )
    assert sink_config(settings).rejects_ttl_s == seconds
