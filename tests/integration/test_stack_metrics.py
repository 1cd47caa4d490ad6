"""Kafka's and Cassandra's Prometheus metrics, scraped for real from a stack of their own.

The stack runs in a temporary state folder on free ports (sharing only the fetched jars), so
its counters start at zero and count only what these tests do.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from userstream.config import Settings
from userstream.host.net import free_ports, port_open
from userstream.kafka import client_config
from userstream.stack.local import stack_status
from userstream.store import connect

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_stack(shared_own_stack: Settings) -> Settings:
    """The session's private stack (``shared_own_stack``): this module leaves it as it was."""
    return shared_own_stack


Samples = dict[str, list[tuple[dict[str, str], float]]]
LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F"}  # as /proc/net/tcp{,6} write it


@pytest.fixture(scope="module")
def metered(own_stack: Settings) -> Settings:
    """A stack of this module's own: its counters start at zero."""
    return own_stack


def _scrape(port: int) -> tuple[str, Samples]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).raise_for_status().text
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return text, samples


def _value(samples: Samples, name: str, **labels: str) -> float:
    """The one sample of ``name`` whose labels include ``labels``."""
    [value] = [v for got, v in samples.get(name, []) if labels.items() <= got.items()]
    return value


def _eventually(port: int, ready: Callable[[Samples], bool], timeout: float = 30) -> Samples:
    """Scrape until ``ready`` holds (meters are read at scrape time; bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        _, samples = _scrape(port)
        if ready(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.5)


def _heap_is_the_configured_one(samples: Samples, heap_bytes: int) -> None:
    assert _value(samples, "jvm_memory_max_bytes", area="heap") == heap_bytes
    assert 0 < _value(samples, "jvm_memory_used_bytes", area="heap") <= heap_bytes
    assert {labels["gc"] for labels, _ in samples["jvm_gc_collection_seconds_count"]}
    assert _value(samples, "jmx_scrape_error") == 0


def test_kafka_counts_the_messages_produced_to_a_topic(metered: Settings) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"it_metrics_{uuid.uuid4().hex[:8]}"
    admin_config = client_config.config(metered.kafka, "admin")
    admin = AdminClient(admin_config)
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(30)
    producer = Producer({**admin_config, "enable.idempotence": True, "acks": "all"})
    for n in range(40):
        # Retried until the new topic's leader is known; idempotence keeps it exactly 40.
        producer.produce(topic, key=str(n), value=b"v" * 100)
    assert producer.flush(60) == 0

    port = metered.kafka.metrics_port
    samples = _eventually(
        port,
        lambda s: any(
            labels.get("topic") == topic
            for labels, _ in s.get("kafka_server_brokertopicmetrics_messagesin_total", [])
        ),
    )
    assert _value(samples, "kafka_server_brokertopicmetrics_messagesin_total", topic=topic) == 40
    assert _value(samples, "kafka_server_brokertopicmetrics_bytesin_total", topic=topic) > 4000
    sizes = {
        labels["partition"]: v
        for labels, v in samples["kafka_log_log_size"]
        if labels["topic"] == topic
    }
    assert set(sizes) == {"0", "1"} and sum(sizes.values()) > 4000
    # Internal topics are left out (__consumer_offsets alone would be 50 partitions).
    assert not [
        labels for labels, _ in samples["kafka_log_log_size"] if labels["topic"][:2] == "__"
    ]
    requests = samples["kafka_network_requestmetrics_requests_total"]
    assert sum(v for labels, v in requests if labels["request"] == "Produce") >= 1
    assert _value(samples, "kafka_server_replicamanager_underreplicatedpartitions") == 0
    assert _value(samples, "kafka_controller_kafkacontroller_activecontrollercount") == 1
    assert _value(samples, "kafka_server_raft_metrics_current_state", state="leader") == 1
    _heap_is_the_configured_one(samples, 512 * 2**20)  # USERSTREAM_KAFKA__HEAP=512m


def test_cassandra_counts_writes_and_reads_of_the_projects_tables(metered: Settings) -> None:
    keyspace = metered.cassandra.keyspace
    session = connect(metered)
    try:
        for name in (keyspace, "it_metrics_other"):
            session.execute(
                f"CREATE KEYSPACE IF NOT EXISTS {name} WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 1}"
            )
            session.execute(f"CREATE TABLE IF NOT EXISTS {name}.kv (id uuid PRIMARY KEY, v text)")
        insert = session.prepare(f"INSERT INTO {keyspace}.kv (id, v) VALUES (?, ?)")
        ids = [uuid.uuid4() for _ in range(12)]
        for row_id in ids:
            session.execute(insert, (row_id, "x"))
        select = session.prepare(f"SELECT v FROM {keyspace}.kv WHERE id = ?")
        for row_id in ids[:3]:
            assert session.execute(select, (row_id,)).one().v == "x"
        session.execute(
            session.prepare("INSERT INTO it_metrics_other.kv (id, v) VALUES (?, ?)"),
            (uuid.uuid4(), "y"),
        )
    finally:
        session.cluster.shutdown()

    port = metered.cassandra.metrics_port
    table = {"keyspace": keyspace, "table": "kv"}
    samples = _eventually(
        port,
        lambda s: any(
            labels == table for labels, _ in s.get("cassandra_table_readlatency_seconds_count", [])
        ),
    )
    assert _value(samples, "cassandra_table_writelatency_seconds_count", **table) == 12
    assert _value(samples, "cassandra_table_readlatency_seconds_count", **table) == 3
    assert 0 < _value(samples, "cassandra_table_writelatency_seconds_sum", **table) < 12
    # Only the project's keyspace: no other keyspace's tables, not even the system ones.
    keyspaces = {
        labels["keyspace"] for labels, _ in samples["cassandra_table_writelatency_seconds_count"]
    }
    assert keyspaces == {keyspace}
    # The coordinator's view: at least our writes (the node writes its own too), in seconds.
    assert (
        _value(samples, "cassandra_clientrequest_latency_seconds_count", clientrequest="Write")
        >= 12
    )
    p99 = _value(
        samples, "cassandra_clientrequest_latency_seconds", clientrequest="Write", quantile="0.99"
    )
    assert 0 < p99 < 10
    assert _value(samples, "cassandra_clientrequest_timeouts_count", clientrequest="Write") == 0
    assert (
        _value(samples, "cassandra_droppedmessage_dropped_count", droppedmessage="MUTATION_REQ")
        == 0
    )
    assert _value(samples, "cassandra_threadpools_pendingtasks", threadpools="MutationStage") >= 0
    assert _value(samples, "cassandra_compaction_pendingtasks") >= 0
    _heap_is_the_configured_one(samples, 2**30)  # USERSTREAM_CASSANDRA__HEAP=1G


def _listen_addresses(port: int) -> set[str]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, _, hex_port = local.rpartition(":")
                if state == "0A" and int(hex_port, 16) == port:
                    found.add(address)
    return found


def _secrets(state: Path) -> list[str]:
    """The generated passwords of the stack (Kafka's logins, Cassandra's superuser)."""
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key not in ("username", "user"):
                    walk(inner)
        elif isinstance(value, str) and len(value) >= 12:
            found.append(value)

    for path in (state / "secrets").glob("*.json"):
        walk(json.loads(path.read_text()))
    return found


def test_exporters_listen_on_loopback_only_and_show_no_secret(metered: Settings) -> None:
    secrets = _secrets(metered.paths.root)
    assert len(secrets) >= 5  # Kafka's controller, admin, producer, stream; Cassandra's
    status = {c.name: c for c in stack_status(metered)}
    for name, port in (
        ("kafka", metered.kafka.metrics_port),
        ("cassandra", metered.cassandra.metrics_port),
    ):
        assert status[name].metrics_url == f"http://127.0.0.1:{port}/metrics"
        addresses = _listen_addresses(port)
        assert addresses and addresses <= LOOPBACK, (name, addresses)
        # Another loopback address reaches a wildcard listener, never one bound to 127.0.0.1.
        assert not port_open("127.0.0.2", port)
        text, _ = _scrape(port)
        assert not [s for s in secrets if s in text], f"a generated secret in {name}'s metrics"


def test_prometheus_and_the_statsd_exporter_as_up_starts_them(
    metered: Settings,
) -> None:
    """``up``'s Prometheus (generated config, the project's alert rules) finds Kafka, Cassandra
    and the StatsD exporter up and evaluates every rule; the exporter serves what Airflow
    sends it under the mapped names; ``stop_all`` stops both."""
    import socket

    import yaml

    from userstream.host import process
    from userstream.stack import monitoring

    if monitoring.prometheus_binary() is None or monitoring.statsd_exporter_binary() is None:
        pytest.skip(
            f"Prometheus or the StatsD exporter is not installed ({monitoring.GET_PROMETHEUS}; "
            f"{monitoring.GET_STATSD_EXPORTER})"
        )
    watched = metered.model_copy(
        update={
            "monitoring": metered.monitoring.model_copy(
                update={
                    "prometheus_port": free_ports(1)[0],
                    "statsd_port": free_ports(1)[0],
                    "statsd_exporter_port": free_ports(1)[0],
                }
            )
        }
    )
    api = monitoring.prometheus_url(watched.monitoring).rstrip("/")
    try:
        assert "served on" in monitoring.start_statsd_exporter(watched)
        assert "started on" in monitoring.start_prometheus(watched)
        assert "already running" in monitoring.start_prometheus(watched)
        # What Airflow's statsd client sends: a heartbeat and one DAG run's duration (ms).
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for line in (
                "airflow.scheduler_heartbeat:1|c",
                "airflow.dagrun.duration.success.streaming_pipeline:1500|ms",
            ):
                udp.sendto(line.encode(), ("127.0.0.1", watched.monitoring.statsd_port))
        port = watched.monitoring.statsd_exporter_port
        samples = _eventually(port, lambda s: "airflow_dagrun_duration_seconds_sum" in s)
        assert _value(samples, "airflow_scheduler_heartbeat_total") == 1
        assert _value(
            samples, "airflow_dagrun_duration_seconds_sum",
            dag_id="streaming_pipeline", state="success",
        ) == 1.5  # fmt: skip

        deadline = time.monotonic() + 90
        health: dict[str, str] = {}
        while time.monotonic() < deadline and not (
            health.get("kafka")
            == health.get("cassandra")
            == health.get("airflow")
            == health.get("registry")
            == "up"
        ):
            time.sleep(1)
            with contextlib.suppress(httpx.HTTPError):
                targets = httpx.get(f"{api}/api/v1/targets", timeout=5).json()
                health = {t["labels"]["job"]: t["health"] for t in targets["data"]["activeTargets"]}
        up = ("kafka", "cassandra", "airflow", "registry")  # the local registry's own /metrics
        assert all(health.get(job) == "up" for job in up), (
            health,
            process.tail(watched.paths.log_file(monitoring.prometheus_name(watched.monitoring))),
        )
        # The stream and the dashboard do not run here: scraped, and down.
        assert set(health) == {"kafka", "cassandra", "registry", "stream", "dashboard", "airflow"}
        heap = httpx.get(
            f"{api}/api/v1/query",
            params={"query": 'jvm_memory_used_bytes{area="heap",job="cassandra"}'},
            timeout=10,
        ).json()
        assert heap["data"]["result"], heap
        rules: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # every rule evaluated at least once, without error
            rules = httpx.get(f"{api}/api/v1/rules", timeout=10).json()["data"]["groups"]
            if rules and all(
                r["health"] == "ok" and r.get("lastEvaluation", "").startswith("20")
                for g in rules
                for r in g["rules"]
            ):
                break
            time.sleep(1)
        loaded = {rule["name"] for group in rules for rule in group["rules"]}
        monitoring_dir = Path(__file__).parents[2] / "monitoring"
        written = {
            rule["alert"]
            for group in yaml.safe_load((monitoring_dir / "alerts.yml").read_text())["groups"]
            for rule in group["rules"]
        }
        assert loaded == written and {"KafkaMetricsDown", "AirflowSchedulerStopped"} <= loaded
        assert all(r["health"] == "ok" for g in rules for r in g["rules"]), rules
    finally:
        stopped = monitoring.stop_all(watched)
    assert set(stopped) == {
        monitoring.prometheus_name(watched.monitoring),
        monitoring.statsd_exporter_name(watched.monitoring),
    }
    assert monitoring.stop_all(watched) == []
