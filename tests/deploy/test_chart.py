"""The Helm chart, offline: `helm lint` and `helm template` for the default and the production
values; every object against the Kubernetes API's schemas (kubernetes-validate, a pinned
Kubernetes version) and every custom resource against the CRD schemas of the pinned operator
versions (deploy/crds); what the chart says about topics, ACLs, settings and alerts against
the sources the local runtime reads; and the schema registry's login, its start script and
probes run as in tests/unit/test_compose_registry.py. `make test-deploy` builds helm first."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.registry_login import (
    LOGIN_MODULE,
    MISREAD_PASSWORDS,
    assert_the_check_logs_in,
    assert_wrote_the_clients_login,
    start,
)
from userstream.config import CassandraSettings, Settings, load_settings
from userstream.kafka.client_config import STREAM_GROUP_PREFIX
from userstream.kafka.topics import role_grants
from userstream.stack import jars, jmx_exporter
from userstream.stack._airflow_env import QUIET_LOGGERS, XCOM_COMPRESSION
from userstream.stack._render import render as render_template

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "userstream"
PRODUCTION = REPO / "deploy" / "helm" / "values-production.yaml"
HELM = os.environ.get("HELM", str(REPO / ".tools" / "bin" / "helm"))
#: The Kubernetes version the chart is checked against (kubeVersion in Chart.yaml allows it).
KUBERNETES = "1.34.0"

sys.path.insert(0, str(REPO / "deploy" / "crds"))
from schemas import crd_schema  # noqa: E402

# Skipped only when run by hand without helm; `make test-deploy` builds it and names it (HELM),
# so there a missing helm fails every test instead of passing them unseen.
pytestmark = pytest.mark.skipif(
    "HELM" not in os.environ and not Path(HELM).is_file(),
    reason=f"no helm at {HELM}: run `make test-deploy`, which builds it",
)

BUILT_IN_GROUPS = {"v1", "apps/v1", "batch/v1", "policy/v1", "networking.k8s.io/v1"}
BUILT_IN_GROUPS |= {"rbac.authorization.k8s.io/v1"}


def _helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HELM, *args], capture_output=True, text=True, timeout=120, check=False, cwd=REPO
    )


def render(*args: str) -> list[dict[str, Any]]:
    done = _helm("template", "userstream", str(CHART), "--namespace", "pipeline", *args)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module", params=["default", "production"])
def objects(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render() if request.param == "default" else render("-f", str(PRODUCTION))


def strict(schema: Any) -> Any:
    """``schema`` refusing fields it does not name, as the API server's strict field
    validation does (`kubectl apply --validate=strict`), except where the CRD keeps unknown
    fields: a typo in a custom resource would otherwise be pruned without a word."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    copy = {key: strict(value) for key, value in schema.items()}
    keeps = schema.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in schema and "additionalProperties" not in schema and not keeps:
        copy["additionalProperties"] = False
    return copy


def _of(objects: list[dict[str, Any]], kind: str) -> Iterator[dict[str, Any]]:
    return (o for o in objects if o["kind"] == kind)


def test_helm_lint_passes_for_both_values_files() -> None:
    for extra in ([], ["-f", str(PRODUCTION)]):
        done = _helm("lint", str(CHART), "--strict", *extra)
        assert done.returncode == 0, done.stdout + done.stderr


