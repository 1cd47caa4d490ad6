"""`userstream schema check | register | show` against the local registry (the session's),
each test on a subject of its own: a compatible v2 ships, an incompatible one is refused
by the check and by the registry, in the registry's own words."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import command_env
from userstream import schemas
from userstream.config import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(stack: Settings, unique: str) -> Settings:
    return stack.model_copy(update={"kafka": stack.kafka.model_copy(update={"topic": unique})})


def schema_cmd(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "userstream", "schema", *args],
        env=command_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


def edited(tmp_path: Path, name: str, change) -> Path:
    schema = copy.deepcopy(schemas.load())
    change(schema)
    path = tmp_path / f"{name}.avsc"
    path.write_text(json.dumps(schema))
    return path


def test_a_compatible_v2_is_checked_registered_and_shown(settings, tmp_path) -> None:
    subject = f"{settings.kafka.topic}-value"
    first = schema_cmd(settings, "check")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "compatible with the released versions (v1)",
        f"compatible with {subject} at {settings.registry.address} (nothing registered yet)",
    ]
    v1 = schema_cmd(settings, "register")
    assert v1.returncode == 0, v1.stderr
    assert v1.stdout.startswith(f"{subject}: version 1, schema id ")
    again = schema_cmd(settings, "register")
    assert again.stdout == v1.stdout  # the same schema keeps its id and version

    v2 = edited(tmp_path, "v2", lambda s: s["fields"].append(
        {"name": "nickname", "type": ["null", "string"], "default": None, "doc": "New."}
    ))  # fmt: skip
    checked = schema_cmd(settings, "check", "--file", str(v2))
    assert checked.returncode == 0, checked.stderr
    assert (
        checked.stdout.splitlines()[-1]
        == f"compatible with {subject} at {settings.registry.address}"
    )
    registered = schema_cmd(settings, "register", "--file", str(v2))
    assert registered.returncode == 0, registered.stderr
    assert registered.stdout.startswith(f"{subject}: version 2, schema id ")

    shown = schema_cmd(settings, "show", "--json")
    assert shown.returncode == 0, shown.stderr
    found = json.loads(shown.stdout)
    assert (found["subject"], found["version"]) == (subject, 2)
    assert json.loads(found["schema"]) == json.loads(v2.read_text())
    assert f"schema id {found['id']}" in registered.stdout
    first_version = json.loads(schema_cmd(settings, "show", "--version", "1", "--json").stdout)
    assert json.loads(first_version["schema"]) == schemas.load()


def _retyped(schema: dict) -> None:
    next(f for f in schema["fields"] if f["name"] == "nat")["type"] = "int"


def _required(schema: dict) -> None:
    schema["fields"].append({"name": "vip", "type": "boolean", "doc": "Required, no default."})


@pytest.mark.parametrize(
    ("name", "change", "finding"),
    [
        ("retyped", _retyped, "TYPE_MISMATCH"),
        ("required", _required, "READER_FIELD_MISSING_DEFAULT_VALUE"),
    ],
)  # fmt: skip
def test_an_incompatible_change_is_refused_in_the_registrys_words(
    settings, tmp_path, name, change, finding
) -> None:
    assert schema_cmd(settings, "register").returncode == 0
    bad = edited(tmp_path, name, change)
    checked = schema_cmd(settings, "check", "--file", str(bad))
    assert checked.returncode == 1
    assert "NOT compatible with the released versions (v1):" in checked.stderr
    assert f"NOT compatible with {settings.kafka.topic}-value at" in checked.stderr
    assert checked.stderr.count(finding) == 2, checked.stderr  # the history's and the registry's
    refused = schema_cmd(settings, "register", "--file", str(bad))
    assert refused.returncode == 1
    assert "Schema being registered is incompatible with an earlier schema" in refused.stderr
    assert finding in refused.stderr
    shown = json.loads(schema_cmd(settings, "show", "--json").stdout)
    assert shown["version"] == 1  # nothing changed
