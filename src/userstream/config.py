"""One typed settings model, read once at the edge (the CLI, the DAG, a test fixture).

Every setting can come from an environment variable ``USERSTREAM_<SECTION>__<KEY>``
(for example ``USERSTREAM_KAFKA__TOPIC``) or from a ``.env`` file in the working
directory. ``USERSTREAM_<SECTION>__<KEY>_FILE`` names a file that holds the value instead
(Docker Compose and Kubernetes secrets: the password never sits in an environment); it wins
over the plain variable. Inner code receives the typed section it needs, never ``os.environ``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from userstream.contract import MAX_RESULTS
from userstream.errors import ConfigError

REAL_API_URL = "https://randomuser.me/api/1.4/"


def _simple_rf1() -> dict[str, str | int]:
    return {"class": "SimpleStrategy", "replication_factor": 1}


def _default_state_dir() -> Path:
    """``.userstream/`` in the checkout when running from one, else in the working directory."""
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file():
        return repo / ".userstream"
    return Path.cwd() / ".userstream"


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:9092"
    topic: str = "user_topic"
    partitions: int = Field(default=2, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    # Local broker only: where `userstream stack up` binds (`--cluster`: 127.0.0.1-3, the
    # same ports).
    host: str = "127.0.0.1"
    port: int = 9092
    controller_port: int = 9093
    # The broker's Prometheus metrics (JMX exporter agent), always on loopback: 127.0.0.1, or
    # a cluster node's own address.
    metrics_port: int = 7071
    heap: str = "512m"
    # Producer tuning (chosen by benchmarks/bench_producer.py).
    linger_ms: int = Field(default=20, ge=0)
    batch_size: int = Field(default=1_000_000, ge=1)
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "lz4"
    # How long librdkafka keeps retrying one message (a broker outage shorter than this
    # loses nothing); the producer's final flush waits this long plus a margin.
    delivery_timeout_ms: int = Field(default=300_000, ge=1000)
    # The largest message the producer sends (key + value + headers + framing), and its
    # librdkafka `message.max.bytes`: a bigger user goes to the DLQ, cut. Keep it at or
    # below the broker's `message.max.bytes` and the topic's `max.message.bytes`.
    max_message_bytes: int = Field(default=1_000_000, ge=1000, le=1_000_000_000)
    # Extra librdkafka settings for clusters, as a JSON object. Setting security.protocol
    # here (with its SASL/SSL keys) makes the cluster's security the operator's: every
    # client uses exactly these. Otherwise the local stack's generated logins are used.
    client_config: dict[str, str] = Field(default_factory=dict)
    # For `userstream bootstrap` (Docker Compose): librdkafka settings of a Kafka user allowed
    # to create users; with it, bootstrap creates the producer, stream and admin SCRAM users
    # (passwords generated into <state>/secrets/kafka.json) and their ACLs, as the local stack.
    users_admin_config: dict[str, str] = Field(default_factory=dict)
    # Local broker only: extra server.properties lines, as a JSON object; a key the rendered
    # file already sets is overridden (the last line wins), e.g. another listener with TLS.
    broker_properties: dict[str, str] = Field(default_factory=dict)
    # How the producer writes a user: "avro", the Confluent wire format (magic byte 0, the
    # schema's registry id, Avro binary; the schema in userstream/schemas/), or "json", the
    # API's JSON. The stream reads both, telling them apart by the first byte.
    value_format: Literal["avro", "json"] = "avro"
    # The Avro schema of a user (an .avsc file) the producer writes with, the stream reads with
    # and `db init` adds the columns of; unset: the project's src/userstream/schemas/user.avsc.
    # A top-level field beyond those of user.avsc is stored in a user_profiles column of its name.
    value_schema: Path | None = None
    # The local stack's generated Kafka logins (kafka/client_config.py); set from the state folder.
    _logins_file: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _clients_at_the_local_broker(self) -> KafkaSettings:
        # Unset, the brokers the clients use are the local one's, wherever it was moved to
        # (USERSTREAM_KAFKA__PORT alone must not leave the clients at 9092).
        if "bootstrap_servers" not in self.model_fields_set:
            self.bootstrap_servers = self.local_broker
        return self

    @property
    def local_broker(self) -> str:
        """``HOST:PORT`` of the local single broker (``stack up`` without ``--cluster``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def logins_file(self) -> Path | None:
        return self._logins_file

    @property
    def dlq_topic(self) -> str:
        return f"{self.topic}.dlq"


class CassandraSettings(BaseModel):
    hosts: list[str] = Field(default_factory=lambda: ["127.0.0.1"])
    port: int = 9042
    keyspace: str = "userstream"
    # SimpleStrategy RF 1 locally; for clusters e.g.
    # '{"class": "NetworkTopologyStrategy", "dc1": 3}'.
    replication: dict[str, str | int] = Field(default_factory=_simple_rf1)
    local_dc: str = "datacenter1"
    # For an existing cluster. Locally the stack generates a superuser and keeps it
    # in the state folder; these override it when set.
    username: str | None = None
    password: SecretStr | None = None
    # How long a row of user_profiles_rejects is kept (Cassandra TTL); 0 keeps it forever.
    rejects_ttl_days: int = Field(default=30, ge=0, le=7300)
    # TLS to the nodes (a cluster with client_encryption_options): the PEM text of the CA
    # that signed their certificates, usually read from a file with
    # USERSTREAM_CASSANDRA__TLS_CA_FILE. Unset: no TLS (the local node listens on loopback).
    tls_ca: str | None = None
    # With TLS: a node's certificate must name the address it was reached at.
    tls_check_hostname: bool = True
    # With TLS, for nodes that require client certificates (require_client_auth): a PEM file
    # holding this client's key and certificate chain, at this path wherever the stream
    # writes (the executors too); its key's password when the key is encrypted.
    tls_client_cert: Path | None = None
    tls_client_key_password: SecretStr | None = None

    @field_validator("username", "password", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `.env.example` lists these empty for Docker Compose; empty means "not set".
        return None if value == "" else value

    # Local node only.
    storage_port: int = 7000
    # The node's Prometheus metrics (JMX exporter agent), always on 127.0.0.1.
    metrics_port: int = 7072
    heap: str = "1G"
    # Extra cassandra.yaml options of the local node, as a JSON object of top-level keys
    # the project's template does not set (e.g. client_encryption_options).
    node_options: dict[str, Any] = Field(default_factory=dict)


class RegistrySettings(BaseModel):
    # A Confluent-compatible Schema Registry (Confluent's, Karapace, Apicurio's ccompat API,
    # Redpanda's) by URL. Unset: the local one, which `userstream up` / `stack up` start on
    # http://<host>:<port> with a generated login.
    url: str | None = None
    # Basic auth for a registry of yours (the local one's login is generated into the state
    # folder); the password usually from a file: USERSTREAM_REGISTRY__PASSWORD_FILE.
    username: str | None = None
    password: SecretStr | None = None
    # TLS to a registry of yours: the CA's PEM file, and for mutual TLS this client's
    # certificate and key files, at these paths wherever a client runs (Spark's executors too).
    ssl_ca_location: Path | None = None
    ssl_certificate_location: Path | None = None
    ssl_key_location: Path | None = None
    # Whether the producer registers its schema on first use. Unset: yes with the local
    # registry, no with one of yours (the producer then uses the version registered there
    # for its schema, and fails clearly when there is none).
    auto_register: bool | None = None
    # With auto_register off: write with the subject's latest version instead of looking up
    # the producer's own schema.
    use_latest_version: bool = False
    # Local registry only: where it listens, where it keeps its schemas (a compacted topic,
    # as Confluent's does), and a new subject's compatibility.
    host: str = "127.0.0.1"
    port: int = Field(default=8085, ge=1, le=65535)
    topic: str = "_schemas"
    compatibility: Literal[
        "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
        "FULL", "FULL_TRANSITIVE", "NONE",
    ] = "BACKWARD"  # fmt: skip

    @field_validator("username", "password", "url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def is_local(self) -> bool:
        """True when the clients use the local registry (no URL of the user's)."""
        return self.url is None

    @property
    def address(self) -> str:
        """The URL the clients use."""
        if self.url is not None:
            return self.url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


class SourceSettings(BaseModel):
    kind: Literal["auto", "randomuser", "local"] | str = "auto"
    url: str = REAL_API_URL
    results_per_page: int = Field(default=MAX_RESULTS, ge=1, le=MAX_RESULTS)
    nat: str | None = None
    seed: str | None = None
    timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=6, ge=0)
    backoff_base_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=30.0, ge=0)
    fake_host: str = "127.0.0.1"
    fake_port: int = 8765


class SparkSettings(BaseModel):
    master: str = "local[2]"
    app_name: str = "userstream-stream"
    driver_memory: str = "1g"
    # The largest micro-batch. At the default, every batch is one the driver writes itself
    # (driver_write_max_rows): on a machine shared with the executors, Kafka and Cassandra,
    # batches sent to the executors drained slower (787-860 users/s against 1,414 in batches
    # of 5,000), so a burst that tipped the stream into them kept it there, ever further
    # behind (docs/performance.md). On a cluster, raise both.
    max_offsets_per_trigger: int = Field(default=5_000, ge=1)
    # Real time without burning an idle core: a trigger checks Kafka's end offsets (~5 % of
    # one core at 250 ms, ~2 % at 5 s: docs/performance.md "Performance").
    trigger_interval: str = "250 milliseconds"
    # Micro-batches up to this many records are written by the driver itself (lowest
    # latency); larger ones by the executors' Python workers (a backlog, in parallel).
    # 0: always the executors.
    driver_write_max_rows: int = Field(default=5000, ge=0)
    # A micro-batch running longer than this is stalled (a call that never returns): the
    # driver restarts itself in place. Its writes give up on Cassandra at 3/4 of it.
    batch_timeout_s: float = Field(default=300.0, gt=0)
    # `status` calls the stream unhealthy when a micro-batch runs, input waits without a
    # completed batch, or the driver's heartbeat is silent for longer than this.
    unhealthy_after_s: float = Field(default=60.0, gt=0)
    # The driver's Prometheus metrics on 127.0.0.1 (0: any free port; a taken one falls back
    # to any free port). `status` shows where.
    metrics_port: int = Field(default=7073, ge=0, le=65535)
    # Where the metrics listen: loopback unless a container network must reach them
    # (docker-compose.yml sets 0.0.0.0 in the stream service; the port is not published).
    metrics_host: str = "127.0.0.1"
    # Spark's web UI (jobs, stages, the streaming query's batches). With a local master it
    # listens on 127.0.0.1 only; a taken port falls back to the next ones. 0: no UI.
    ui_port: int = Field(default=4040, ge=0, le=65535)
    shuffle_partitions: int = Field(default=2, ge=1)
    # The cores one stream takes on a Spark standalone cluster (spark.cores.max), so that a
    # second stream gets executors too. 0: every core the cluster offers (Spark's default).
    # The local cluster (`up --cluster`) sets half of its cores. A stream that gets no
    # executor is unhealthy in `status` after unhealthy_after_s, with Spark's words.
    cores_max: int = Field(default=0, ge=0)
    # Where the stream keeps its offsets, given to Spark verbatim: a local folder, or a URI
    # (file://, hdfs://, s3a://) on clusters. Defaults to <state>/checkpoints/<topic>__<keyspace>.
    checkpoint_dir: str | None = None
    # Where commands that share no state folder with the driver (Airflow's tasks, the
    # dashboard, `stream status` on Kubernetes) read its progress: the driver's metrics
    # port, path /progress, e.g. http://userstream-stream:7073/progress (the newest users'
    # names left out). Unset: the progress file in the state folder.
    progress_url: str | None = None
    # Extra Spark conf entries, e.g. {"spark.executor.memory": "4g"}.
    conf: dict[str, str] = Field(default_factory=dict)
    # Name of the job's pid/log/progress files in the state folder; tests running their own
    # stream beside the main one use another.
    job_name: str = Field(default="stream", pattern=r"^[A-Za-z0-9_.-]+$")

    @field_validator("checkpoint_dir", mode="before")
    @classmethod
    def _checkpoint_as_text(cls, value: object) -> object:
        """A ``Path`` is taken as its text; an empty value means the default."""
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        return value.strip() or None if isinstance(value, str) else value


#: An Airflow option's name: its section (which may have dots: common.io) and key.
_AIRFLOW_OPTION = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)+")


class AirflowSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8080
    schedule: str = "*/5 * * * *"
    parallelism: int = Field(default=4, ge=1)
    batch_size: int = Field(default=1000, ge=1)
    admin_user: str = "admin"
    # Names the Airflow home (<state>/<instance>), its processes and its passwords file,
    # so a test can run its own Airflow beside the pipeline's in one state folder.
    instance: str = Field(default="airflow", pattern=r"^[A-Za-z0-9_.-]+$")
    # Defaults to the checkout's airflow/dags/ folder.
    dags_folder: Path | None = None
    api_workers: int = Field(default=1, ge=1)
    # How long verify_landed waits for a batch to reach Cassandra.
    landing_timeout_s: float = Field(default=300.0, gt=0)
    # Quality: a stored row older than this after ingestion is not fresh.
    max_landing_delay_s: float = Field(default=900.0, gt=0)
    # Whether the DAG's ensure_stream starts a stream that is not running (the local runtime:
    # one machine, where it is the last resort when the stream's supervisor itself was
    # killed). False where a service manager keeps `userstream stream supervise` running (a
    # Compose service, a systemd unit, a Kubernetes pod; any multi-worker executor, whose
    # tasks must not own the stream): ensure_stream then only checks the stream's heartbeat
    # and fails the run when it is not healthy.
    starts_stream: bool = True
    # The local Airflow's own settings, as a JSON object of "section.key" to value (e.g.
    # {"core.executor": "…"}; "common.io.xcom_objectstorage_path": the section is all but the
    # last part): each becomes AIRFLOW__SECTION__KEY and wins over the project's. They are in
    # the Airflow processes' environment: no secrets here.
    config: dict[str, str] = Field(default_factory=dict)

    @field_validator("config", mode="before")
    @classmethod
    def _section_and_key(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        checked = {}
        for name, setting in value.items():
            if not isinstance(name, str) or not _AIRFLOW_OPTION.fullmatch(name.lower()):
                raise ValueError(
                    f"{name!r} is not an Airflow setting's 'section.key' (e.g. 'core.executor')"
                )
            if isinstance(setting, dict | list) or setting is None:
                raise ValueError(f"the value of {name!r} must be a string, a number or a bool")
            checked[name.lower()] = str(setting)
        return checked


class ClusterSettings(BaseModel):
    # The local runtime as a cluster on this one machine (`userstream stack up --cluster`,
    # `userstream up --cluster`): a Spark standalone master and workers from pyspark's own
    # distribution, on 127.0.0.1; the stream runs on it (spark://127.0.0.1:<master port>).
    spark_master_port: int = Field(default=7077, ge=1, le=65535)
    # The master's web UI (it links each worker's, on a free port).
    spark_master_ui_port: int = Field(default=8081, ge=1, le=65535)
    spark_workers: int = Field(default=2, ge=1, le=8)
    spark_worker_cores: int = Field(default=1, ge=1)
    # What each worker offers its executors (an executor asks for spark.executor.memory).
    spark_worker_memory: str = "1g"


class DashboardSettings(BaseModel):
    # The live page `userstream up` starts, on 127.0.0.1 (docs/monitoring.md "Watching it":
    # why it has no login). docker-compose.yml sets 0.0.0.0 in its container, published on
    # 127.0.0.1 only.
    host: str = "127.0.0.1"
    port: int = Field(default=8090, ge=1, le=65535)
    # The names a request may address it by (the Host header): other names are refused, so a
    # web page elsewhere cannot read it through a DNS name that points at this machine.
    allowed_hosts: list[str] = Field(default_factory=lambda: ["127.0.0.1", "localhost"])


class MonitoringSettings(BaseModel):
    # `userstream up` starts Prometheus (when a `prometheus` binary is on the PATH) on
    # 127.0.0.1:<port>, scraping every part and evaluating monitoring/alerts.yml. 0: never.
    prometheus_port: int = Field(default=9090, ge=0, le=65535)
    # Airflow's own metrics: Airflow sends StatsD to 127.0.0.1:<statsd_port> (UDP), where the
    # StatsD exporter (when a `statsd_exporter` binary is on the PATH) turns them into
    # Prometheus metrics at 127.0.0.1:<statsd_exporter_port>/metrics. 0: neither.
    statsd_port: int = Field(default=9125, ge=0, le=65535)
    statsd_exporter_port: int = Field(default=9102, ge=1, le=65535)


class HousekeepingSettings(BaseModel):
    # Every <state>/logs/*.log is rotated past this size (the housekeeper `stack up` starts),
    # keeping this many older copies: each process's log takes at most (1 + files) x size.
    log_max_mb: int = Field(default=10, ge=1)
    log_files: int = Field(default=4, ge=0, le=100)
    # Airflow's task logs and XCom files (the `userstream_maintenance` DAG) and its run history
    # (`airflow db clean`, by the housekeeper) older than this are deleted hourly.
    airflow_retention_days: int = Field(default=7, ge=1)
    # `status` calls the disk unhealthy when the state folder's filesystem has less free.
    min_free_disk_mb: int = Field(default=1024, ge=0)


#: The end of a variable's name that makes its value the path of a file holding the setting.
FILE_SUFFIX = "_FILE"


def _without_file_variables(found: Mapping[str, str | None]) -> dict[str, str | None]:
    suffix = FILE_SUFFIX.lower()
    return {k: v for k, v in found.items() if not k.lower().endswith(suffix)}


def _from_files(found: Mapping[str, str | None], prefix: str) -> dict[str, str | None]:
    """``<prefix><NAME>_FILE=<path>`` as ``<prefix><NAME>``: the file's content, less one
    trailing newline; ``ConfigError`` when the file cannot be read."""
    prefix, suffix = prefix.lower(), FILE_SUFFIX.lower()
    values: dict[str, str | None] = {}
    for name, path in found.items():
        key = name.lower()
        if not (key.startswith(prefix) and key.endswith(suffix)) or not path:
            continue
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(
                f"{name.upper()} names {path}, which cannot be read "
                f"({exc.strerror or type(exc).__name__}).",
                hint=f"Point it at the file that holds {name.upper()[: -len(suffix)]}"
                " (in Compose: /run/secrets/<secret>), or unset it.",
            ) from exc
        values[key[: -len(suffix)]] = text.removesuffix("\n")
    return values


class _EnvVariables(EnvSettingsSource):
    """The environment as pydantic-settings reads it, less the ``…_FILE`` variables (which
    would otherwise become keys of a dict setting such as ``kafka.users_admin_config``)."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return _without_file_variables(super()._load_env_vars())


class _EnvFiles(EnvSettingsSource):
    """``USERSTREAM_<NAME>_FILE`` of the environment: the setting read from that file."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return _from_files(super()._load_env_vars(), self.env_prefix)


class _DotEnvVariables(DotEnvSettingsSource):
    """``.env`` less its ``…_FILE`` variables (as ``_EnvVariables``)."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return _without_file_variables(super()._load_env_vars())


class _DotEnvFiles(DotEnvSettingsSource):
    """``USERSTREAM_<NAME>_FILE`` of ``.env``: the setting read from that file."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return _from_files(super()._load_env_vars(), self.env_prefix)


#: In the state folder while the local cluster runs (`up --cluster`, `stack up --cluster`;
#: `down` removes it): what the cluster changes in the settings, which every command then uses
#: where no variable or keyword says otherwise (``stack.local.cluster_settings``).
CLUSTER_MODE_FILE = "cluster-mode.json"


def _beneath(given: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """``given`` with the sections of ``defaults`` filled in where it names no value; a section
    given as a model (not a mapping of values) is left as it is."""
    merged = dict(given)
    for section, values in defaults.items():
        mine = merged.get(section)
        if mine is None:
            merged[section] = dict(values)
        elif isinstance(mine, Mapping):
            merged[section] = {**values, **mine}
    return merged


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="USERSTREAM_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    state_dir: Path = Field(default_factory=_default_state_dir)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    cassandra: CassandraSettings = Field(default_factory=CassandraSettings)
    source: SourceSettings = Field(default_factory=SourceSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    airflow: AirflowSettings = Field(default_factory=AirflowSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    housekeeping: HousekeepingSettings = Field(default_factory=HousekeepingSettings)

    @model_validator(mode="before")
    @classmethod
    def _in_cluster_mode(cls, data: Any) -> Any:
        """Beneath what was given, the settings of the local cluster while it runs."""
        if not isinstance(data, dict):
            return data
        state = Path(str(data.get("state_dir") or _default_state_dir()))
        try:
            mode = json.loads((state / CLUSTER_MODE_FILE).read_text())
        except (OSError, ValueError):
            return data
        return _beneath(data, mode) if isinstance(mode, dict) else data

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Keyword overrides, then the environment (files its ``…_FILE`` variables name
        # first), then ``.env`` (the same way).
        dotenv = dotenv_settings if isinstance(dotenv_settings, DotEnvSettingsSource) else None
        env_file = dotenv.env_file if dotenv is not None else None
        return (
            init_settings,
            _EnvFiles(settings_cls),
            _EnvVariables(settings_cls),
            _DotEnvFiles(settings_cls, env_file=env_file),
            _DotEnvVariables(settings_cls, env_file=env_file),
            file_secret_settings,
        )

    @model_validator(mode="after")
    def _local_kafka_logins(self) -> Settings:
        if self.kafka.logins_file is None:
            self.kafka._logins_file = self.paths.secrets / "kafka.json"
        return self

    @cached_property
    def paths(self) -> StatePaths:
        return StatePaths(self.state_dir.resolve())

    def checkpoint_location(self) -> str:
        """The checkpoint as Spark is given it: ``spark.checkpoint_dir`` verbatim (a URI
        keeps its ``//``), else the default folder in the state folder, one per topic,
        keyspace and Kafka: ``<topic>__<keyspace>`` for the local single broker, with
        ``__kafka-<digest of the brokers>`` appended for any other (the local cluster, yours).
        A checkpoint's offsets mean something only in the Kafka they were read from, so the
        single node and ``up --cluster`` each resume their own."""
        if self.spark.checkpoint_dir:
            return self.spark.checkpoint_dir
        name = f"{self.kafka.topic}__{self.cassandra.keyspace}"
        servers = sorted(s.strip().lower() for s in self.kafka.bootstrap_servers.split(","))
        if servers != [self.kafka.local_broker.lower()]:
            digest = hashlib.sha256(",".join(servers).encode()).hexdigest()[:10]
            name += f"__kafka-{digest}"
        return str(self.paths.checkpoints / name)

    def checkpoint_is_local(self) -> bool:
        """True when the checkpoint is a folder of this machine (a path or a ``file:`` URI)."""
        scheme = urlsplit(self.checkpoint_location()).scheme
        return scheme in ("", "file") or len(scheme) == 1  # one letter: a Windows drive

    def checkpoint_dir(self) -> Path:
        """The checkpoint's local folder; a ``ConfigError`` when it lives elsewhere (hdfs://,
        s3a://…), which only Spark reaches."""
        location = self.checkpoint_location()
        if not self.checkpoint_is_local():
            raise ConfigError(
                f"The stream's checkpoint {location} is not a folder of this machine.",
                hint="Spark reaches it; inspect or remove it with that file system's tools.",
            )
        parts = urlsplit(location)
        return Path(unquote(parts.path)) if parts.scheme == "file" else Path(location)


class StatePaths:
    """The layout of the state folder: data, logs, pids, jars, secrets, checkpoints."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def lib(self) -> Path:
        return self.root / "lib"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def airflow_home(self) -> Path:
        return self.root / "airflow"

    @property
    def results(self) -> Path:
        """Small JSON files other commands read: last stream progress, last DAG checks."""
        return self.root / "results"

    def pid_file(self, component: str) -> Path:
        return self.run / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        return self.logs / f"{component}.log"


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment and ``.env``; keyword overrides win. A value a
    setting cannot take is a ``SettingsInvalid`` naming the variable, its value and what it
    must be."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from userstream import settings_errors

    env_file = Path(str(Settings.model_config.get("env_file") or ".env"))
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise settings_errors.from_validation(exc, env_file) from None
    except SettingsError as exc:
        raise settings_errors.from_parsing(exc, Settings, env_file) from None
