"""A wrong setting is one clear line: the variable as written, its value, what it must be;
exit code 2, no traceback — for every kind of setting, from the environment or ``.env``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CASES = [
    # (variable as the user wrote it, value, what the line must say)
    ("USERSTREAM_KAFKA__PARTITIONS", "abc", "must be a whole number"),
    ("USERSTREAM_CASSANDRA__HOSTS", "not-json", 'must be a JSON list, e.g. ["a", "b"]'),
    ("USERSTREAM_SPARK__CONF", "[1", 'must be a JSON object, e.g. {"key": "value"}'),
    ("USERSTREAM_KAFKA__COMPRESSION", "brotli",
     "input should be 'none', 'gzip', 'snappy', 'lz4' or 'zstd'"),
    ("USERSTREAM_SOURCE__TIMEOUT_S", "-1", "input should be greater than 0"),
    ("USERSTREAM_SPARK__BATCH_TIMEOUT_S", "soon", "must be a number"),
    ("userstream_registry__auto_register", "maybe", "must be true or false"),
    ("USERSTREAM_SPARK__JOB_NAME", "a/b", "string should match pattern"),
]  # fmt: skip


def run(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("USERSTREAM_")}
    return subprocess.run(
        [sys.executable, "-m", "userstream", *args],
        env={**clean, "USERSTREAM_STATE_DIR": str(tmp_path / "state"), **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(("name", "value", "must"), CASES, ids=[c[0] for c in CASES])
def test_a_wrong_value_in_the_environment_is_one_line_naming_it(tmp_path, name, value, must):
    done = run(tmp_path, {name: value}, "kafka-config")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"error: {name}={value!r}: "), line
    assert must in line, line


def test_a_wrong_value_in_dotenv_is_named_too_and_every_command_says_so(tmp_path) -> None:
    (tmp_path / ".env").write_text("USERSTREAM_KAFKA__PARTITIONS=two\n")
    for command in (["status"], ["schema", "config"], ["stream", "status"]):
        done = run(tmp_path, {}, *command)
        assert done.returncode == 2, (command, done.stderr)
        assert "error: USERSTREAM_KAFKA__PARTITIONS='two': must be a whole number" in done.stderr


def test_a_file_variable_naming_a_missing_file_says_which(tmp_path) -> None:
    missing = tmp_path / "nope"
    done = run(tmp_path, {"USERSTREAM_CASSANDRA__PASSWORD_FILE": str(missing)}, "kafka-config")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert f"USERSTREAM_CASSANDRA__PASSWORD_FILE names {missing}, which cannot be read" in (
        done.stderr
    )
