"""The Helm chart, offline: `helm lint` and `helm template` for the default and the production
values; every object against the Kubernetes API's schemas (kubernetes-validate, a pinned
Kubernetes version) and every custom resource against the CRD schemas of the pinned operator
versions (deploy/crds); and what the chart says about topics, ACLs, settings and alerts
against the sources the local runtime reads. `make test-deploy` builds helm first."""

from __future__ import annotations

import json
import os
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

from userstream.config import Settings, load_settings
from userstream.kafka.client_config import STREAM_GROUP_PREFIX
from userstream.kafka.topics import role_grants

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
    for wrong, said in [
        (["--set", "kafka.partitions=0"], "/kafka/partitions"),
        (["--set", "stream.executors.memory=lots"], "/stream/executors/memory"),
        (["--set", "kafka.unknown=1"], "unknown"),
        (["--set", "registry.enabled=false"], "/registry/url"),
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
    # XComs and logs as small as the local runtime's.
    from userstream.stack._airflow_env import QUIET_LOGGERS, XCOM_COMPRESSION

    assert values["config"]["common.io"]["xcom_objectstorage_compression"] == XCOM_COMPRESSION
    assert values["config"]["logging"]["namespace_levels"] == QUIET_LOGGERS


def _pods(objects: list[dict]) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in [*_of(objects, "Deployment"), *_of(objects, "Job")]:
        yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]


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
