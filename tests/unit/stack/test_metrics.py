"""Kafka's and Cassandra's metrics agent: on their command lines, on loopback, with small rules."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from userstream.config import Settings, load_settings
from userstream.errors import ConfigError
from userstream.kafka.client_config import USERNAMES, Login
from userstream.stack import cassandra, doctor, kafka
from userstream.stack.local import stack_status


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        state_dir=tmp_path / "state",
        kafka={
            "host": "127.0.0.2",
            "port": 19092,
            "controller_port": 19093,
            "metrics_port": 17071,
            "bootstrap_servers": "127.0.0.2:19092",
        },
        cassandra={
            "hosts": ["127.0.0.3"],
            "port": 19042,
            "storage_port": 17000,
            "metrics_port": 17072,
            "keyspace": "ks_metrics",
        },
    )


@pytest.fixture
def agent(settings: Settings) -> Path:
    """The agent's jar where `fetch-jars` puts it."""
    jar = settings.paths.lib / "jmx-exporter" / "jmx_prometheus_javaagent-1.0.1.jar"
    jar.parent.mkdir(parents=True)
    jar.touch()
    return jar


def _kafka_conf(settings: Settings) -> Path:
    return kafka._render_config(settings, {role: Login(f"u_{role}", "pw") for role in USERNAMES})


def test_kafka_serves_its_metrics_on_loopback_with_its_rules(
    settings: Settings, agent: Path
) -> None:
    conf = _kafka_conf(settings)
    node = kafka.single_node(settings)
    cmd = kafka._command(settings, node, "java")
    rules = conf.parent / "jmx-exporter.yaml"
    assert cmd[-2:] == [kafka.MAIN_CLASS, str(conf)]
    # Host, port, rules: without the host the agent would listen on 0.0.0.0.
    assert f"-javaagent:{agent}=127.0.0.1:17071:{rules}" in cmd[:-2]
    assert rules.is_file()
    # Not in the storage formatter's JVM, which would take the port too.
    assert not [arg for arg in kafka._jvm_base(settings, node, "java") if "javaagent" in arg]


def test_each_cluster_node_serves_its_metrics_on_its_own_address(
    settings: Settings, agent: Path
) -> None:
    logins = {role: Login(f"u_{role}", "pw") for role in USERNAMES}
    for node in kafka.cluster_nodes(settings):
        conf = kafka._render_config(settings, logins, node)
        rules = conf.parent / "jmx-exporter.yaml"
        cmd = kafka._command(settings, node, "java")
        assert f"-javaagent:{agent}={node.host}:17071:{rules}" in cmd[:-2]
        assert kafka.metrics_url(settings.kafka, node) == f"http://{node.host}:17071/metrics"


def test_cassandra_serves_its_metrics_on_loopback_with_its_rules(
    settings: Settings, agent: Path
) -> None:
    node = cassandra.single_node(settings)
    conf = cassandra._render_config(settings.cassandra, node)
    cmd = cassandra._command(settings, "java", node)
    rules = conf.parent / "jmx-exporter.yaml"
    # On 127.0.0.1 although the node itself listens on 127.0.0.3.
    assert f"-javaagent:{agent}=127.0.0.1:17072:{rules}" in cmd[: cmd.index(cassandra.MAIN_CLASS)]
    assert rules.is_file()


def test_a_missing_agent_jar_says_how_to_fetch_it(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="agent jar is missing") as caught:
        cassandra._command(settings, "java", cassandra.single_node(settings))
    assert "fetch-jars" in (caught.value.hint or "")


def _export(rules: dict[str, Any], bean: str) -> tuple[str, dict[str, str]] | None:
    """What the exporter makes of one MBean attribute: the first matching rule's name and
    labels (its ``$n`` filled in, the name lower-cased), or None when no rule matches."""
    for rule in rules["rules"]:
        match = re.search(rule["pattern"], bean)
        if match:
            # Java's `$1` is Python's `\g<1>`.
            labels = {k: match.expand(_python(v)) for k, v in rule.get("labels", {}).items()}
            return match.expand(_python(rule["name"])).lower(), labels
    return None


def _python(template: str) -> str:
    return re.sub(r"\$(\d+)", r"\\g<\1>", template)


