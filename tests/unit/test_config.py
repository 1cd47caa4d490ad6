"""Settings: env var names, nested sections, the state folder, .env."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from userstream.config import Settings, load_settings
from userstream.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A user's own USERSTREAM_* variables or .env must not leak into these tests.
    import os

    for name in list(os.environ):
        if name.startswith("USERSTREAM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_local_and_loopback() -> None:
    s = load_settings()
    assert s.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert s.kafka.topic == "user_topic"
    assert s.kafka.dlq_topic == "user_topic.dlq"
    assert s.cassandra.hosts == ["127.0.0.1"]
    assert s.cassandra.keyspace == "userstream"
    assert s.cassandra.username is None


def test_nested_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USERSTREAM_KAFKA__TOPIC", "t_env")
    monkeypatch.setenv("USERSTREAM_CASSANDRA__KEYSPACE", "ks_env")
    monkeypatch.setenv("USERSTREAM_KAFKA__PARTITIONS", "5")
    monkeypatch.setenv("USERSTREAM_CASSANDRA__HOSTS", '["10.0.0.1", "10.0.0.2"]')
    s = load_settings()
    assert s.kafka.topic == "t_env"
    assert s.kafka.dlq_topic == "t_env.dlq"
    assert s.cassandra.keyspace == "ks_env"
    assert s.kafka.partitions == 5
    assert s.cassandra.hosts == ["10.0.0.1", "10.0.0.2"]


def test_invalid_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from userstream.settings_errors import SettingsInvalid

    monkeypatch.setenv("USERSTREAM_KAFKA__PARTITIONS", "0")
    with pytest.raises(SettingsInvalid) as caught:
        load_settings()
    assert caught.value.message == (
        "USERSTREAM_KAFKA__PARTITIONS='0': input should be greater than or equal to 1."
    )


def test_state_dir_override_moves_every_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("USERSTREAM_STATE_DIR", str(tmp_path / "st"))
    s = load_settings()
    root = (tmp_path / "st").resolve()
    assert s.paths.root == root
    assert s.paths.lib == root / "lib"
    assert s.paths.secrets == root / "secrets"
    assert s.paths.pid_file("kafka") == root / "run" / "kafka.pid"
    assert s.paths.log_file("cassandra") == root / "logs" / "cassandra.log"
    assert s.checkpoint_dir().is_relative_to(root / "checkpoints")


def test_dotenv_file_is_read_and_env_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "USERSTREAM_KAFKA__TOPIC=from_dotenv\nUSERSTREAM_CASSANDRA__KEYSPACE=ks_dotenv\n"
        "USERSTREAM_CASSANDRA__USERNAME=ops\nUSERSTREAM_CASSANDRA__PASSWORD=s3cret\n"
    )
    monkeypatch.setenv("USERSTREAM_CASSANDRA__KEYSPACE", "ks_env")
    s = load_settings()
    assert s.kafka.topic == "from_dotenv"
    assert s.cassandra.keyspace == "ks_env"
    assert s.cassandra.username == "ops"
    assert s.cassandra.password is not None
    assert s.cassandra.password.get_secret_value() == "s3cret"
    # A secret never shows in a repr (logs, tracebacks).
    assert "s3cret" not in repr(s)


def test_a_file_variable_holds_the_value(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # As Compose mounts a secret: /run/secrets/<name>, often with a trailing newline.
    (tmp_path / "cassandra_password").write_text("s3cret from a file\n")
    (tmp_path / "broker_password").write_text("broker-pw")
    monkeypatch.setenv("USERSTREAM_CASSANDRA__USERNAME", "ops")
    monkeypatch.setenv("USERSTREAM_CASSANDRA__PASSWORD", "the plain variable")
    monkeypatch.setenv("USERSTREAM_CASSANDRA__PASSWORD_FILE", str(tmp_path / "cassandra_password"))
    # One key of a dict setting from a file, the others from the plain variable.
    monkeypatch.setenv(
        "USERSTREAM_KAFKA__USERS_ADMIN_CONFIG",
        '{"bootstrap.servers": "kafka:9094", "sasl.username": "broker"}',
    )
    monkeypatch.setenv(
        "USERSTREAM_KAFKA__USERS_ADMIN_CONFIG__SASL.PASSWORD_FILE",
        str(tmp_path / "broker_password"),
    )
    # Another program's *_FILE variable is not ours to read.
    monkeypatch.setenv("POSTGRES_PASSWORD_FILE", str(tmp_path / "absent"))
    s = load_settings()
    assert s.cassandra.password is not None
    assert s.cassandra.password.get_secret_value() == "s3cret from a file"  # the file wins
    assert s.kafka.users_admin_config == {
        "bootstrap.servers": "kafka:9094",
        "sasl.username": "broker",
        "sasl.password": "broker-pw",
    }


def test_a_file_variable_in_dotenv_works_the_same(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("from-a-file\n")
    (tmp_path / "broker").write_text("broker-pw")
    (tmp_path / ".env").write_text(
        "USERSTREAM_CASSANDRA__USERNAME=ops\n"
        f"USERSTREAM_CASSANDRA__PASSWORD_FILE={tmp_path / 'pw'}\n"
        'USERSTREAM_KAFKA__USERS_ADMIN_CONFIG={"sasl.username": "broker"}\n'
        f"USERSTREAM_KAFKA__USERS_ADMIN_CONFIG__SASL.PASSWORD_FILE={tmp_path / 'broker'}\n"
    )
    s = load_settings()  # the working directory is tmp_path
    assert s.cassandra.password is not None
    assert s.cassandra.password.get_secret_value() == "from-a-file"
    # One key from its file; no stray "sasl.password_file" key reaches librdkafka.
    assert s.kafka.users_admin_config == {"sasl.username": "broker", "sasl.password": "broker-pw"}


def test_an_unreadable_file_variable_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("USERSTREAM_CASSANDRA__PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="USERSTREAM_CASSANDRA__PASSWORD_FILE names") as err:
        load_settings()
    assert "USERSTREAM_CASSANDRA__PASSWORD" in str(err.value.hint)


def test_keyword_overrides_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USERSTREAM_KAFKA__TOPIC", "t_env")
    s = load_settings(kafka={"topic": "t_kw"})
    assert s.kafka.topic == "t_kw"


@pytest.mark.parametrize(
    "given",
    ["hdfs:///checkpoints/userstream", "s3a://bucket/ck", "hdfs://namenode:8020/ck/userstream"],
)
def test_a_remote_checkpoint_is_kept_verbatim(tmp_path: Path, given: str) -> None:
    s = Settings(state_dir=tmp_path, spark={"checkpoint_dir": given})
    assert s.checkpoint_location() == given  # not hdfs:/checkpoints, not a local "s3a:" folder
    assert not s.checkpoint_is_local()
    with pytest.raises(ConfigError, match="not a folder of this machine"):
        s.checkpoint_dir()


def test_a_local_checkpoint_is_a_path_or_a_file_uri(tmp_path: Path) -> None:
    for given in (str(tmp_path / "ck"), f"file://{tmp_path}/ck", tmp_path / "ck"):
        s = Settings(state_dir=tmp_path, spark={"checkpoint_dir": given})
        assert s.checkpoint_is_local() and s.checkpoint_dir() == tmp_path / "ck"
        assert s.checkpoint_location() == str(given)
    default = Settings(state_dir=tmp_path, spark={"checkpoint_dir": " "})
    assert default.checkpoint_dir() == default.paths.checkpoints / "user_topic__userstream"


def test_the_cassandra_ca_is_read_from_the_file_its_variable_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from userstream.store import Tls, ssl_context

    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    (tmp_path / "ca.pem").write_text(pem)
    monkeypatch.setenv("USERSTREAM_CASSANDRA__TLS_CA_FILE", str(tmp_path / "ca.pem"))
    settings = load_settings(state_dir=tmp_path / "state")
    assert settings.cassandra.tls_ca == pem.rstrip("\n")
    assert settings.cassandra.tls_check_hostname
    # Not a certificate: refused with what to set, before any connection is tried.
    with pytest.raises(ConfigError, match="TLS_CA"):
        ssl_context(Tls.of(settings.cassandra))
    assert ssl_context(Tls()) is None


def test_a_cassandra_client_certificate_needs_a_ca_and_a_readable_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from userstream.store import Tls, ssl_context

    (tmp_path / "password").write_text("s3cret\n")
    monkeypatch.setenv("USERSTREAM_CASSANDRA__TLS_CLIENT_CERT", str(tmp_path / "client.pem"))
    monkeypatch.setenv(
        "USERSTREAM_CASSANDRA__TLS_CLIENT_KEY_PASSWORD_FILE", str(tmp_path / "password")
    )
    tls = Tls.of(load_settings(state_dir=tmp_path / "state").cassandra)
    assert (tls.client_cert, tls.key_password) == (str(tmp_path / "client.pem"), "s3cret")
    assert "s3cret" not in repr(tls)
    # Without a CA the connection would be plain: refused rather than sent without TLS.
    with pytest.raises(ConfigError, match="no CA"):
        ssl_context(tls)
    # A missing file is named, with what it must hold.
    ca = _self_signed_pem()
    with pytest.raises(ConfigError, match=r"client\.pem cannot be loaded"):
        ssl_context(Tls(ca=ca, client_cert=str(tmp_path / "client.pem")))


def _self_signed_pem() -> str:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_the_clients_follow_the_local_broker_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert load_settings(state_dir=tmp_path).kafka.bootstrap_servers == "127.0.0.1:9092"
    monkeypatch.setenv("USERSTREAM_KAFKA__PORT", "29092")
    assert load_settings(state_dir=tmp_path).kafka.bootstrap_servers == "127.0.0.1:29092"
    monkeypatch.setenv("USERSTREAM_KAFKA__HOST", "::1")
    assert load_settings(state_dir=tmp_path).kafka.bootstrap_servers == "[::1]:29092"
    monkeypatch.setenv("USERSTREAM_KAFKA__BOOTSTRAP_SERVERS", "broker1:9092")
    assert load_settings(state_dir=tmp_path).kafka.bootstrap_servers == "broker1:9092"


def test_each_kafka_has_its_own_default_checkpoint(tmp_path: Path) -> None:
    single = Settings(state_dir=tmp_path)
    assert single.checkpoint_dir() == single.paths.checkpoints / "user_topic__userstream"
    moved = Settings(state_dir=tmp_path, kafka={"port": 19092})  # the local broker, moved
    assert moved.checkpoint_dir() == single.checkpoint_dir()
    cluster = "127.0.0.1:9092,127.0.0.2:9092,127.0.0.3:9092"
    on_cluster = Settings(state_dir=tmp_path, kafka={"bootstrap_servers": cluster})
    yours = Settings(state_dir=tmp_path, kafka={"bootstrap_servers": "kafka:9092"})
    names = {s.checkpoint_dir().name for s in (single, on_cluster, yours)}
    assert len(names) == 3
    assert on_cluster.checkpoint_dir().name.startswith("user_topic__userstream__kafka-")
    # The same brokers in another order or case are the same Kafka.
    reordered = Settings(
        state_dir=tmp_path,
        kafka={"bootstrap_servers": "127.0.0.3:9092, 127.0.0.1:9092,127.0.0.2:9092"},
    )
    assert reordered.checkpoint_dir() == on_cluster.checkpoint_dir()
    # A checkpoint you set is yours, whatever the Kafka (and meets the cluster-id check).
    given = Settings(
        state_dir=tmp_path,
        kafka={"bootstrap_servers": cluster},
        spark={"checkpoint_dir": str(tmp_path / "ck")},
    )
    assert given.checkpoint_dir() == tmp_path / "ck"


def test_while_the_local_cluster_runs_every_command_uses_it_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from userstream.config import CLUSTER_MODE_FILE
    from userstream.stack.local import cluster_settings, forget_cluster, remember_cluster

    for key in [k for k in os.environ if k.startswith("USERSTREAM_")]:
        monkeypatch.delenv(key)
    single = Settings(state_dir=tmp_path)
    remember_cluster(single)
    assert (tmp_path / CLUSTER_MODE_FILE).stat().st_mode & 0o077 == 0
    on = Settings(state_dir=tmp_path)
    assert on.kafka.bootstrap_servers == "127.0.0.1:9092,127.0.0.2:9092,127.0.0.3:9092"
    assert on.kafka.replication_factor == 3
    assert on.cassandra.hosts == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    assert on.cassandra.replication == cluster_settings(single)["cassandra"]["replication"]
    assert on.spark.master == "spark://127.0.0.1:7077"
    assert on.spark.cores_max == 1  # half of two workers of one core: a second stream fits
    assert on.checkpoint_dir() != single.checkpoint_dir()  # the cluster's own checkpoint
    # A variable or a keyword still wins; what it does not name comes from the cluster.
    monkeypatch.setenv("USERSTREAM_SPARK__MASTER", "local[1]")
    monkeypatch.setenv("USERSTREAM_STATE_DIR", str(tmp_path))
    told = load_settings(kafka={"topic": "t"})
    assert told.spark.master == "local[1]" and told.kafka.topic == "t"
    assert told.cassandra.hosts == on.cassandra.hosts
    assert told.kafka.bootstrap_servers == on.kafka.bootstrap_servers
    # `down` forgets it; a broken file is no mode at all.
    forget_cluster(single.paths)
    assert Settings(state_dir=tmp_path).kafka.bootstrap_servers == "127.0.0.1:9092"
    (tmp_path / CLUSTER_MODE_FILE).write_text("{not json")
    assert Settings(state_dir=tmp_path).kafka.replication_factor == 1
