"""The rendered Kafka and Cassandra configuration: complete, and every address from settings."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest
import yaml

from userstream.config import Settings, load_settings
from userstream.errors import ConfigError, TerminalError
from userstream.kafka.client_config import USERNAMES, Login
from userstream.stack import cassandra, kafka
from userstream.stack._render import render, template_lines


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = load_settings(
        state_dir=tmp_path / "state",
        kafka={"host": "127.0.0.2", "port": 19092, "controller_port": 19093, "partitions": 3},
        cassandra={"hosts": ["127.0.0.3"], "port": 19042, "storage_port": 17000},
    )
    # The metrics agent's jar, as `fetch-jars` leaves it (the command lines name it).
    agent = settings.paths.lib / "jmx-exporter" / "jmx_prometheus_javaagent-1.0.1.jar"
    agent.parent.mkdir(parents=True)
    agent.touch()
    return settings


def _properties(path: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    return {k.strip(): v.strip() for k, v in pairs}


def test_kafka_properties_come_from_settings(settings: Settings) -> None:
    logins = {role: Login(f"user_{role}", f"pw_{role}") for role in USERNAMES}
    path = kafka._render_config(settings, logins)
    props = _properties(path)
    assert props["listeners"] == "CLIENTS://127.0.0.2:19092,CONTROLLER://127.0.0.2:19093"
    assert props["advertised.listeners"] == "CLIENTS://127.0.0.2:19092"
    # Every listener asks for a login; nothing is allowed that no ACL allows.
    assert props["listener.security.protocol.map"] == (
        "CONTROLLER:SASL_PLAINTEXT,CLIENTS:SASL_PLAINTEXT"
    )
    assert props["listener.name.clients.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:user_controller;User:user_admin"
    # No password in it: the broker reads each from a private file (DirectoryConfigProvider).
    text = path.read_text()
    assert "pw_" not in text
    secrets = kafka.broker_secrets(settings.paths)
    assert props["config.providers.dir.param.allowed.paths"] == str(secrets)
    admin_jaas = props["listener.name.clients.scram-sha-512.sasl.jaas.config"]
    assert f'password="${{dir:{secrets}:admin_password}}"' in admin_jaas
    controller_jaas = props["listener.name.controller.plain.sasl.jaas.config"]
    assert controller_jaas.count(f'"${{dir:{secrets}:controller_password}}"') == 2
    assert (secrets / "admin_password").read_text() == "pw_admin"
    assert (secrets / "controller_password").read_text() == "pw_controller"
    for private in (path, secrets / "admin_password", secrets / "controller_password"):
        assert private.stat().st_mode & 0o777 == 0o600
    assert secrets.stat().st_mode & 0o777 == 0o700
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.2:19093"
    # `--standalone` formatting and static voters are mutually exclusive.
    assert "controller.quorum.voters" not in props
    assert props["process.roles"] == "broker,controller"
    assert props["num.partitions"] == "3"
    assert Path(props["log.dirs"]).is_relative_to(settings.paths.data)
    # Every placeholder of ours is filled: what is left is Kafka's own ${dir:...}.
    assert "${" not in text.replace("${dir:", "")
    assert (kafka.single_node(settings).config_file.parent / "log4j2.properties").is_file()


def test_cassandra_yaml_has_required_keys_and_auth(settings: Settings) -> None:
    node = cassandra.single_node(settings)
    conf = yaml.safe_load(cassandra._render_config(settings.cassandra, node).read_text())
    for key in ("commitlog_sync", "partitioner", "endpoint_snitch"):
        assert conf[key]
    # Acknowledged writes are on disk: a SIGKILLed node loses none of them.
    assert conf["commitlog_sync"] == "batch"
    assert conf["seed_provider"][0]["parameters"][0]["seeds"] == "127.0.0.3:17000"
    assert conf["listen_address"] == conf["rpc_address"] == "127.0.0.3"
    assert conf["native_transport_port"] == 19042
    assert conf["authenticator"] == "PasswordAuthenticator"
    assert conf["authorizer"] == "CassandraAuthorizer"
    assert conf["allocate_tokens_for_local_replication_factor"] == 1
    for folder in conf["data_file_directories"] + [conf["commitlog_directory"]]:
        assert Path(folder).is_relative_to(settings.paths.data / "cassandra")


def test_the_users_own_node_options_and_broker_properties_are_added(settings: Settings) -> None:
    tls = {"enabled": True, "optional": False, "keystore": "/tls/node.pem"}
    settings = settings.model_copy(
        update={
            "cassandra": settings.cassandra.model_copy(
                update={"node_options": {"client_encryption_options": tls}}
            ),
            "kafka": settings.kafka.model_copy(
                update={"broker_properties": {"num.io.threads": "8", "ssl.client.auth": "none"}}
            ),
        }
    )
    node = cassandra.single_node(settings)
    conf = yaml.safe_load(cassandra._render_config(settings.cassandra, node).read_text())
    assert conf["client_encryption_options"] == tls
    assert conf["authenticator"] == "PasswordAuthenticator"
    logins = {role: Login(f"user_{role}", f"pw_{role}") for role in USERNAMES}
    props = _properties(kafka._render_config(settings, logins))
    assert props["num.io.threads"] == "8"  # the template's 4 comes first; the last one wins
    assert props["ssl.client.auth"] == "none"


def test_a_node_option_userstream_sets_itself_is_refused(settings: Settings) -> None:
    settings = settings.model_copy(
        update={
            "cassandra": settings.cassandra.model_copy(
                update={"node_options": {"native_transport_port": 1}}
            )
        }
    )
    with pytest.raises(ConfigError, match="native_transport_port"):
        cassandra._render_config(settings.cassandra, cassandra.single_node(settings))


def test_cassandra_cluster_nodes_each_on_its_address_with_the_first_as_seed(
    settings: Settings,
) -> None:
    nodes = cassandra.cluster_nodes(settings)
    assert [n.name for n in nodes] == ["cassandra-1", "cassandra-2", "cassandra-3"]
    homes = set()
    for i, node in enumerate(nodes, start=1):
        conf = yaml.safe_load(cassandra._render_config(settings.cassandra, node).read_text())
        assert conf["listen_address"] == conf["rpc_address"] == f"127.0.0.{i}"
        assert conf["native_transport_port"] == 19042
        assert conf["seed_provider"][0]["parameters"][0]["seeds"] == "127.0.0.1:17000"
        # Tokens placed for three replicas: an even share of the ring per node.
        assert conf["allocate_tokens_for_local_replication_factor"] == 3
        home = Path(conf["data_file_directories"][0]).parent
        assert home.is_relative_to(settings.paths.data / "cassandra-cluster")
        homes.add(home)
        cmd = cassandra._command(settings, "java", node)
        # Its metrics agent on its own address (the three share the port).
        assert any(f"=127.0.0.{i}:{settings.cassandra.metrics_port}:" in arg for arg in cmd)
        assert f"-Dcassandra.ring_delay_ms={cassandra.RING_DELAY_MS}" in cmd
    assert len(homes) == 3
    # Clients of the cluster: the three as contact points, three replicas per keyspace.
    clients = cassandra.on_cluster(settings.cassandra, settings)
    assert clients.hosts == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    assert clients.replication == {"class": "NetworkTopologyStrategy", "datacenter1": 3}


def test_cassandra_command_line(settings: Settings, tmp_path: Path) -> None:
    node = cassandra.single_node(settings)
    conf = cassandra._render_config(settings.cassandra, node)
    cmd = cassandra._command(settings, "java", node)
    assert cmd[-1] == cassandra.MAIN_CLASS
    assert f"-Dcassandra.config=file://{conf}" in cmd
    assert "-Dcassandra-foreground=yes" in cmd
    assert "-Xmx1G" in cmd
    # No JMX port of any kind: it would be an unauthenticated way in.
    assert not [arg for arg in cmd if arg.startswith(("-Dcassandra.jmx", "-Dcom.sun.management"))]
    assert "--add-opens=java.base/java.lang=ALL-UNNAMED" in cmd
    # The classpath is Cassandra's own folder only.
    assert cmd[cmd.index("-cp") + 1] == f"{settings.paths.lib / 'cassandra'}/*"
    # No ring to learn: its first start does not wait the 30 s default before its tokens.
    assert f"-Dcassandra.ring_delay_ms={cassandra.SINGLE_RING_DELAY_MS}" in cmd


def test_jvm_options_template_is_one_option_per_line() -> None:
    lines = template_lines("cassandra-jvm17.options")
    assert lines
    assert all(line.startswith("-") and " " not in line for line in lines)


def test_render_refuses_a_missing_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs a value"):
        render("kafka-server.properties", tmp_path / "x.properties", {"host": "h"})


def test_cluster_id_is_a_kafka_uuid() -> None:
    cid = kafka.cluster_id()
    assert len(cid) == 22
    assert len(base64.urlsafe_b64decode(cid + "==")) == 16
    assert cid != kafka.cluster_id()


def test_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    # 0xf8 encodes to "-" in URL-safe base64: the storage tool took such an id for an option.
    dashed = uuid.UUID(bytes=b"\xf8" + bytes(15))
    plain = uuid.UUID(bytes=b"\x10" + bytes(15))
    drawn = iter([dashed, plain])
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: next(drawn))
    assert base64.urlsafe_b64encode(dashed.bytes).startswith(b"-")
    assert kafka.cluster_id() == base64.urlsafe_b64encode(plain.bytes).rstrip(b"=").decode()


def test_kafka_format_keeps_the_admin_password_off_the_command_line(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = Login("user_admin", "s3cret-admin-password")
    seen: list[tuple[list[str], str]] = []

    def run(cmd: list[str], **_: object) -> object:
        argfile = Path(cmd[-1].removeprefix("@"))
        seen.append((cmd, argfile.read_text()))
        assert argfile.stat().st_mode & 0o777 == 0o600
        return type("Done", (), {"returncode": 0})()

    monkeypatch.setattr(kafka.subprocess, "run", run)
    kafka._render_config(settings, {role: admin for role in USERNAMES})
    kafka._format_storage(settings, "java", admin)
    [(cmd, args)] = seen
    assert not any(admin.password in part for part in cmd)
    assert '"--add-scram"' in args and admin.password in args
    assert not Path(cmd[-1].removeprefix("@")).exists()  # removed after the run


def test_the_single_node_is_a_quorum_of_one_with_one_copy_of_everything(
    settings: Settings,
) -> None:
    logins = {role: Login(f"user_{role}", f"pw_{role}") for role in USERNAMES}
    props = _properties(kafka._render_config(settings, logins))
    assert props["node.id"] == "1"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.2:19093"
    assert "controller.quorum.voters" not in props
    assert props["default.replication.factor"] == props["min.insync.replicas"] == "1"


def test_cluster_nodes_are_three_voters_on_their_own_addresses_with_three_copies(
    settings: Settings,
) -> None:
    logins = {role: Login(f"user_{role}", f"pw_{role}") for role in USERNAMES}
    nodes = kafka.cluster_nodes(settings)
    assert [n.name for n in nodes] == ["kafka-1", "kafka-2", "kafka-3"]
    assert kafka.address(settings, cluster=True) == (
        "127.0.0.1:19092,127.0.0.2:19092,127.0.0.3:19092"
    )
    voters = "1@127.0.0.1:19093,2@127.0.0.2:19093,3@127.0.0.3:19093"
    for i, node in enumerate(nodes, start=1):
        props = _properties(kafka._render_config(settings, logins, node))
        assert props["node.id"] == str(i)
        assert props["controller.quorum.voters"] == voters
        assert "controller.quorum.bootstrap.servers" not in props
        assert props["listeners"] == f"CLIENTS://127.0.0.{i}:19092,CONTROLLER://127.0.0.{i}:19093"
        assert props["log.dirs"] == str(node.log_dirs)
        for key in ("default.replication.factor", "offsets.topic.replication.factor",
                    "transaction.state.log.replication.factor"):  # fmt: skip
            assert props[key] == "3", key
        assert props["min.insync.replicas"] == props["transaction.state.log.min.isr"] == "2"
    # Each keeps its own storage, apart from the single node's.
    homes = {n.home for n in nodes} | {kafka.single_node(settings).home}
    assert len(homes) == 4


def test_cluster_nodes_are_formatted_with_one_shared_id_and_no_standalone_quorum(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = Login("user_admin", "pw")
    seen: list[str] = []

    def run(cmd: list[str], **_: object) -> object:
        seen.append(Path(cmd[-1].removeprefix("@")).read_text())
        return type("Done", (), {"returncode": 0})()

    monkeypatch.setattr(kafka.subprocess, "run", run)
    first, *others = kafka.cluster_nodes(settings)
    # A start interrupted after the first format: the others join the id it was given.
    first.log_dirs.mkdir(parents=True)
    (first.log_dirs / "meta.properties").write_text("version=1\ncluster.id=AbC_123\n")
    shared = kafka._cluster_id([first, *others])
    assert shared == "AbC_123"
    for node in others:
        kafka._render_config(settings, {role: admin for role in USERNAMES}, node)
        kafka._format_storage(settings, "java", admin, node, shared)
    assert len(seen) == 2
    for args in seen:
        assert '"--cluster-id=AbC_123"' in args
        assert '"--standalone"' not in args


def test_an_old_kafka_store_without_logins_is_refused_with_what_to_do(settings: Settings) -> None:
    kafka.single_node(settings).log_dirs.mkdir(parents=True)
    (kafka.single_node(settings).log_dirs / "meta.properties").write_text("version=1\n")
    with pytest.raises(TerminalError, match="formatted without the logins") as caught:
        kafka._ensure_logins(settings)
    assert "remove" in (caught.value.hint or "")


def test_a_formatted_cluster_without_its_logins_is_refused_with_what_to_do(
    settings: Settings,
) -> None:
    nodes = kafka.cluster_nodes(settings)
    nodes[1].log_dirs.mkdir(parents=True)
    (nodes[1].log_dirs / "meta.properties").write_text("version=1\n")
    kafka._ensure_logins(settings)  # the single node is not formatted: new logins for it
    settings.kafka.logins_file.unlink()
    with pytest.raises(TerminalError, match="formatted without the logins") as caught:
        kafka._ensure_logins(settings, nodes)
    assert str(nodes[1].home.parent) in (caught.value.hint or "")


def test_a_jvm_crash_report_goes_to_the_logs_folder(settings: Settings) -> None:
    # Not the working directory `up` ran from (a checkout, say): a full disk's SIGBUS left one.
    wanted = f"-XX:ErrorFile={settings.paths.logs / 'hs_err_pid%p.log'}"
    assert wanted in cassandra._command(settings, "java", cassandra.single_node(settings))
    assert wanted in kafka._command(settings, kafka.single_node(settings), "java")
