"""status: the lag comes from offsets already fetched, not from another Kafka client."""

from __future__ import annotations

from userstream.config import Settings
from userstream.status import _lag


def test_lag_is_topic_ends_minus_the_last_batch_end_offsets(base_settings: Settings) -> None:
    topic = base_settings.kafka.topic
    state = {"last_batch": {"end_offsets": {topic: {"0": 90, "1": 100}}}}
    ends = {topic: {"0": 100, "1": 100}, base_settings.kafka.dlq_topic: {"0": 7}}
    assert _lag(base_settings, ends, state) == 10


def test_lag_is_unknown_without_a_batch_or_the_topic_ends(base_settings: Settings) -> None:
    topic = base_settings.kafka.topic
    assert _lag(base_settings, {topic: {"0": 5}}, {}) is None
    state = {"last_batch": {"end_offsets": {topic: {"0": 1}}}}
    assert _lag(base_settings, {}, state) is None


def test_services_at_addresses_of_no_local_node_are_the_users_and_judged_by_their_answer(
    tmp_path,
) -> None:
    from userstream.config import load_settings
    from userstream.stack.local import stack_status

    settings = load_settings(
        state_dir=tmp_path,
        kafka={"bootstrap_servers": "no-such-host.invalid:9092"},
        cassandra={"hosts": ["no-such-host.invalid"], "username": "u", "password": "p"},
    )
    kafka, cassandra = stack_status(settings)
    assert (kafka.name, kafka.pid, kafka.healthy) == ("kafka", None, False)
    assert kafka.detail == "external: not answering"
    assert kafka.metrics_url is None
    assert (cassandra.name, cassandra.pid, cassandra.healthy) == ("cassandra", None, False)
    assert cassandra.detail == (
        "external: None of the Cassandra hosts no-such-host.invalid resolves to an address."
    )