def test_kafka_rules_keep_topics_and_requests_and_leave_out_what_would_explode(
    settings: Settings,
) -> None:
    conf = _kafka_conf(settings)
    rules = yaml.safe_load((conf.parent / "jmx-exporter.yaml").read_text())
    topics, log = "kafka.server<type=BrokerTopicMetrics, ", "kafka.log<type=Log, name=Size, "
    requests = "kafka.network<type=RequestMetrics, "
    expected = {
        f"{topics}name=MessagesInPerSec, topic=t1><>Count": (
            "kafka_server_brokertopicmetrics_messagesin_total", {"topic": "t1"}),
        f"{topics}name=BytesOutPerSec><>Count": (
            "kafka_server_brokertopicmetrics_bytesout_total", {}),
        f"{log}topic=t1, partition=1><>Value": (
            "kafka_log_log_size", {"topic": "t1", "partition": "1"}),
        f"{requests}name=RequestsPerSec, request=Produce, version=11><>Count": (
            "kafka_network_requestmetrics_requests_total",
            {"request": "Produce", "version": "11"}),
        "kafka.server<type=raft-metrics><>current-state: leader": (
            "kafka_server_raft_metrics_current_state", {"state": "leader"}),
        # Left out: internal topics (50+ partitions), every API's histograms, meters' rates.
        f"{log}topic=__consumer_offsets, partition=7><>Value": None,
        f"{requests}name=TotalTimeMs, request=Metadata><>99thPercentile": None,
        f"{topics}name=MessagesInPerSec><>OneMinuteRate": None,
    }  # fmt: skip
    assert {bean: _export(rules, bean) for bean in expected} == expected
    assert all(rule["name"].startswith("kafka_") for rule in rules["rules"])


def test_cassandra_rules_read_only_the_projects_keyspace_and_keep_latency_in_seconds(
    settings: Settings,
) -> None:
    conf = cassandra._render_config(settings.cassandra, cassandra.single_node(settings))
    text = (conf.parent / "jmx-exporter.yaml").read_text()
    assert "$$" not in text and "${" not in text
    rules = yaml.safe_load(text)
    read = rules["includeObjectNames"]
    assert "org.apache.cassandra.metrics:type=Table,keyspace=ks_metrics,*" in read
    assert not [name for name in read if "keyspace=system" in name]
    metrics = "org.apache.cassandra.metrics<type="
    expected = {
        f"{metrics}Table, keyspace=ks_metrics, scope=user_profiles, name=WriteLatency><>Count": (
            "cassandra_table_writelatency_seconds_count",
            {"keyspace": "ks_metrics", "table": "user_profiles"}),
        f"{metrics}ClientRequest, scope=Write, name=Latency><>99thPercentile": (
            "cassandra_clientrequest_latency_seconds",
            {"clientrequest": "Write", "quantile": "0.99"}),
        f"{metrics}ThreadPools, path=request, scope=MutationStage, name=PendingTasks><>Value": (
            "cassandra_threadpools_pendingtasks",
            {"path": "request", "threadpools": "MutationStage"}),
        # Left out: a series per consistency level, legacy aliases of the same meter.
        f"{metrics}ClientRequest, scope=Write-ONE, name=Latency><>Count": None,
        f"{metrics}DroppedMessage, scope=MUTATION, name=Dropped><>Count": None,
    }  # fmt: skip
    assert {bean: _export(rules, bean) for bean in expected} == expected
    [p99] = [r for r in rules["rules"] if r["name"] == "cassandra_clientrequest_latency_seconds"]
    assert p99["valueFactor"] == 0.000001  # Cassandra's microseconds
    assert all(rule["name"].startswith("cassandra_") for rule in rules["rules"])


def test_doctor_lists_both_metrics_ports_and_names_the_setting_of_a_taken_one(
    settings: Settings,
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        moved = settings.model_copy(
            update={"kafka": settings.kafka.model_copy(update={"metrics_port": taken})}
        )
        checks = {c.detail.split(":")[0]: c for c in doctor._ports(moved)}
    assert checks["Cassandra metrics"].ok
    assert "127.0.0.1:17072" in checks["Cassandra metrics"].detail
    assert not checks["Kafka metrics"].ok
    assert f"127.0.0.1:{taken} is in use" in checks["Kafka metrics"].detail
    assert "USERSTREAM_KAFKA__METRICS_PORT" in checks["Kafka metrics"].fix


@pytest.mark.parametrize(
    ("start", "section", "env"),
    [
        (kafka.start, "kafka", "USERSTREAM_KAFKA__METRICS_PORT"),
        (cassandra.start, "cassandra", "USERSTREAM_CASSANDRA__METRICS_PORT"),
    ],
)
def test_a_taken_metrics_port_is_refused_before_anything_starts(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, start: Any, section: str, env: str
) -> None:
    def past_the_port_checks() -> str:
        raise AssertionError("went past the port checks")

    monkeypatch.setattr(kafka, "require_java", past_the_port_checks)
    monkeypatch.setattr(cassandra, "require_java", past_the_port_checks)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        part = getattr(settings, section).model_copy(update={"metrics_port": taken})
        with pytest.raises(
            ConfigError, match=f"port {taken} on 127.0.0.1 is already in use"
        ) as caught:
            start(settings.model_copy(update={section: part}))
    assert env in (caught.value.hint or "")


def test_status_says_where_each_components_metrics_are(settings: Settings) -> None:
    by_name = {c.name: c for c in stack_status(settings)}
    assert by_name["kafka"].metrics_url == "http://127.0.0.1:17071/metrics"
    assert by_name["cassandra"].metrics_url == "http://127.0.0.1:17072/metrics"
    assert not by_name["kafka"].running
