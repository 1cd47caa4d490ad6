"""The producer under faults: a broker restart mid-run, SIGTERM mid-run, the CLI end to end.

The broker-restart test stops Kafka for a few seconds and brings it back up (in ``finally``):
this module's own Kafka (``own_stack``), never a developer's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import OffsetSpec

from tests.integration.static_api import StaticApi
from tests.integration.test_producer import (
    api_users,
    as_avro,
    decoded,
    delete_topics,
    read_topic,
)
from userstream.config import KafkaSettings, Settings
from userstream.kafka.topics import admin_client
from userstream.producing.run import ProduceSummary, run_producer
from userstream.source.standin.server import FakeApiServer
from userstream.stack import kafka as local_kafka

pytestmark = [pytest.mark.integration, pytest.mark.faults]
#: How long the broker stays down while the producer runs (the fault, not a wait).
BROKER_DOWN_S = 3

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "tests" / "fixtures" / "randomuser_sample.json"
USERSTREAM = Path(sys.executable).with_name("userstream")


@pytest.fixture
def settings(own_stack: Settings, unique: str) -> Iterator[Settings]:
    kafka = own_stack.kafka.model_copy(update={"topic": f"t_{unique}"})
    yield own_stack.model_copy(update={"kafka": kafka})
    delete_topics(kafka)


def end_offsets(kafka: KafkaSettings, topic: str) -> int:
    """Messages in ``topic`` (sum of end offsets); 0 while it does not exist or is away."""
    admin = admin_client(kafka)
    try:
        metadata = admin.list_topics(topic, timeout=5).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return 0
        latest = {TopicPartition(topic, p): OffsetSpec.latest() for p in metadata.partitions}
        futures = admin.list_offsets(latest, request_timeout=5).values()
        return sum(future.result().offset for future in futures)
    except KafkaException:
        return 0


def wait_for(predicate: object, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def env_for(settings: Settings) -> dict[str, str]:
    """The environment of a CLI run against ``settings`` (its state folder, ports, topic)."""
    from userstream.stack._airflow_env import userstream_env

    return {**os.environ, **userstream_env(settings)}


def test_a_broker_restart_mid_run_loses_and_doubles_nothing(settings: Settings) -> None:
    n = 6000
    result: dict[str, object] = {}
    with FakeApiServer() as api:

        def produce() -> None:
            try:
                result["summary"] = run_producer(
                    settings, source_url=api.url, count=n, batch_size=200, rate=400, seed="b"
                )
            except BaseException as exc:
                result["error"] = exc

        worker = threading.Thread(target=produce)
        worker.start()
        try:
            wait_for(
                lambda: end_offsets(settings.kafka, settings.kafka.topic) >= 1000,
                timeout=120,
                what="the first users to land",
            )
            assert worker.is_alive(), "the run ended before the broker could be restarted"
            local_kafka.stop(settings)
            time.sleep(BROKER_DOWN_S)  # the fault: fetching goes on, messages queue up
        finally:
            local_kafka.start(settings)
        worker.join(timeout=600)
        expected = api_users(api.url, seed="b", results=200, pages=n // 200)

    assert not worker.is_alive()
    assert "error" not in result, result.get("error")
    summary = result["summary"]
    assert isinstance(summary, ProduceSummary)
    assert (summary.produced, summary.failed) == (n, 0)
    records = read_topic(settings.kafka, settings.kafka.topic)
    keys = [r.key.decode() for r in records if r.key is not None]
    assert len(records) == n, f"{len(records) - n:+d} messages against the users fetched"
    assert sorted(keys) == sorted(u["login"]["uuid"] for u in expected)


def test_sigterm_flushes_everything_fetched_and_exits_cleanly(settings: Settings) -> None:
    with FakeApiServer() as api:
        proc = subprocess.Popen(
            [
                str(USERSTREAM),
                "produce",
                "--source",
                api.url,
                "--rate",
                "300",
                "--batch-size",
                "100",
                "--seed",
                "term",
                "--json",
                "--no-progress",
            ],
            env=env_for(settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for(
                lambda: (
                    end_offsets(settings.kafka, settings.kafka.topic) >= 300
                    or proc.poll() is not None
                ),
                timeout=120,
                what="the producer to be mid-run",
            )
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, err
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["stopped"] is True
        assert summary["failed"] == 0
        assert summary["produced"] == summary["fetched"] - summary["dead_lettered"]
        assert summary["fetched"] >= 300
        fetched = api_users(api.url, seed="term", results=100, pages=summary["pages"])[
            : summary["fetched"]
        ]

    records = read_topic(settings.kafka, settings.kafka.topic)
    assert len(records) == summary["produced"]
    assert sorted(r.key.decode() for r in records if r.key is not None) == sorted(
        u["login"]["uuid"] for u in fetched
    )


def test_cli_produces_the_recorded_sample_keyed_by_uuid(settings: Settings) -> None:
    sample = json.loads(SAMPLE.read_text())["results"]
    n = len(sample)
    with StaticApi(SAMPLE.read_bytes()) as server:
        done = subprocess.run(
            [
                str(USERSTREAM),
                "produce",
                "--source",
                server.url,
                "--count",
                str(n),
                "--batch-size",
                str(n),
                "--seed",
                "sample",
                "--json",
            ],
            env=env_for(settings),
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 0, done.stderr
    assert "source:" in done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["produced"], summary["failed"]) == (n, 0)
    records = read_topic(settings.kafka, settings.kafka.topic)
    assert len(records) == n
    # Avro, the default: read back by confluent-kafka's own deserializer.
    assert decoded(settings, records) == {u["login"]["uuid"].encode(): as_avro(u) for u in sample}
