"""The rendered Kafka and Cassandra configuration: complete, and every address from settings."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from userstream.config import Settings, load_settings
from userstream.errors import ConfigError
from userstream.stack import cassandra, kafka
from userstream.stack._render import render, template_lines


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        state_dir=tmp_path / "state",
        kafka={"host": "127.0.0.2", "port": 19092, "controller_port": 19093, "partitions": 3},
        cassandra={"hosts": ["127.0.0.3"], "port": 19042, "storage_port": 17000},
    )


def _properties(path: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    return {k.strip(): v.strip() for k, v in pairs}


def test_kafka_properties_come_from_settings(settings: Settings) -> None:
    props = _properties(kafka._render_config(settings))
    assert props["listeners"] == "PLAINTEXT://127.0.0.2:19092,CONTROLLER://127.0.0.2:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.2:19092"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.2:19093"
    # `--standalone` formatting and static voters are mutually exclusive.
    assert "controller.quorum.voters" not in props
    assert props["process.roles"] == "broker,controller"
    assert props["num.partitions"] == "3"
    assert Path(props["log.dirs"]).is_relative_to(settings.paths.data)
    assert "${" not in kafka.config_file(settings).read_text()
    assert (kafka.config_file(settings).parent / "log4j2.properties").is_file()


def test_cassandra_yaml_has_required_keys_and_auth(settings: Settings) -> None:
    conf = yaml.safe_load(cassandra._render_config(settings).read_text())
    for key in ("commitlog_sync", "partitioner", "endpoint_snitch"):
        assert conf[key]
    # Acknowledged writes are on disk: a SIGKILLed node loses none of them.
    assert conf["commitlog_sync"] == "batch"
    assert conf["seed_provider"][0]["parameters"][0]["seeds"] == "127.0.0.3:17000"
    assert conf["listen_address"] == conf["rpc_address"] == "127.0.0.3"
    assert conf["native_transport_port"] == 19042
    assert conf["authenticator"] == "PasswordAuthenticator"
    assert conf["authorizer"] == "CassandraAuthorizer"
    for folder in conf["data_file_directories"] + [conf["commitlog_directory"]]:
        assert Path(folder).is_relative_to(settings.paths.data)


def test_cassandra_command_line(settings: Settings, tmp_path: Path) -> None:
    conf = cassandra._render_config(settings)
    cmd = cassandra._command(settings, "java", conf)
    assert cmd[-1] == cassandra.MAIN_CLASS
    assert f"-Dcassandra.config=file://{conf}" in cmd
    assert "-Dcassandra-foreground=yes" in cmd
    assert "-Xmx1G" in cmd
    assert f"-Dcassandra.jmx.local.port={settings.cassandra.jmx_port}" in cmd
    assert "--add-opens=java.base/java.lang=ALL-UNNAMED" in cmd
    # The classpath is Cassandra's own folder only.
    assert cmd[cmd.index("-cp") + 1] == f"{settings.paths.lib / 'cassandra'}/*"


def test_jvm_options_template_is_one_option_per_line() -> None:
    lines = template_lines("cassandra-jvm17.options")
    assert lines
    assert all(line.startswith("-") and " " not in line for line in lines)


def test_render_refuses_a_missing_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs a value"):
        render("kafka-server.properties", tmp_path / "x.properties", {"host": "h"})


def test_cluster_id_is_a_kafka_uuid() -> None:
    cid = kafka._cluster_id()
    assert len(cid) == 22
    assert len(base64.urlsafe_b64decode(cid + "==")) == 16
    assert cid != kafka._cluster_id()
