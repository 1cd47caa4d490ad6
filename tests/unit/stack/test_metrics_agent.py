"""`userstream stack metrics-agent`: the JMX exporter agent and its rules for containers' JVMs."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from userstream.cli import _stack
from userstream.config import Settings
from userstream.errors import ConfigError
from userstream.stack import jars, jmx_exporter


def _app() -> typer.Typer:
    app = typer.Typer()
    _stack.register(app)
    return app


@pytest.fixture
def fetched_jar(base_settings: Settings) -> Path:
    """The agent's jar as `userstream fetch-jars` left it in the user's state folder."""
    found = sorted(
        jars.lib_dir(base_settings.paths.lib, jmx_exporter.JAR_SET).glob(
            "jmx_prometheus_javaagent-*.jar"
        )
    )
    if not found:
        pytest.skip(
            f"no JMX exporter agent jar under {base_settings.paths.lib}: run `userstream "
            "fetch-jars` (`make setup` does; CI has it)"
        )
    return found[-1]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_it_writes_the_jar_and_the_rendered_rules_for_other_users(
    base_settings: Settings, fetched_jar: Path, tmp_path: Path
) -> None:
    target = tmp_path / "volume" / "metrics-agent"
    env = {
        "USERSTREAM_STATE_DIR": str(base_settings.paths.root),
        "USERSTREAM_CASSANDRA__KEYSPACE": "ks_agent",
    }
    result = CliRunner().invoke(_app(), ["stack", "metrics-agent", str(target)], env=env)
    assert result.exit_code == 0, result.output
    jar = target / jmx_exporter.EXPORTED_JAR
    kafka_rules = target / jmx_exporter.RULES_TEMPLATES["kafka"]
    cassandra_rules = target / jmx_exporter.RULES_TEMPLATES["cassandra"]
    registry_rules = target / jmx_exporter.RULES_TEMPLATES["registry"]
    assert sorted(p.name for p in target.iterdir()) == sorted(
        [jar.name, kafka_rules.name, cassandra_rules.name, registry_rules.name]
    )
    assert jar.read_bytes() == fetched_jar.read_bytes()
    # Rendered from the templates `stack up` uses: no placeholder left, the same rules.
    kafka = yaml.safe_load(kafka_rules.read_text())
    cassandra = yaml.safe_load(cassandra_rules.read_text())
    assert "kafka.server:type=BrokerTopicMetrics,*" in kafka["includeObjectNames"]
    tables = "org.apache.cassandra.metrics:type=Table,keyspace=ks_agent,*"
    assert tables in cassandra["includeObjectNames"]
    registry = yaml.safe_load(registry_rules.read_text())
    assert registry["rules"][0]["name"] == "schema_registry_$1_$2"
    for rules in (kafka_rules, cassandra_rules, registry_rules):
        assert "${" not in rules.read_text() and "$$" not in rules.read_text(), rules.name
    # The JVM containers run as other users than the one writing them.
    assert _mode(target) == 0o755
    for path in (jar, kafka_rules, cassandra_rules, registry_rules):
        assert _mode(path) == 0o644, path.name
        assert str(path) in result.output


def test_a_second_run_replaces_the_files(
    base_settings: Settings, fetched_jar: Path, tmp_path: Path
) -> None:
    env = {"USERSTREAM_STATE_DIR": str(base_settings.paths.root)}
    target = tmp_path / "agent"
    target.mkdir(mode=0o700)
    (target / jmx_exporter.EXPORTED_JAR).write_text("an older jar")
    result = CliRunner().invoke(_app(), ["stack", "metrics-agent", str(target)], env=env)
    assert result.exit_code == 0, result.output
    assert (target / jmx_exporter.EXPORTED_JAR).read_bytes() == fetched_jar.read_bytes()
    assert _mode(target) == 0o755
    assert not [p for p in target.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_without_the_jar_it_fails_before_writing_and_says_how_to_fetch_it(
    tmp_path: Path,
) -> None:
    target = tmp_path / "agent"
    env = {"USERSTREAM_STATE_DIR": str(tmp_path / "empty-state")}
    result = CliRunner().invoke(_app(), ["stack", "metrics-agent", str(target)], env=env)
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)
    assert "fetch-jars" in (result.exception.hint or "")
    assert not target.exists()


def test_help_says_what_it_writes_and_how_to_load_it() -> None:
    result = CliRunner().invoke(
        _app(), ["stack", "metrics-agent", "--help"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0
    for text in (
        jmx_exporter.EXPORTED_JAR,
        *jmx_exporter.RULES_TEMPLATES.values(),
        "docker-compose.yml",
        "-javaagent:",
        "fetch-jars",
    ):
        assert text in result.output, text
