"""The recipe for existing clusters (docs/clusters.md "Running against existing clusters"),
over TLS.

A Kafka broker and a Cassandra node of this module's own stand in for a company's clusters:
the broker has a second listener that speaks SASL_SSL, the node accepts only TLS clients, and
both ask each client for a certificate (mutual TLS), all of a CA made here. The pipeline is
then pointed at them the way the README says, by settings alone:
``USERSTREAM_KAFKA__CLIENT_CONFIG`` with librdkafka's TLS keys, a client certificate among
them (the stream's Java client gets them translated), ``USERSTREAM_CASSANDRA__TLS_CA_FILE``
and ``__TLS_CLIENT_CERT``, and a login of the cluster's. Every user must land once, every
poison message must reach the rejects table and the DLQ, and a client without TLS, its
certificate or trust in the CA must be turned away.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from tests.integration.conftest import private_settings
from tests.integration.conftest_stream import (
    POISON,
    fake_users,
    isolated,
    produce,
    read_dlq,
    stream_env,
    user_messages,
)
from userstream.config import Settings
from userstream.errors import TerminalError, TransientError
from userstream.host.net import free_ports
from userstream.kafka import client_config
from userstream.stack.kafka import broker_answers
from userstream.stack.local import stack_down, stack_status, stack_up
from userstream.store import cassandra_credentials, session
from userstream.streaming import control

pytestmark = [pytest.mark.integration, pytest.mark.faults]

N = 300


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    signer: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
    else:
        san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        builder = builder.add_extension(x509.SubjectAlternativeName(san), False)
    return builder.sign(signer, hashes.SHA256())


def _pem_files(folder: Path) -> tuple[Path, Path, Path]:
    """A CA's certificate, and a server's and a client's key + certificate chain (one PEM
    file each, the form Kafka's Java client and broker read)."""
    folder.mkdir(mode=0o700)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("userstream test CA", ca_key, None, ca_key)
    ca_file = folder / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files = []
    for name in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = _certificate(f"userstream test {name}", key, ca, ca_key)
        path = folder / f"{name}.pem"
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            + certificate.public_bytes(serialization.Encoding.PEM)
            + ca.public_bytes(serialization.Encoding.PEM)
        )
        path.chmod(0o600)
        files.append(path)
    return ca_file, files[0], files[1]


def _tls_servers(
    settings: Settings, ca_file: Path, server_file: Path, client_file: Path, tls_port: int
) -> Settings:
    """``settings`` whose broker adds a SASL_SSL listener on ``tls_port`` that also asks for
    a client certificate of the CA (mutual TLS), and whose node takes only TLS clients with
    a certificate of the CA (its own tools included: they read ``tls_ca`` and
    ``tls_client_cert``)."""
    k, host = settings.kafka, settings.kafka.host
    broker = {
        "listeners": f"CLIENTS://{host}:{k.port},CONTROLLER://{host}:{k.controller_port},"
        f"EXTERNAL://{host}:{tls_port}",
        "advertised.listeners": f"CLIENTS://{host}:{k.port},EXTERNAL://{host}:{tls_port}",
        "listener.security.protocol.map": (
            "CONTROLLER:SASL_PLAINTEXT,CLIENTS:SASL_PLAINTEXT,EXTERNAL:SASL_SSL"
        ),
        "listener.name.external.sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.external.scram-sha-512.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        "listener.name.external.ssl.keystore.type": "PEM",
        "listener.name.external.ssl.keystore.location": str(server_file),
        "listener.name.external.ssl.client.auth": "required",
        "listener.name.external.ssl.truststore.type": "PEM",
        "listener.name.external.ssl.truststore.location": str(ca_file),
    }
    node = {
        "client_encryption_options": {
            "ssl_context_factory": {
                "class_name": "org.apache.cassandra.security.PEMBasedSslContextFactory"
            },
            "enabled": True,
            "optional": False,
            "keystore": str(server_file),
            "require_client_auth": "true",
            "truststore": str(ca_file),
        }
    }
    return settings.model_copy(
        update={
            "kafka": k.model_copy(update={"broker_properties": broker}),
            "cassandra": settings.cassandra.model_copy(
                update={
                    "node_options": node,
                    "tls_ca": ca_file.read_text(),
                    "tls_client_cert": client_file,
                }
            ),
        }
    )


