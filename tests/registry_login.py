"""The schema registry's login as docker-compose.yml and the Helm chart give it, checked the
same way for both (tests/unit/test_compose_registry.py, tests/deploy/test_chart.py): the
registry's start script runs under bash and its health check with the real curl against a
stand-in registry, each external command they start recorded (its argv and environment) by a
stand-in on their PATH. Both name their settings alike: REGISTRY_USERNAME,
REGISTRY_PASSWORD_FILE and the image's SCHEMA_REGISTRY_AUTHENTICATION_* and _OPTS."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest

#: Jetty 12's (Confluent Platform 8); Jetty 9's org.eclipse.jetty.jaas.spi… is gone from 8.x.
LOGIN_MODULE = "org.eclipse.jetty.security.jaas.spi.PropertyFileLoginModule"
#: Passwords Jetty's password file or curl's config line would misread: the start refuses them.
MISREAD_PASSWORDS = [
    "", "two words", "a,b", "back\\slash", 'a"b', "OBF:1w8t1tvf", "MD5:164c88b3", "pässwort",
    "tab\there", "line\nbreak",
]  # fmt: skip
#: The image's own start, which the scripts end with.
IMAGE_RUN = "/etc/confluent/docker/run"


def recorders(folder: Path, log: Path, names: list[str]) -> None:
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


def calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def start(
    script: str, env: dict[str, str], tmp_path: Path
) -> tuple[subprocess.CompletedProcess, list]:
    """``script`` as the container's bash runs it, in ``env`` (its secret files already under
    ``tmp_path``), TMPDIR ``tmp_path``/tmp, the image's start a recording stand-in."""
    folder, log = tmp_path / "bin", tmp_path / "calls.jsonl"
    if not folder.exists():
        recorders(folder, log, ["cat", "rm", "mkdir", "run"])
    log.unlink(missing_ok=True)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    assert f"exec {IMAGE_RUN}" in script
    script = script.replace(f"exec {IMAGE_RUN}", f"exec {folder / 'run'}")
    started = subprocess.run(
        [shutil.which("bash") or "bash", "-c", script],
        env={**env, "PATH": str(folder), "TMPDIR": str(tmp_path / "tmp")},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return started, calls(log)


def assert_wrote_the_clients_login(tmp_path: Path, env: dict[str, str], run: dict) -> Path:
    """Jetty's password file (`user: password,roles`) and the JAAS file of the realm naming
    it, both private, the JVM (``run``, the image's start) pointed at the JAAS file with the
    options of ``env`` kept. Returns the login's folder."""
    login = tmp_path / "tmp" / "registry-login"
    password = Path(env["REGISTRY_PASSWORD_FILE"]).read_text()
    assert (login / "password.properties").read_text() == (
        f"{env['REGISTRY_USERNAME']}: {password},{env['SCHEMA_REGISTRY_AUTHENTICATION_ROLES']}\n"
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
    return login


@contextmanager
def registry_double(user: str, password: str) -> Iterator[tuple[str, list[str]]]:
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


def assert_the_check_logs_in(
    check: list[str], api: str, env: dict[str, str], tmp_path: Path
) -> None:
    """``check`` (argv of a health check or probe that asks ``api``/subjects) logs in with the
    login of ``env`` (REGISTRY_USERNAME, the file REGISTRY_PASSWORD_FILE names) and passes,
    fails on a login the registry refuses, and puts the password in no argv, no variable and
    no output of its own."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (the registry's image has it)")
    assert f"{api}/subjects" in " ".join(check)
    folder, log = tmp_path / "bin", tmp_path / "calls.jsonl"
    recorders(folder, log, ["cat", "curl"])
    user, secret = env["REGISTRY_USERNAME"], Path(env["REGISTRY_PASSWORD_FILE"])
    password = secret.read_text()
    with registry_double(user, password) as (url, seen):
        # Its program found as the container's runtime finds it, the commands it starts on
        # the recorders' PATH.
        argv = [shutil.which(check[0]) or check[0], *(w.replace(api, url) for w in check[1:])]
        healthy = subprocess.run(
            argv, env={**env, "PATH": str(folder)},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert healthy.returncode == 0, healthy.stderr
        assert seen == ["Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()]
        # A login the registry refuses fails the check (curl -f), and says nothing of it.
        secret.write_text("not-the-password")
        refused = subprocess.run(
            argv, env={**env, "PATH": str(folder)},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        secret.write_text(password)
        assert refused.returncode != 0
        assert "not-the-password" not in refused.stdout + refused.stderr
    recorded = calls(log)  # the two sides of each pipe, in either order
    assert sorted(Path(c["argv"][0]).name for c in recorded) == ["cat", "cat", "curl", "curl"]
    for call in recorded:
        assert not [a for a in call["argv"] if password in a or "not-the-password" in a], call
        assert not [k for k, v in call["env"].items() if password in v], call["argv"]
    # What Docker keeps of a check and Kubernetes of a probe (events) is its output: none.
    assert healthy.stdout == healthy.stderr == ""