def test_every_object_is_valid_for_kubernetes_or_its_operator(objects: list[dict]) -> None:
    for obj in objects:
        where = f"{obj['kind']} {obj['metadata']['name']}"
        if obj["apiVersion"] in BUILT_IN_GROUPS:
            try:
                kubernetes_validate.validate(obj, KUBERNETES, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{where}: {exc.message} at {list(exc.path)}")
        else:
            # Not checked against the metaschema: CRDs carry Go's regular expressions.
            schema = strict(crd_schema(obj["apiVersion"], obj["kind"]))
            validator = jsonschema.Draft202012Validator(schema)
            try:
                validator.validate(obj)
            except jsonschema.ValidationError as exc:
                pytest.fail(f"{where}: {exc.message} at {list(exc.path)}")


def test_the_chart_installs_every_part(objects: list[dict]) -> None:
    kinds = [o["kind"] for o in objects]
    for kind, count in {
        "Kafka": 1, "KafkaNodePool": 1, "KafkaTopic": 3, "KafkaUser": 4, "CassandraDatacenter": 1,
        "Deployment": 3, "Job": 1, "PrometheusRule": 1, "PodMonitor": 5, "ServiceMonitor": 1,
    }.items():  # fmt: skip
        assert kinds.count(kind) == count, (kind, kinds)
    stream = next(d for d in _of(objects, "Deployment") if d["metadata"]["name"].endswith("stream"))
    assert stream["spec"]["replicas"] == 1
    assert stream["spec"]["strategy"] == {"type": "Recreate"}


def test_a_wrong_value_fails_at_install() -> None:
    theirs = "registry.enabled=false,registry.url=http://registry.example:8081"
    for wrong, said in [
        (["--set", "kafka.partitions=0"], "/kafka/partitions"),
        (["--set", "stream.executors.memory=lots"], "/stream/executors/memory"),
        (["--set", "kafka.unknown=1"], "unknown"),
        (["--set", "registry.enabled=false"], "/registry/url"),
        (["--set", "registry.username=a:b"], "/registry/username"),
        (["--set", "registry.username="], "/registry/username"),
        # A login of a registry of yours needs its user name.
        (
            ["--set", theirs, "--set", "registry.username=,registry.existingSecret=s"],
            "/registry/username",
        ),
    ]:
        done = _helm("template", "userstream", str(CHART), *wrong)
        assert done.returncode != 0, wrong
        assert said in done.stderr, done.stderr


def _settings_of(objects: list[dict]) -> Settings:
    """The settings the stream's container gets (its USERSTREAM_ variables, files left out)."""
    stream = next(d for d in _of(objects, "Deployment") if d["metadata"]["name"].endswith("stream"))
    containers = stream["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in containers[0]["env"]}
    kafka = json.loads(env["USERSTREAM_KAFKA__CLIENT_CONFIG"])
    return load_settings(
        kafka={"topic": env["USERSTREAM_KAFKA__TOPIC"], "client_config": kafka},
        cassandra={"keyspace": env["USERSTREAM_CASSANDRA__KEYSPACE"]},
    )


def test_topics_are_the_ones_the_pipeline_uses(objects: list[dict]) -> None:
    settings = _settings_of(objects)
    topics = {t["spec"]["topicName"]: t["spec"] for t in _of(objects, "KafkaTopic")}
    assert set(topics) == {settings.kafka.topic, settings.kafka.dlq_topic, "_schemas"}
    assert topics["_schemas"]["config"]["cleanup.policy"] == "compact"
    kafka = next(_of(objects, "Kafka"))["spec"]["kafka"]
    assert kafka["config"]["min.insync.replicas"] == 2
    assert kafka["config"]["auto.create.topics.enable"] is False


def test_the_roles_acls_are_the_local_brokers(objects: list[dict]) -> None:
    settings = _settings_of(objects)
    users = {
        u["metadata"]["name"].removeprefix("userstream-"): u for u in _of(objects, "KafkaUser")
    }
    assert set(users) == {"producer", "stream", "admin", "registry"}
    for role, grants in role_grants(settings.kafka).items():
        expected = {
            (g.resource.lower(), g.name, "prefix" if g.prefixed else "literal", g.operation)
            for g in grants
        }
        found = {
            (acl["resource"]["type"], acl["resource"]["name"], acl["resource"]["patternType"],
             op.upper())
            for acl in users[role]["spec"]["authorization"]["acls"]
            for op in acl["operations"]
        }  # fmt: skip
        assert found == expected, role
    assert STREAM_GROUP_PREFIX in {g.name for g in role_grants(settings.kafka)["stream"]}
    # The admin is a super user, as locally; it has no ACLs of its own.
    assert "authorization" not in users["admin"]["spec"]
    kafka = next(_of(objects, "Kafka"))["spec"]["kafka"]
    assert kafka["authorization"]["superUsers"] == ["userstream-admin"]


def test_every_userstream_variable_is_a_setting(objects: list[dict]) -> None:
    settings = load_settings()
    fields = {
        section: set(type(part).model_fields)
        for section in type(settings).model_fields
        if hasattr(part := getattr(settings, section), "model_fields")
    }
    for deployment in [*_of(objects, "Deployment"), *_of(objects, "Job")]:
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for var in container.get("env", []):
                name = var["name"]
                if not name.startswith("USERSTREAM_") or name == "USERSTREAM_STATE_DIR":
                    continue
                section, _, key = name.removeprefix("USERSTREAM_").lower().partition("__")
                key = key.split("__")[0].removesuffix("_file")
                assert section in fields and key in fields[section], name


def test_alert_rules_and_dashboard_are_the_repositorys(objects: list[dict]) -> None:
    rule = next(_of(objects, "PrometheusRule"))
    alerts = yaml.safe_load((REPO / "monitoring" / "alerts.yml").read_text())
    assert rule["spec"]["groups"] == alerts["groups"]
    jobs = {
        r["replacement"]
        for m in [*_of(objects, "PodMonitor"), *_of(objects, "ServiceMonitor")]
        for e in m["spec"].get("podMetricsEndpoints", m["spec"].get("endpoints", []))
        for r in e["relabelings"]
    }
    assert jobs == {"kafka", "cassandra", "registry", "stream", "dashboard", "airflow"}
    board = next(c for c in _of(objects, "ConfigMap") if "grafana" in c["metadata"]["name"])
    on_disk = (REPO / "monitoring" / "grafana" / "dashboards" / "userstream.json").read_text()
    assert board["data"]["userstream.json"] == on_disk


def test_no_secret_value_is_in_a_pod_spec(objects: list[dict]) -> None:
    for deployment in [*_of(objects, "Deployment"), *_of(objects, "Job")]:
        spec = deployment["spec"]["template"]["spec"]
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            for var in container.get("env", []):
                assert "PASSWORD" not in var["name"] or var["name"].endswith("_FILE"), var
                assert "secretKeyRef" not in json.dumps(var), var
    # The passwords the chart makes are in their Secret only: no env value, no command, no
    # probe, nothing else it renders.
    made = [s for s in _of(objects, "Secret") if "password" in s["data"]]
    assert {s["metadata"]["name"] for s in made} == {
        "userstream-cassandra-superuser",
        "userstream-registry-login",
    }
    for secret in made:
        password = base64.b64decode(secret["data"]["password"]).decode()
        assert len(password) >= 32, secret["metadata"]["name"]
        for obj in objects:
            if obj is not secret:
                assert password not in json.dumps(obj), (secret["metadata"]["name"], obj["kind"])


def test_the_airflow_values_reach_the_charts_parts() -> None:
    values = yaml.safe_load((REPO / "deploy" / "helm" / "airflow-values.yaml").read_text())
    env = {e["name"]: e["value"] for e in values["env"]}
    assert env["USERSTREAM_AIRFLOW__STARTS_STREAM"] == "false"
    # The release `userstream` of this chart: the names the Airflow values file assumes.
    objects = render()
    stream = next(d for d in _of(objects, "Deployment") if d["metadata"]["name"].endswith("stream"))
    chart_env = {
        e["name"]: e.get("value")
        for e in stream["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    for shared in ("USERSTREAM_KAFKA__BOOTSTRAP_SERVERS", "USERSTREAM_CASSANDRA__HOSTS",
                   "USERSTREAM_REGISTRY__URL", "USERSTREAM_KAFKA__TOPIC"):  # fmt: skip
        assert env[shared] == chart_env[shared], shared
    assert json.loads(env["USERSTREAM_KAFKA__CLIENT_CONFIG"])["sasl.username"] in {
        u["metadata"]["name"] for u in _of(objects, "KafkaUser")
    }
    # ensure_stream reads the driver's progress from the stream's Service, which the
    # stream's NetworkPolicy opens to the pipeline's pods (Airflow's among them).
    progress = urllib.parse.urlsplit(env["USERSTREAM_SPARK__PROGRESS_URL"])
    service = next(s for s in _of(objects, "Service") if s["metadata"]["name"] == progress.hostname)
    assert progress.port in {p["port"] for p in service["spec"]["ports"]}
    assert progress.path == "/progress"
    dashboard = next(
        d for d in _of(objects, "Deployment") if d["metadata"]["name"].endswith("dashboard")
    )
    dashboard_env = {
        e["name"]: e.get("value")
        for e in dashboard["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert dashboard_env["USERSTREAM_SPARK__PROGRESS_URL"] == progress.geturl()
    policy = next(
        p for p in _of(objects, "NetworkPolicy") if p["metadata"]["name"] == progress.hostname
    )
    peers = policy["spec"]["ingress"][0]
    assert {"podSelector": {"matchLabels": {"release": "airflow"}}} in peers["from"], peers
    assert progress.port in {p["port"] for p in peers["ports"]}
    secrets = {v["secret"]["secretName"] for v in values["volumes"] if "secret" in v}
    made = {s["metadata"]["name"] for s in _of(objects, "Secret")}
    assert secrets == {"userstream-producer"} | made
    # Its tasks log in to the registry as the chart's clients do.
    login = _registry_login(env, values["volumeMounts"], values["volumes"])
    assert login == ("userstream_registry", "userstream-registry-login")
    assert login == _registry_login(chart_env, *_mounts_and_volumes(stream))
    # XComs and logs as small as the local runtime's.
    assert values["config"]["common.io"]["xcom_objectstorage_compression"] == XCOM_COMPRESSION
    assert values["config"]["logging"]["namespace_levels"] == QUIET_LOGGERS


def _pods(objects: list[dict]) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in [*_of(objects, "Deployment"), *_of(objects, "Job")]:
        yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]
    # What the chart adds to the pods cass-operator builds (its metrics-agent init container).
    for dc in _of(objects, "CassandraDatacenter"):
        yield dc["metadata"]["name"], dc["spec"]["podTemplateSpec"]["spec"]


def test_pods_can_use_what_the_image_holds(objects: list[dict]) -> None:
    for name, spec in _pods(objects):
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            for mount in container.get("volumeMounts", []):
                # The image's state folder holds the jars fetched at build time: a volume
                # mounted there would hide them (Kubernetes does not copy them in as Docker does).
                assert not mount["mountPath"].startswith("/opt/userstream/state"), (name, mount)
        if any("secret" in v for v in spec.get("volumes", [])):
            # A Secret's files are readable by root and the pod's fsGroup only.
            assert "fsGroup" in spec["securityContext"], name


def test_executors_start_with_sparks_entrypoint_and_find_their_driver(objects: list[dict]) -> None:
    stream = next(d for d in _of(objects, "Deployment") if d["metadata"]["name"].endswith("stream"))
    env = {
        e["name"]: e.get("value")
        for e in stream["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    conf = json.loads(env["USERSTREAM_SPARK__CONF"])
    assert conf["spark.driver.host"] == "$(POD_IP)"  # no wait for a DNS record
    template = next(
        c for c in _of(objects, "ConfigMap") if c["metadata"]["name"].endswith("executor")
    )
    pod = yaml.safe_load(template["data"]["executor-pod.yaml"])
    (container,) = pod["spec"]["containers"]
    assert container["name"] == conf["spark.kubernetes.executor.podTemplateContainerName"]
    script = container["command"][0]
    assert script == "/opt/userstream/docker/spark-executor.sh"
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert "docker/spark-executor.sh ./docker/spark-executor.sh" in dockerfile
    assert os.access(REPO / "docker" / "spark-executor.sh", os.X_OK)


def _deployment(objects: list[dict], part: str) -> dict[str, Any]:
    return next(d for d in _of(objects, "Deployment") if d["metadata"]["name"].endswith(part))


def _mounts_and_volumes(pod_owner: dict) -> tuple[list[dict], list[dict]]:
    spec = pod_owner["spec"]["template"]["spec"]
    return spec["containers"][0].get("volumeMounts", []), spec.get("volumes", [])


def _registry_login(
    env: dict[str, str | None], mounts: list[dict], volumes: list[dict]
) -> tuple[str, str] | None:
    """The registry login a client container gives (its user name and the Secret its
    password file is mounted from, key `password`, read-only), or None when it gives none."""
    if "USERSTREAM_REGISTRY__PASSWORD_FILE" not in env:
        assert "USERSTREAM_REGISTRY__USERNAME" not in env
        assert "registry-login" not in {v["name"] for v in volumes}
        return None
    assert "USERSTREAM_REGISTRY__PASSWORD" not in env
    path = Path(str(env["USERSTREAM_REGISTRY__PASSWORD_FILE"]))
    (mount,) = [m for m in mounts if Path(m["mountPath"]) == path.parent]
    assert mount.get("readOnly") is True, mount
    (volume,) = [v for v in volumes if v["name"] == mount["name"]]
    assert {"key": "password", "path": path.name} in volume["secret"]["items"], volume
    return str(env["USERSTREAM_REGISTRY__USERNAME"]), volume["secret"]["secretName"]


def _clients(objects: list[dict]) -> dict[str, tuple[str, str] | None]:
    """Every pod of the chart that is told the registry's URL: the login it gives."""
    found = {}
    for obj in [*_of(objects, "Deployment"), *_of(objects, "Job")]:
        for container in obj["spec"]["template"]["spec"]["containers"]:
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            if "USERSTREAM_REGISTRY__URL" in env:
                mounts, volumes = container.get("volumeMounts", []), _mounts_and_volumes(obj)[1]
                found[obj["metadata"]["name"]] = _registry_login(env, mounts, volumes)
    return found


def _registry_container(objects: list[dict]) -> dict[str, Any]:
    (container,) = _deployment(objects, "registry")["spec"]["template"]["spec"]["containers"]
    return container


def _registrys_own_login(objects: list[dict]) -> tuple[str, str] | None:
    """The login the registry asks for: its user name and the Secret it reads it from."""
    env = {e["name"]: e.get("value") for e in _registry_container(objects)["env"]}
    return _registry_login(
        {"USERSTREAM_REGISTRY__USERNAME": env["REGISTRY_USERNAME"],
         "USERSTREAM_REGISTRY__PASSWORD_FILE": env["REGISTRY_PASSWORD_FILE"]},
        *_mounts_and_volumes(_deployment(objects, "registry")),
    )  # fmt: skip


def test_the_registry_asks_every_client_for_basic_auth_with_jettys_module(
    objects: list[dict],
) -> None:
    registry = _registry_container(objects)
    env = {e["name"]: e.get("value") for e in registry["env"]}
    assert env["SCHEMA_REGISTRY_AUTHENTICATION_METHOD"] == "BASIC"
    assert env["SCHEMA_REGISTRY_AUTHENTICATION_REALM"] == "SchemaRegistry-Props"
    assert env["SCHEMA_REGISTRY_AUTHENTICATION_ROLES"] == "pipeline"
    assert registry["command"][:2] == ["bash", "-c"]
    script = registry["command"][2]
    assert LOGIN_MODULE in script and "-Djava.security.auth.login.config=" in script
    # Its clients give the login it asks for, from the same Secret; 0440, as its Kafka
    # login: the image's user reads it through the pod's fsGroup.
    own = _registrys_own_login(objects)
    assert own == ("userstream_registry", "userstream-registry-login")
    (volume,) = [
        v for v in _mounts_and_volumes(_deployment(objects, "registry"))[1]
        if v["name"] == "registry-login"
    ]  # fmt: skip
    assert volume["secret"]["defaultMode"] == 0o440
    clients = _clients(objects)
    assert set(clients) == {"userstream-stream", "userstream-dashboard", "userstream-bootstrap-1"}
    assert set(clients.values()) == {own}
    # Prometheus scrapes the JMX exporter's own port, which asks for no login.
    monitor = next(
        m for m in _of(objects, "PodMonitor") if m["metadata"]["name"].endswith("registry")
    )
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert not {"basicAuth", "authorization", "oauth2"} & set(endpoint)
    ports = {p["name"]: p["containerPort"] for p in registry["ports"]}
    assert ports[endpoint["port"]] == 7074 != ports["http"]


def test_a_secret_of_yours_replaces_the_generated_one() -> None:
    objects = render("--set", "registry.existingSecret=my-registry-login")
    assert "userstream-registry-login" not in {
        s["metadata"]["name"] for s in _of(objects, "Secret")
    }
    own = _registrys_own_login(objects)
    assert own == ("userstream_registry", "my-registry-login")
    assert set(_clients(objects).values()) == {own}


def test_a_registry_of_yours_is_given_its_login_or_none() -> None:
    theirs = ["--set", "registry.enabled=false,registry.url=https://registry.example:8081"]
    objects = render(*theirs)
    assert not [d for d in _of(objects, "Deployment") if d["metadata"]["name"].endswith("registry")]
    assert "userstream-registry-login" not in {
        s["metadata"]["name"] for s in _of(objects, "Secret")
    }
    assert set(_clients(objects).values()) == {None}
    objects = render(*theirs, "--set", "registry.username=them,registry.existingSecret=their-login")
    assert set(_clients(objects).values()) == {("them", "their-login")}


@pytest.fixture(scope="module")
def registry_start() -> tuple[dict[str, Any], str]:
    """The registry's container and its generated password, as `helm template` renders them."""
    objects = render()
    (secret,) = [
        s for s in _of(objects, "Secret") if s["metadata"]["name"].endswith("registry-login")
    ]
    return _registry_container(objects), base64.b64decode(secret["data"]["password"]).decode()


def _in_the_pod(container: dict, folder: Path, password: str) -> dict[str, str]:
    """The container's environment as its processes see it, its Secrets' files under
    ``folder`` (the registry's login holding ``password``)."""
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    env = {k: v.replace("/var/run/secrets/userstream", str(folder)) for k, v in env.items()}
    for name, text in (("kafka", "kafka-password-for-the-test"), ("registry", password)):
        (folder / name).mkdir(parents=True, exist_ok=True)
        (folder / name / "password").write_text(text)
    return env


def test_the_registry_writes_both_logins_from_the_mounted_secrets(
    registry_start: tuple[dict, str], tmp_path: Path
) -> None:
    container, password = registry_start
    env = _in_the_pod(container, tmp_path / "secrets", password)
    started, calls = start(container["command"][2], env, tmp_path)
    assert started.returncode == 0, started.stderr  # the generated password passes the check
    run = calls[-1]
    assert Path(run["argv"][0]).name == "run"  # the image's own start, last
    assert run["env"]["SCHEMA_REGISTRY_KAFKASTORE_SASL_JAAS_CONFIG"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="userstream-registry" password="kafka-password-for-the-test";'
    )
    assert_wrote_the_clients_login(tmp_path, env, run)
    assert [Path(c["argv"][0]).name for c in calls] == ["cat", "cat", "rm", "mkdir", "run"]
    for call in calls:
        assert not [a for a in call["argv"] if password in a or "kafka-password" in a], call
        assert not [k for k, v in call["env"].items() if password in v], call["argv"]
    assert password not in started.stdout + started.stderr


@pytest.mark.parametrize("password", MISREAD_PASSWORDS)
def test_a_password_jettys_file_would_misread_stops_the_registry_with_a_reason(
    registry_start: tuple[dict, str], tmp_path: Path, password: str
) -> None:
    container, _ = registry_start
    env = _in_the_pod(container, tmp_path / "secrets", password)
    started, calls = start(container["command"][2], env, tmp_path)
    assert started.returncode != 0
    assert "Secret userstream-registry-login" in started.stderr
    assert "run" not in [Path(c["argv"][0]).name for c in calls]
    assert not (tmp_path / "tmp" / "registry-login").exists()
    if password.strip():
        assert password not in started.stderr


def test_the_registry_probes_log_in_with_the_password_on_no_command_line(
    registry_start: tuple[dict, str], tmp_path: Path
) -> None:
    container, password = registry_start
    probe = container["readinessProbe"]
    assert container["livenessProbe"]["exec"] == probe["exec"]
    api = "http://localhost:" + str(
        next(p for p in container["ports"] if p["name"] == "http")["containerPort"]
    )
    # As the kubelet runs an exec probe: the argv, in the container's environment.
    env = _in_the_pod(container, tmp_path / "secrets", password)
    assert_the_check_logs_in(probe["exec"]["command"], api, env, tmp_path)


def _javaagent(option: str) -> tuple[str, str | None, int, str]:
    """The JMX exporter's ``-javaagent:JAR=[HOST:]PORT:RULES`` as (jar, host, port, rules)."""
    assert option.startswith("-javaagent:"), option
    jar, _, args = option.removeprefix("-javaagent:").partition("=")
    *host, port, rules = args.split(":")
    assert len(host) <= 1, option
    return jar, (host[0] if host else None), int(port), rules


def test_cassandra_serves_the_local_nodes_metrics_through_the_jmx_exporter(
    objects: list[dict], tmp_path: Path
) -> None:
    """The names monitoring/alerts.yml and the dashboard use are the JMX exporter's with the
    local node's rules (tests/unit/test_monitoring.py checks they cover every one): the
    Cassandra pods load that agent with those rules, and Prometheus scrapes its port, not
    cass-operator's management API (port 9000, other names: docs/kubernetes.md)."""
    dc = next(_of(objects, "CassandraDatacenter"))["spec"]
    # In jvm-server.options, which the node reads whatever its Java version (k8ssandra-client's
    # config builder, cass-operator's for Cassandra 4.1 and newer, writes additional-jvm-opts).
    options = dc["config"]["jvm-server-options"]["additional-jvm-opts"]
    (agent,) = [o for o in options if o.startswith("-javaagent:")]
    jar, host, port, rules = _javaagent(agent)
    assert host in {None, "0.0.0.0"}  # the pod's address: Prometheus is another pod
    assert port == CassandraSettings().metrics_port
    pod = dc["podTemplateSpec"]["spec"]
    (cassandra,) = [c for c in pod["containers"] if c["name"] == "cassandra"]
    # The PodMonitor scrapes that port by name; the NetworkPolicy lets Prometheus in on it only.
    monitor = next(
        m for m in _of(objects, "PodMonitor") if m["metadata"]["name"].endswith("-cassandra")
    )
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert {p["name"]: p["containerPort"] for p in cassandra["ports"]}[endpoint["port"]] == port
    assert endpoint["path"] == "/metrics"
    policy = next(
        p for p in _of(objects, "NetworkPolicy") if p["metadata"]["name"].endswith("-cassandra")
    )
    prometheus = {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}
    prometheus_peers = [{"namespaceSelector": {}, "podSelector": prometheus}]
    (scraped,) = [r for r in policy["spec"]["ingress"] if r["from"] == prometheus_peers]
    assert scraped["ports"] == [{"protocol": "TCP", "port": port}]
    # The jar and the rules: on a volume of the pod, read-only for Cassandra, filled by the
    # metrics-agent init container before Cassandra starts.
    (mount,) = [m for m in cassandra["volumeMounts"] if Path(jar).is_relative_to(m["mountPath"])]
    assert mount.get("readOnly") is True
    assert Path(rules).parent == Path(jar).parent
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["emptyDir"] == {}
    (init,) = pod["initContainers"]
    (filled,) = [m for m in init["volumeMounts"] if m["name"] == mount["name"]]
    assert (
        init["image"]
        == _deployment(objects, "stream")["spec"]["template"]["spec"]["containers"][0]["image"]
    )
    # As the app's pods: the image's user (cass-operator runs the pod as Cassandra's, 999).
    app_pod = _deployment(objects, "stream")["spec"]["template"]["spec"]["securityContext"]
    security = init["securityContext"]
    assert security["runAsUser"] == app_pod["runAsUser"]
    assert security["runAsNonRoot"] is True and security["readOnlyRootFilesystem"] is True
    # `userstream stack metrics-agent FOLDER`, as Compose's metrics-agent service, into a folder
    # below the volume's root (the command sets the folder's mode: the root is not its own).
    program, *args = init["command"]
    assert program == "userstream" and args[:2] == ["stack", "metrics-agent"]
    target = Path(args[2])
    assert target.is_relative_to(filled["mountPath"]) and target != Path(filled["mountPath"])
    env = {e["name"]: e["value"] for e in init["env"]}
    # The image's state folder, where `userstream fetch-jars` put the jar at build time.
    assert "USERSTREAM_STATE_DIR" not in env
    settings = _settings_of(objects)
    assert env["USERSTREAM_CASSANDRA__KEYSPACE"] == settings.cassandra.keyspace

    # Run that command, the image's state folder and the volume under tmp_path.
    state = tmp_path / "image-state"
    lib = jars.lib_dir(state / "lib", jmx_exporter.JAR_SET)
    lib.mkdir(parents=True)
    (lib / "jmx_prometheus_javaagent-1.0.1.jar").write_bytes(b"the agent's jar")
    volume_dir = tmp_path / "volume"
    volume_dir.mkdir()

    def on_volume(path: str | Path, mount_path: str) -> Path:
        return volume_dir / Path(path).relative_to(mount_path)

    before = sorted(tmp_path.rglob("*"))
    python_path = os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))
    written = on_volume(target, filled["mountPath"])
    done = subprocess.run(
        [sys.executable, "-m", "userstream", *args[:2], str(written)],
        env={**env, "PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": python_path,
             "USERSTREAM_STATE_DIR": str(state)},
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    # Nothing but the volume is written (the container's root filesystem is read-only).
    assert [p for p in sorted(tmp_path.rglob("*")) if not p.is_relative_to(written)] == before
    # What the option names is what it wrote, readable by Cassandra's user.
    jar_file = on_volume(jar, mount["mountPath"])
    assert jar_file.read_bytes() == b"the agent's jar"
    rules_file = on_volume(rules, mount["mountPath"])
    for path in (jar_file, rules_file):
        assert stat.S_IMODE(path.stat().st_mode) & 0o444 == 0o444, path
    assert stat.S_IMODE(jar_file.parent.stat().st_mode) & 0o555 == 0o555
    # The rules are the local node's (stack/cassandra.py renders them so), for the tables of
    # the keyspace the pipeline writes.
    local = render_template(
        "cassandra-metrics.yaml", tmp_path / "local.yaml", {"keyspace": settings.cassandra.keyspace}
    )
    assert rules_file.read_text() == local.read_text()
    assert f"keyspace={settings.cassandra.keyspace}," in rules_file.read_text()
