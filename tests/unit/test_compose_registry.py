"""The schema registry of docker-compose.yml asks every client for a login. No Docker engine
runs here: its entrypoint runs with bash and its health check with sh and the real curl, each
external command they start recorded (its argv and environment) by a stand-in on their PATH."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest
import yaml

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
#: Jetty 12's (Confluent Platform 8); Jetty 9's org.eclipse.jetty.jaas.spi… is gone from 8.x.
LOGIN_MODULE = "org.eclipse.jetty.security.jaas.spi.PropertyFileLoginModule"


def _recorders(folder: Path, log: Path, names: list[str]) -> None:
    """A stand-in for each command of ``names`` in ``folder``: it appends its argv and
    environment to ``log`` as a JSON line, then runs the real command (``run``: none)."""
    folder.mkdir()
    for name in names:
        real = None if name == "run" else shutil.which(name)
        then = "sys.exit(0)" if real is None else f"os.execv({real!r}, [{real!r}, *sys.argv[1:]])"
        stand_in = folder / name
        stand_in.write_text(
            f"#!{sys.executable}\nimport json, os, sys\n"
            f"with open({str(log)!r}, 'a') as out:\n"
            "    out.write(json.dumps({'argv': sys.argv, 'env': dict(os.environ)}) + '\\n')\n"
            f"{then}\n"
        )
        stand_in.chmod(0o755)


def _calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _start(tmp_path: Path, password: str = PASSWORD) -> tuple[subprocess.CompletedProcess, list]:
    """The entrypoint as the container's bash runs it (compose's `$$` is a `$`), with its
    secrets as files and the image's start (`/etc/confluent/docker/run`) a recording stand-in."""
    assert REGISTRY["entrypoint"][:2] == ["bash", "-c"]
    env = _mounted(_env(REGISTRY), tmp_path / "secrets")
    (tmp_path / "secrets" / "registry_password").write_text(password)
    folder, log = tmp_path / "bin", tmp_path / "calls.jsonl"
    if not folder.exists():
        _recorders(folder, log, ["cat", "rm", "mkdir", "run"])
    log.unlink(missing_ok=True)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    script = REGISTRY["entrypoint"][2].replace("$$", "$")
    script = script.replace("exec /etc/confluent/docker/run", f"exec {folder / 'run'}")
    started = subprocess.run(
        [shutil.which("bash") or "bash", "-c", script],
        env={**env, "PATH": str(folder), "TMPDIR": str(tmp_path / "tmp")},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return started, _calls(log)


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
    env = _env(REGISTRY)
    run = calls[-1]
    assert Path(run["argv"][0]).name == "run"  # the image's own start, last
    login = tmp_path / "tmp" / "registry-login"
    # The Kafka store's login, in the setting the image writes into its properties file.
    assert run["env"]["SCHEMA_REGISTRY_KAFKASTORE_SASL_JAAS_CONFIG"] == (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="userstream_broker" password="{BROKER_PASSWORD}";'
    )
    # The clients': Jetty's password file (`user: password,roles`), and the JAAS file of the
    # realm naming it, which the JVM is pointed at; the agent's option is kept.
    assert (login / "password.properties").read_text() == (
        f"{env['REGISTRY_USERNAME']}: {PASSWORD},{env['SCHEMA_REGISTRY_AUTHENTICATION_ROLES']}\n"
    )
    assert (login / "jaas.conf").read_text() == (
        f"{env['SCHEMA_REGISTRY_AUTHENTICATION_REALM']} {{\n"
        f"  {LOGIN_MODULE} required\n"
        f'  file="{login}/password.properties";\n'
        "};\n"
    )
    assert run["env"]["SCHEMA_REGISTRY_OPTS"] == (
        f"{env['SCHEMA_REGISTRY_OPTS']} -Djava.security.auth.login.config={login}/jaas.conf"
    )
    assert login.stat().st_mode & 0o777 == 0o700
    for name in ("password.properties", "jaas.conf"):
        assert (login / name).stat().st_mode & 0o777 == 0o600, name
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


@pytest.mark.parametrize(
    "password",
    ["", "two words", "a,b", "back\\slash", 'a"b', "OBF:1w8t1tvf", "MD5:164c88b3", "pässwort",
     "tab\there", "line\nbreak"],
)  # fmt: skip
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


@contextmanager
def _registry_double(user: str, password: str) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server that answers GET /subjects as Confluent's does with BASIC auth on: 200
    to ``user``:``password``, 401 otherwise. Yields its URL and the Authorization headers."""
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            ok = self.path == "/subjects" and seen[-1] == expected
            body = b"[]" if ok else b'{"error_code":401,"message":"Unauthorized"}'
            self.send_response(200 if ok else 401)
            if not ok:
                self.send_header("WWW-Authenticate", 'basic realm="SchemaRegistry-Props"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_the_health_check_logs_in_with_the_secret_on_no_command_line(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (the registry's image has it)")
    kind, command = REGISTRY["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    api = "http://localhost:" + _env(REGISTRY)["SCHEMA_REGISTRY_LISTENERS"].rsplit(":", 1)[1]
    assert f"{api}/subjects" in command
    env = _mounted(_env(REGISTRY), tmp_path / "secrets")
    folder, log = tmp_path / "bin", tmp_path / "calls.jsonl"
    _recorders(folder, log, ["cat", "curl"])
    user = env["REGISTRY_USERNAME"]
    with _registry_double(user, PASSWORD) as (url, seen):
        # As Docker runs a CMD-SHELL check: sh -c, in the container's environment.
        check = command.replace("$$", "$").replace(api, url)
        healthy = subprocess.run(
            ["/bin/sh", "-c", check], env={**env, "PATH": str(folder)},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert healthy.returncode == 0, healthy.stderr
        assert seen == ["Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()]
        # A login the registry refuses fails the check (curl -f), and says nothing of it.
        (tmp_path / "secrets" / "registry_password").write_text("not-the-password")
        refused = subprocess.run(
            ["/bin/sh", "-c", check], env={**env, "PATH": str(folder)},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert refused.returncode != 0
        assert "not-the-password" not in refused.stdout + refused.stderr
    calls = _calls(log)  # the two sides of each pipe, in either order
    assert sorted(Path(c["argv"][0]).name for c in calls) == ["cat", "cat", "curl", "curl"]
    for call in calls:
        assert not [a for a in call["argv"] if PASSWORD in a or "not-the-password" in a], call
        assert not [k for k, v in call["env"].items() if PASSWORD in v], call["argv"]
    # What Docker keeps of a check (and shows in `docker inspect`) is its output: none.
    assert healthy.stdout == healthy.stderr == ""
