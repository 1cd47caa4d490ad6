"""Every Kafka client's connection settings, by role: the one place they are built.

Three roles, each its own Kafka user on the local broker, with ACLs to match
(``topics.ensure_acls``):

- ``admin``: topics, ACLs, users, offsets for status (a super user);
- ``producer``: writes the topic and its dead-letter topic;
- ``stream``: reads the topic (Spark's Kafka source) and writes the dead-letter topic.

Where a role's login comes from, first match wins:

1. ``kafka.client_config`` sets ``security.protocol``: a cluster of the operator's; its
   settings are used as given, for every role (their ACLs are the operator's).
2. The local stack's generated SCRAM-SHA-512 logins, ``<state>/secrets/kafka.json`` (0600,
   written by ``userstream stack up`` before the broker first starts).
3. Neither: PLAINTEXT without a login (a broker of the user's that needs none).

Passwords never go on a command line: librdkafka gets them in its config dict, Spark's
Kafka source as a ``kafka.sasl.jaas.config`` reader option (not a Spark conf).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from userstream.errors import ConfigError, TransientError

if TYPE_CHECKING:
    from userstream.config import KafkaSettings

Role = Literal["admin", "producer", "stream"]
ROLES: tuple[Role, ...] = ("admin", "producer", "stream")
MECHANISM = "SCRAM-SHA-512"
PROTOCOL = "SASL_PLAINTEXT"
#: Kafka's minimum for SCRAM-SHA-512; each login costs the client and broker this many rounds.
SCRAM_ITERATIONS = 4096
#: The broker's own login on its controller listener (SASL/PLAIN: SCRAM users live in the
#: metadata log, which the controller serves, so they cannot guard the controller itself).
CONTROLLER = "controller"
#: Kafka user names of the roles on the local broker.
USERNAMES: dict[str, str] = {
    "admin": "userstream_admin",
    "producer": "userstream_producer",
    "stream": "userstream_stream",
    CONTROLLER: "userstream_controller",
}
_JAAS_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}
#: Consumer groups the stream role may use (Spark's source gets it as ``groupIdPrefix``;
#: your own tools reading as the stream role name their groups with it too).
STREAM_GROUP_PREFIX = "userstream-stream"
#: librdkafka keys that Java clients spell differently (handled by ``spark_options``).
_LIBRDKAFKA_ONLY = {
    "sasl.username",
    "sasl.password",
    "ssl.ca.location",
    "ssl.ca.pem",
    "ssl.certificate.location",
    "ssl.key.location",
    "enable.ssl.certificate.verification",
}


@dataclass(frozen=True)
class Login:
    username: str
    password: str = field(repr=False)


def operator_managed(kafka: KafkaSettings) -> bool:
    """True when ``client_config`` chooses the security protocol (a cluster of the operator's)."""
    return "security.protocol" in kafka.client_config


def local_logins(kafka: KafkaSettings) -> dict[str, Login] | None:
    """The local stack's generated logins by role (plus the controller's), or None."""
    if operator_managed(kafka) or kafka.logins_file is None or not kafka.logins_file.is_file():
        return None
    data = json.loads(kafka.logins_file.read_text())
    return {role: Login(**value) for role, value in data.items()}


def generate_logins(kafka: KafkaSettings) -> dict[str, Login]:
    """Write new random logins for every user of ``USERNAMES`` to ``kafka.logins_file``
    (0600, in a 0700 folder) and return them."""
    from userstream.files import write_json

    path = kafka.logins_file
    if path is None:
        raise ValueError("no place for the Kafka logins: settings without a state folder")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    generated = {
        role: {"username": name, "password": secrets.token_urlsafe(32)}
        for role, name in USERNAMES.items()
    }
    write_json(path, generated)
    return {role: Login(**value) for role, value in generated.items()}


def ensure_users(admin: dict[str, str], logins: dict[str, Login], roles: Iterable[str]) -> None:
    """Create (or re-set) the SCRAM users of ``roles``, logged in with the librdkafka settings
    ``admin`` (a user allowed to alter users). Idempotent. Raises ``TransientError``."""
    from confluent_kafka.admin import (
        AdminClient,
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialAlteration,
        UserScramCredentialUpsertion,
    )

    client = AdminClient(dict(admin))  # kept until the futures resolve
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    upserts: list[UserScramCredentialAlteration] = [
        UserScramCredentialUpsertion(logins[role].username, info, logins[role].password.encode())
        for role in roles
    ]
    for user, future in client.alter_user_scram_credentials(upserts).items():
        try:
            future.result(timeout=30)
        except Exception as exc:
            raise TransientError(
                f"Kafka at {admin.get('bootstrap.servers')} did not create the user {user}: {exc}",
                hint="Check the broker's log; the login used must be allowed to alter users.",
            ) from exc


def config(kafka: KafkaSettings, role: Role) -> dict[str, str]:
    """librdkafka settings for ``role``: bootstrap servers, security and login."""
    settings = {"bootstrap.servers": kafka.bootstrap_servers}
    logins = local_logins(kafka)
    if logins is not None:
        login = logins[role]
        settings.update(
            {
                "security.protocol": PROTOCOL,
                "sasl.mechanism": MECHANISM,
                "sasl.username": login.username,
                "sasl.password": login.password,
            }
        )
    settings.update({key: str(value) for key, value in kafka.client_config.items()})
    return settings


def jaas_config(mechanism: str, login: Login) -> str:
    """A Java client's ``sasl.jaas.config`` for ``login``."""
    module = _JAAS_MODULES.get(mechanism.upper())
    if module is None:
        raise ValueError(f"no JAAS login module known for SASL mechanism {mechanism!r}")
    user = login.username.replace("\\", "\\\\").replace('"', '\\"')
    password = login.password.replace("\\", "\\\\").replace('"', '\\"')
    return f'{module} required username="{user}" password="{password}";'


def java_tls(settings: dict[str, str]) -> dict[str, str]:
    """librdkafka's TLS keys in ``settings`` as the Java client's: the CA (a PEM file or
    text; ``probe`` leaves Java its own trust store) as a PEM trust store, a client
    certificate and its key (one PEM file holding both, the key PKCS#8) as a PEM key store,
    and ``ssl.endpoint.identification.algorithm=none`` as Java's empty value. Raises
    ``ConfigError`` for what the Java client cannot be told."""
    inline = sorted({"ssl.key.pem", "ssl.certificate.pem"} & set(settings))
    if inline:
        raise ConfigError(
            f"{' and '.join(inline)} (a key or certificate as text) cannot be handed to Spark's "
            "Kafka client (Java) without showing the key in the query's options.",
            hint="Put the key (PKCS#8) and the certificate chain in one PEM file and name it "
            "in ssl.certificate.location and ssl.key.location.",
        )
    java: dict[str, str] = {}
    ca = settings.get("ssl.ca.location")
    if ca and ca != "probe":  # "probe": the system's CAs; Java's own trust store then
        if os.path.isdir(ca):
            raise ConfigError(
                f"ssl.ca.location {ca} is a directory; Spark's Kafka client (Java) reads the "
                "CA certificates from one PEM file.",
                hint="Concatenate the certificates into one PEM file and name it instead.",
            )
        java |= {"ssl.truststore.type": "PEM", "ssl.truststore.location": ca}
    elif "ssl.ca.pem" in settings:
        java |= {"ssl.truststore.type": "PEM",
                 "ssl.truststore.certificates": settings["ssl.ca.pem"]}  # fmt: skip
    cert, key = settings.get("ssl.certificate.location"), settings.get("ssl.key.location")
    if cert or key:
        if cert != key:
            raise ConfigError(
                "Spark's Kafka client (Java) reads a client certificate and its key from one "
                "PEM file, but ssl.certificate.location and ssl.key.location differ.",
                hint="Put the key and the certificate chain in one PEM file and name it in "
                "both keys of USERSTREAM_KAFKA__CLIENT_CONFIG.",
            )
        java |= {"ssl.keystore.type": "PEM", "ssl.keystore.location": str(cert)}
    if settings.get("enable.ssl.certificate.verification", "true").lower() == "false":
        raise ConfigError(
            "enable.ssl.certificate.verification=false has no equivalent in Spark's Kafka "
            "client (Java), which always verifies the brokers' certificates.",
            hint="Give the CA that signed them instead (ssl.ca.location).",
        )
    if settings.get("ssl.endpoint.identification.algorithm", "").lower() == "none":
        java["ssl.endpoint.identification.algorithm"] = ""
    return java


def spark_options(kafka: KafkaSettings, role: Role) -> dict[str, str]:
    """``kafka.*`` options for Spark's Kafka source or sink (Java client names)."""
    settings = config(kafka, role)
    # librdkafka also takes the plural spelling; Java clients know only the singular one.
    if "sasl.mechanisms" in settings:
        settings.setdefault("sasl.mechanism", settings.pop("sasl.mechanisms"))
    settings.update(java_tls(settings))
    options = {f"kafka.{k}": v for k, v in settings.items() if k not in _LIBRDKAFKA_ONLY}
    if "sasl.username" in settings and "kafka.sasl.jaas.config" not in options:
        login = Login(settings["sasl.username"], settings.get("sasl.password", ""))
        options["kafka.sasl.jaas.config"] = jaas_config(settings.get("sasl.mechanism", ""), login)
    return options


def properties(settings: dict[str, str]) -> str:
    """``settings`` as a librdkafka properties file (``kcat -F``, ``confluent-kafka``)."""
    lines = [f"{key}={value}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"
