"""status: the lag comes from offsets already fetched, not from another Kafka client; which
Kafka and Cassandra are the local ones, and how the user's own are judged."""

from __future__ import annotations

import pytest

from userstream.config import Settings
from userstream.streaming.control import lag_from


def test_lag_is_topic_ends_minus_the_last_batch_end_offsets(base_settings: Settings) -> None:
    topic = base_settings.kafka.topic
    state = {"last_batch": {"end_offsets": {topic: {"0": 90, "1": 100}}}}
    ends = {topic: {"0": 100, "1": 100}, base_settings.kafka.dlq_topic: {"0": 7}}
    lag = lag_from(base_settings.kafka, ends, state)
    assert lag is not None and sum(lag.values()) == 10


def test_lag_is_unknown_without_a_batch_or_the_topic_ends(base_settings: Settings) -> None:
    topic = base_settings.kafka.topic
    assert lag_from(base_settings.kafka, {topic: {"0": 5}}, {}) is None
    state = {"last_batch": {"end_offsets": {topic: {"0": 1}}}}
    assert lag_from(base_settings.kafka, {}, state) is None


def test_services_at_addresses_of_no_local_node_are_the_users_and_judged_by_their_answer(
    tmp_path,
) -> None:
    from userstream.config import load_settings
    from userstream.stack.local import stack_status

    settings = load_settings(
        state_dir=tmp_path,
        kafka={"bootstrap_servers": "no-such-host.invalid:9092"},
        cassandra={"hosts": ["no-such-host.invalid"], "username": "u", "password": "p"},
        registry={"url": "http://no-such-host.invalid:8081"},
    )
    # No local part to keep the logs of, so no housekeeper: only the disk of the state folder.
    kafka, registry, cassandra, disk = stack_status(settings)
    assert (disk.name, disk.pid) == ("disk", None)
    assert (kafka.name, kafka.pid, kafka.healthy) == ("kafka", None, False)
    assert (registry.name, registry.pid, registry.healthy, registry.address) == (
        "schema registry", None, False, "http://no-such-host.invalid:8081"
    )  # fmt: skip
    assert registry.detail.startswith("external: not answering: ")
    assert kafka.detail == "external: not answering"
    assert kafka.metrics_url is None
    assert (cassandra.name, cassandra.pid, cassandra.healthy) == ("cassandra", None, False)
    assert cassandra.detail == (
        "external: None of the Cassandra hosts no-such-host.invalid resolves to an address."
    )


@pytest.mark.parametrize(
    ("bootstrap", "local"),
    [
        ("127.0.0.1:9092", True),
        ("localhost:9092", True),
        ("[::1]:9092", True),
        ("127.0.0.2:9092,127.0.0.3:9092", True),  # the local cluster
        ("127.0.0.1:19092", False),  # another listener, or a broker published by Compose
        ("kafka:9092", False),
        ("broker1:9092,broker2:9092", False),
    ],
)
def test_the_local_broker_is_this_machine_at_its_port(tmp_path, bootstrap: str, local: bool):
    from userstream.config import load_settings
    from userstream.stack import kafka

    settings = load_settings(state_dir=tmp_path, kafka={"bootstrap_servers": bootstrap})
    assert kafka.serves(settings) is local


def test_the_local_cassandra_is_on_this_machine_or_made_in_this_state_folder(tmp_path) -> None:
    from userstream.config import load_settings
    from userstream.stack import cassandra

    assert cassandra.serves(load_settings(state_dir=tmp_path / "a"))
    elsewhere = load_settings(state_dir=tmp_path / "b", cassandra={"hosts": ["10.0.0.5"]})
    assert not cassandra.serves(elsewhere)
    # A node of ours that listens on the machine's own network address, stopped.
    cassandra.single_node(elsewhere).home.mkdir(parents=True)
    assert cassandra.serves(elsewhere)


def test_a_local_registry_that_does_not_run_is_a_part_that_says_so(tmp_path) -> None:
    from userstream.config import load_settings
    from userstream.host.net import free_ports
    from userstream.stack.local import _registry_status

    port = free_ports(1)[0]
    settings = load_settings(state_dir=tmp_path, registry={"port": port})
    [part] = _registry_status(settings)
    assert (part.name, part.running, part.pid, part.healthy, part.detail, part.metrics_url) == (
        "schema registry", False, None, False, "not running", None
    )  # fmt: skip
    assert part.address == f"http://127.0.0.1:{port}"


def test_the_registry_of_a_local_kafka_cluster_uses_its_three_nodes_and_copies(tmp_path) -> None:
    from userstream.config import load_settings
    from userstream.stack.local import _on_local_kafka

    settings = load_settings(state_dir=tmp_path, kafka={"port": 9192})
    clustered = _on_local_kafka(settings, cluster=True).kafka
    assert (clustered.bootstrap_servers, clustered.replication_factor) == (
        "127.0.0.1:9192,127.0.0.2:9192,127.0.0.3:9192", 3
    )  # fmt: skip
    single = _on_local_kafka(settings, cluster=False).kafka
    assert (single.bootstrap_servers, single.replication_factor) == ("127.0.0.1:9192", 1)
    theirs = load_settings(state_dir=tmp_path, kafka={"bootstrap_servers": "broker:9092"})
    assert _on_local_kafka(theirs, cluster=True).kafka == theirs.kafka


def test_a_disk_below_its_floor_names_the_parts_failing_with_it(tmp_path) -> None:
    from userstream.config import load_settings
    from userstream.stack.local import stack_status

    settings = load_settings(
        state_dir=tmp_path,
        kafka={"bootstrap_servers": "no-such-host.invalid:9092"},
        cassandra={"hosts": ["no-such-host.invalid"], "username": "u", "password": "p"},
        registry={"url": "http://no-such-host.invalid:8081"},
        housekeeping={"min_free_disk_mb": 2**40},  # more than any disk has free
    )
    disk = stack_status(settings)[-1]
    assert (disk.name, disk.healthy) == ("disk", False)
    assert disk.detail.startswith("only ")
    assert "; failing now: kafka, schema registry, cassandra: free space or move " in disk.detail
    assert disk.detail.endswith("USERSTREAM_STATE_DIR, then `userstream up`")
