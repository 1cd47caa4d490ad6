"""The settings a detached driver (and its supervisor) start with: one 0600 JSON file in
``<state>/run``, with the Cassandra password in it, so no secret is on a command line."""

from __future__ import annotations

import json
from pathlib import Path

from userstream.config import Settings
from userstream.files import write_json


def settings_file(settings: Settings) -> Path:
    return settings.paths.run / f"{settings.spark.job_name}.settings.json"


def dump_settings(settings: Settings) -> Path:
    """Write the settings for a detached driver (mode 0600: it may hold a password)."""
    data = settings.model_dump(mode="json")
    if settings.cassandra.password is not None:
        data["cassandra"]["password"] = settings.cassandra.password.get_secret_value()
    path = settings_file(settings)
    write_json(path, data)
    return path


def load_settings_file(path: Path) -> Settings:
    return Settings.model_validate(json.loads(path.read_text()))


def running_master(settings: Settings) -> str | None:
    """The Spark master the detached driver was started with (its settings file: `up
    --cluster` gives it the local cluster's, whatever the user's settings say); None when
    there is no such file."""
    try:
        return load_settings_file(settings_file(settings)).spark.master
    except (OSError, ValueError):  # none yet, or one being written (ValidationError too)
        return None
