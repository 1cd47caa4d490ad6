"""Make sure the pipeline's topics exist: ``<topic>`` and its dead-letter ``<topic>.dlq``,
and, on a broker with the local stack's logins, the ACLs that let each role use them.

Idempotent and safe to call from every task and command: a missing topic is created with
``kafka.partitions`` and ``kafka.replication_factor``; an existing one is left exactly as
it is (a partition count other than the configured one is reported, never changed —
changing it would move keys between partitions).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ClusterMetadata,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from userstream.config import KafkaSettings
from userstream.errors import ConfigError, TransientError
from userstream.kafka import client_config

log = logging.getLogger(__name__)

_CONFIG_ERRORS = {
    KafkaError.INVALID_REPLICATION_FACTOR,
    KafkaError.INVALID_PARTITIONS,
    KafkaError.TOPIC_EXCEPTION,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.INVALID_CONFIG,
}


def admin_client(kafka: KafkaSettings) -> AdminClient:
    """An admin client for the configured cluster, logged in as the admin role."""
    config: dict[str, Any] = client_config.config(kafka, "admin")
    config["logger"] = logging.getLogger("librdkafka.admin")
    return AdminClient(config)


def ensure_topics(kafka: KafkaSettings, *, timeout: float = 30) -> None:
    """Create the main and the DLQ topic when missing, and wait until they have leaders.

    Raises ``TransientError`` when the broker does not answer within ``timeout`` seconds and
    ``ConfigError`` when the cluster refuses the topic (e.g. a replication factor larger
    than the number of brokers).
    """
    admin = admin_client(kafka)
    deadline = time.monotonic() + timeout
    metadata = _metadata(admin, kafka, timeout)
    wanted = {kafka.topic: kafka.partitions, kafka.dlq_topic: kafka.partitions}
    missing: list[NewTopic] = []
    for name, partitions in wanted.items():
        existing = metadata.topics.get(name)
        if existing is None or existing.error is not None:
            missing.append(NewTopic(name, partitions, kafka.replication_factor))
        elif len(existing.partitions) != partitions:
            log.warning(
                "topic_partitions_differ topic=%s existing=%d configured=%d "
                "(left as is; keys keep their partitions)",
                name,
                len(existing.partitions),
                partitions,
            )
    if missing:
        _create(admin, kafka, missing, timeout)
    ensure_acls(admin, kafka, timeout)
    _wait_for_leaders(admin, kafka, list(wanted), deadline)


@dataclass(frozen=True)
class Grant:
    """One right of a role: ``operation`` (Kafka's name, e.g. ``WRITE``) on a ``resource``
    (``TOPIC`` or ``GROUP``) named ``name`` (a prefix when ``prefixed``)."""

    resource: str
    name: str
    operation: str
    prefixed: bool = False


def role_grants(kafka: KafkaSettings) -> dict[str, list[Grant]]:
    """What each role may do on the pipeline's topics, and nothing more: the producer
    writes the topic and the DLQ; the stream reads the topic (in consumer groups named
    ``client_config.STREAM_GROUP_PREFIX…``) and writes the DLQ. (Both produce idempotently:
    WRITE on a topic is enough for that since Kafka 3.0.) Every right on a topic comes with
    DESCRIBE. The admin is a super user and needs none. The one source of the local broker's
    ACLs and of the Helm chart's KafkaUsers (tests/deploy checks they agree)."""
    rights = {
        "producer": [(kafka.topic, "WRITE"), (kafka.dlq_topic, "WRITE")],
        "stream": [(kafka.topic, "READ"), (kafka.dlq_topic, "WRITE")],
    }
    grants = {
        role: [Grant("TOPIC", topic, op) for topic, right in pairs for op in (right, "DESCRIBE")]
        for role, pairs in rights.items()
    }
    grants["stream"].append(Grant("GROUP", client_config.STREAM_GROUP_PREFIX, "READ", True))
    return grants


def role_acls(kafka: KafkaSettings) -> list[AclBinding]:
    """``role_grants`` as ACL bindings for the local stack's users (none without them)."""
    logins = client_config.local_logins(kafka)
    if logins is None:
        return []
    return [
        AclBinding(
            ResourceType[grant.resource],
            grant.name,
            ResourcePatternType.PREFIXED if grant.prefixed else ResourcePatternType.LITERAL,
            f"User:{logins[role].username}",
            "*",
            AclOperation[grant.operation],
            AclPermissionType.ALLOW,
        )
        for role, grants in role_grants(kafka).items()
        for grant in grants
    ]


def ensure_acls(admin: AdminClient, kafka: KafkaSettings, timeout: float = 30) -> None:
    """Create the roles' ACLs on the local stack's broker (creating one twice is a no-op);
    a cluster whose security is the operator's (``client_config``) is left alone."""
    acls = role_acls(kafka)
    if not acls:
        return
    for acl, future in admin.create_acls(acls, request_timeout=timeout).items():
        try:
            future.result()
        except KafkaException as exc:
            raise TransientError(
                f"Kafka at {kafka.bootstrap_servers} did not take the ACL {acl}: {exc}.",
                hint="Check the broker's log; retry when it is healthy.",
            ) from exc
    _wait_until_applied(admin, kafka, acls, timeout)


def _acl_key(binding: AclBinding) -> tuple[str, ...]:
    return tuple(
        str(part)
        for part in (binding.restype, binding.name, binding.resource_pattern_type,
                     binding.principal, binding.host, binding.operation, binding.permission_type)
    )  # fmt: skip


def _wait_until_applied(
    admin: AdminClient, kafka: KafkaSettings, acls: list[AclBinding], timeout: float
) -> None:
    """Return once the broker's authorizer lists every ACL of ``acls``.

    The controller acknowledges an ACL before the broker applies it: a client that writes at
    once can be refused (TOPIC_AUTHORIZATION_FAILED), and a producer counts that as a failed
    delivery. The broker answers DescribeAcls from what its authorizer holds."""
    # None matches any name, principal and host (the stubs say only str).
    everything = AclBindingFilter(
        ResourceType.ANY,
        None,  # type: ignore[arg-type]
        ResourcePatternType.ANY,
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    wanted = {_acl_key(acl) for acl in acls}
    deadline = time.monotonic() + timeout
    error: KafkaException | None = None
    while True:
        try:
            listed = admin.describe_acls(everything, request_timeout=timeout).result()
            missing = wanted - {_acl_key(b) for b in listed}
            error = None
        except KafkaException as exc:
            missing, error = wanted, exc
        if not missing:
            return
        if time.monotonic() > deadline:
            raise TransientError(
                f"Kafka at {kafka.bootstrap_servers} did not apply {len(missing)} new ACL(s) "
                f"within {timeout:g} s{f' ({error})' if error else ''}.",
                hint="Check the broker's log; retry when it is healthy.",
            )
        time.sleep(0.1)


def _metadata(admin: AdminClient, kafka: KafkaSettings, timeout: float) -> ClusterMetadata:
    try:
        return admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise TransientError(
            f"Kafka at {kafka.bootstrap_servers} did not answer within {timeout:g} s "
            f"({exc.args[0].str() if exc.args else exc}).",
            hint="Start the local broker with `userstream stack up`, "
            "or point USERSTREAM_KAFKA__BOOTSTRAP_SERVERS at your cluster.",
        ) from exc


def _create(
    admin: AdminClient, kafka: KafkaSettings, topics: list[NewTopic], timeout: float
) -> None:
    futures = admin.create_topics(topics, operation_timeout=timeout, request_timeout=timeout)
    for name, future in futures.items():
        try:
            future.result()
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue  # created meanwhile by another task: that is the goal
            if error.code() in _CONFIG_ERRORS:
                raise ConfigError(
                    f"Kafka refused to create topic {name!r}: {error.str()}.",
                    hint="Check kafka.partitions, kafka.replication_factor and the "
                    "client's permissions.",
                ) from exc
            raise TransientError(
                f"Creating topic {name!r} on {kafka.bootstrap_servers} failed: {error.str()}."
            ) from exc
        log.info(
            "topic_created topic=%s partitions=%d replication_factor=%d",
            name,
            kafka.partitions,
            kafka.replication_factor,
        )


def _wait_for_leaders(
    admin: AdminClient, kafka: KafkaSettings, names: list[str], deadline: float
) -> None:
    # A just-created topic is briefly without leaders; producers cope, consumers and the
    # Spark source starting right after us might not.
    while True:
        remaining = deadline - time.monotonic()
        metadata = _metadata(admin, kafka, max(remaining, 1.0))
        waiting = [
            name
            for name in names
            if (topic := metadata.topics.get(name)) is None
            or topic.error is not None
            or not topic.partitions
            or any(p.leader < 0 for p in topic.partitions.values())
        ]
        if not waiting:
            return
        if remaining <= 0:
            raise TransientError(
                f"Topics {', '.join(waiting)} have no leader on {kafka.bootstrap_servers} yet.",
                hint="Check the broker's log; retry when it is healthy.",
            )
        time.sleep(0.2)


def end_offsets(
    kafka: KafkaSettings, admin: AdminClient | None = None
) -> dict[str, dict[str, int]]:
    """End offsets of the topic and its DLQ (those that exist): topic → partition (str) →
    offset. ``admin``: a client to reuse (one is built when None). Raises ``KafkaException``."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import OffsetSpec

    admin = admin or admin_client(kafka)
    meta = admin.list_topics(timeout=5)
    wanted = [t for t in (kafka.topic, kafka.dlq_topic) if t in meta.topics]
    request = {
        TopicPartition(t, p): OffsetSpec.latest() for t in wanted for p in meta.topics[t].partitions
    }
    ends: dict[str, dict[str, int]] = {}
    for tp, future in (admin.list_offsets(request, request_timeout=5) if request else {}).items():
        ends.setdefault(tp.topic, {})[str(tp.partition)] = future.result().offset
    return ends