@pytest.fixture(scope="module")
def clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The stand-ins, running; yields the settings a user of them would have."""
    root = tmp_path_factory.mktemp("external_tls")
    ca_file, server_file, client_file = _pem_files(root / "tls")
    (tls_port,) = free_ports(1)
    servers = _tls_servers(
        private_settings(root / "state"), ca_file, server_file, client_file, tls_port
    )
    try:
        stack_up(servers, progress=lambda _line: None)
        admin = client_config.local_logins(servers.kafka)["admin"]  # type: ignore[index]
        username, password = cassandra_credentials(servers)
        # What the README's recipe sets: the cluster's address, its security, its logins.
        yield servers.model_copy(
            update={
                "kafka": servers.kafka.model_copy(
                    update={
                        "bootstrap_servers": f"127.0.0.1:{tls_port}",
                        "client_config": {
                            "security.protocol": "SASL_SSL",
                            "sasl.mechanism": "SCRAM-SHA-512",
                            "sasl.username": admin.username,
                            "sasl.password": admin.password,
                            "ssl.ca.location": str(ca_file),
                            "ssl.certificate.location": str(client_file),
                            "ssl.key.location": str(client_file),
                        },
                    }
                ),
                "cassandra": servers.cassandra.model_copy(
                    update={"username": username, "password": SecretStr(password)}
                ),
            }
        )
    finally:
        stack_down(servers, progress=lambda _line: None)


@pytest.fixture
def settings(clusters: Settings, unique: str) -> Iterator[Settings]:
    with stream_env(isolated(clusters, unique, max_offsets_per_trigger=250)) as s:
        yield s


def test_every_user_lands_once_over_tls_with_the_recipes_settings(settings: Settings) -> None:
    users = fake_users(settings.kafka.topic, N)
    produce(settings, user_messages(users) + [(k, v) for k, v, _ in POISON])

    state = control.drain(settings, timeout=600)

    assert state["state"] == "drained", state
    assert state["totals"]["stored"] == N
    assert state["totals"]["rejected"] == len(POISON)
    ks = settings.cassandra.keyspace
    with session(settings) as sess:
        ids = [str(r.id) for r in sess.execute(f"SELECT id FROM {ks}.user_profiles")]
        rejects = list(sess.execute(f"SELECT reason FROM {ks}.user_profiles_rejects"))
    assert sorted(ids) == sorted(u["login"]["uuid"] for u in users)
    assert sorted(r.reason for r in rejects) == sorted(reason for _, _, reason in POISON)
    dlq = read_dlq(settings, len(POISON))
    assert sorted(dict(m.headers())["dlq_reason"].decode() for m in dlq) == sorted(
        reason for _, _, reason in POISON
    )


def test_the_broker_turns_away_a_client_without_its_certificate(clusters: Settings) -> None:
    mine = clusters.kafka.client_config
    without = {k: v for k, v in mine.items() if not k.startswith(("ssl.certificate", "ssl.key"))}
    assert broker_answers(clusters.kafka, timeout=15)
    assert not broker_answers(clusters.kafka.model_copy(update={"client_config": without}))


def test_the_node_turns_away_a_client_without_tls(clusters: Settings) -> None:
    plain = clusters.model_copy(
        update={
            "cassandra": clusters.cassandra.model_copy(
                update={"tls_ca": None, "tls_client_cert": None}
            )
        }
    )
    with pytest.raises(TransientError, match="No Cassandra node answered"), session(plain):
        pass


def test_the_node_turns_away_a_client_without_its_certificate(clusters: Settings) -> None:
    without = clusters.model_copy(
        update={"cassandra": clusters.cassandra.model_copy(update={"tls_client_cert": None})}
    )
    # The node says so (TLS 1.3's certificate_required alert: terminal), or it only ends the
    # handshake (an EOF, as from a node going away: retried); either way the error says what
    # to set. Which one the client reads first is a race of the two.
    with pytest.raises((TerminalError, TransientError)) as refused, session(without):
        pass
    assert "USERSTREAM_CASSANDRA__TLS_CLIENT_CERT" in str(refused.value.hint)
    if isinstance(refused.value, TerminalError):
        assert "CERTIFICATE_REQUIRED" in str(refused.value)


def test_a_client_that_does_not_know_the_ca_is_turned_away(
    clusters: Settings, tmp_path: Path
) -> None:
    other_ca, _, _ = _pem_files(tmp_path / "other")
    stranger = clusters.model_copy(
        update={"cassandra": clusters.cassandra.model_copy(update={"tls_ca": other_ca.read_text()})}
    )
    with pytest.raises(TerminalError, match=r"TLS with Cassandra .* failed"), session(stranger):
        pass


def test_status_judges_the_users_brokers_by_their_answer(clusters: Settings) -> None:
    kafka = next(part for part in stack_status(clusters) if part.name == "kafka")
    assert (kafka.address, kafka.pid, kafka.healthy) == (
        clusters.kafka.bootstrap_servers,
        None,
        True,
    )
    assert kafka.detail == "external: answers (topics listed)"
