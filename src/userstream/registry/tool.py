"""``userstream schema check | register | show``: a schema change checked before it ships.

- :func:`check_history`: the schema (the project's, or a file being edited) against every
  released version in ``userstream/schemas/history`` — ``BACKWARD_TRANSITIVE``: the stream
  reading with it reads whatever a released producer wrote. No registry needed (CI runs it).
- :func:`check_registry`: the same question asked of the registry in use, for the topic's
  subject under the subject's own compatibility level, answered in the registry's words
  (``POST /compatibility/subjects/<subject>/versions/latest?verbose=true``).
- :func:`register` and :func:`show`: what the producer registers on first use, on demand
  (a registry you run has auto-registration off), and what is registered.

Any Confluent-compatible registry works: the requests are its REST API, with the client
settings of ``client_config``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from userstream import schemas
from userstream.errors import ConfigError, TransientError
from userstream.registry import client_config
from userstream.registry.compatibility import InvalidSchema, check, parse

if TYPE_CHECKING:
    from userstream.config import RegistrySettings, Settings

_CONTENT = "application/vnd.schemaregistry.v1+json"


@dataclass(frozen=True)
class Verdict:
    """Whether a schema may ship, against what, and the checker's or registry's words."""

    compatible: bool
    against: str
    messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Registered:
    subject: str
    id: int
    version: int
    schema: str


def schema_text(path: Path | None) -> str:
    """The schema at ``path``, or the project's; ``ConfigError`` when it is not Avro or has
    an added field the stream cannot store (``schemas.added_fields``)."""
    text = schemas.text() if path is None else _read(path)
    where = path or schemas.path()
    try:
        parse(text)
        schemas.added_fields(json.loads(text))
    except InvalidSchema as exc:
        raise ConfigError(f"{where} is not an Avro schema: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{where} cannot be used: {exc}") from None
    return text


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read ({exc.strerror or exc}).") from None


def check_history(text: str) -> Verdict:
    """``text`` against every released version (oldest first), by Avro's own checker."""
    released = schemas.history()
    versions = [(version, parse(file.read_text())) for version, file in released]
    found = check("BACKWARD_TRANSITIVE", parse(text), versions)
    names = ", ".join(f"v{version}" for version, _ in released) or "none"
    return Verdict(not found, f"the released versions ({names})", tuple(found))


def _client(settings: Settings) -> Any:
    import httpx

    conf = client_config.config(settings.registry, settings.paths)
    auth = None
    if "basic.auth.user.info" in conf:
        user, _, password = conf["basic.auth.user.info"].partition(":")
        auth = (user, password)
    certificate, key = conf.get("ssl.certificate.location"), conf.get("ssl.key.location")
    cert = (certificate, key) if certificate and key else certificate
    return httpx.Client(
        base_url=conf["url"],
        auth=auth,
        verify=conf.get("ssl.ca.location", True),
        cert=cert,
        timeout=30,
        headers={"Accept": _CONTENT, "Content-Type": _CONTENT},
    )


def _call(settings: Settings, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One request; the answer's JSON and status. A registry that does not answer is a
    ``TransientError`` saying how to start or point at one."""
    import httpx

    address = settings.registry.address
    try:
        with _client(settings) as client:
            response = client.request(method, path, json=body)
    except httpx.HTTPError as exc:
        raise TransientError(
            f"The schema registry at {address} does not answer ({type(exc).__name__}: {exc}).",
            hint="Start the local one with `userstream stack up`, or set "
            "USERSTREAM_REGISTRY__URL to yours.",
        ) from None
    try:
        answer = response.json()
    except ValueError:
        answer = {"message": response.text[:300]}
    if response.status_code in (401, 403):
        raise ConfigError(
            f"The schema registry at {address} refused the login: {answer.get('message')}",
            hint="Check USERSTREAM_REGISTRY__USERNAME and __PASSWORD (or its _FILE).",
        )
    return response.status_code, answer


def _refused(registry: RegistrySettings, status: int, answer: Any) -> ConfigError:
    code = answer.get("error_code", status) if isinstance(answer, dict) else status
    said = answer.get("message") if isinstance(answer, dict) else answer
    return ConfigError(f"The schema registry at {registry.address} said {code}: {said}")


def check_registry(settings: Settings, text: str) -> Verdict:
    """Whether the registry would take ``text`` as the next version of the topic's subject."""
    subject = schemas.subject(settings.kafka.topic)
    path = f"/compatibility/subjects/{quote(subject, safe='')}/versions/latest?verbose=true"
    status, answer = _call(settings, "POST", path, {"schema": text, "schemaType": "AVRO"})
    against = f"{subject} at {settings.registry.address}"
    if status == 404 and answer.get("error_code") in (40401, 40402):
        return Verdict(True, f"{against} (nothing registered yet)")
    if status != 200:
        raise _refused(settings.registry, status, answer)
    return Verdict(bool(answer.get("is_compatible")), against, tuple(answer.get("messages", ())))


def register(settings: Settings, text: str) -> Registered:
    """Register ``text`` under the topic's subject (the same schema again: the same id);
    a ``ConfigError`` with the registry's own words when it refuses."""
    subject = schemas.subject(settings.kafka.topic)
    quoted = quote(subject, safe="")
    body = {"schema": text, "schemaType": "AVRO"}
    status, answer = _call(settings, "POST", f"/subjects/{quoted}/versions", body)
    if status != 200:
        raise _refused(settings.registry, status, answer)
    status, found = _call(settings, "POST", f"/subjects/{quoted}", body)
    if status != 200:
        raise _refused(settings.registry, status, found)
    return Registered(subject, int(found["id"]), int(found["version"]), str(found["schema"]))


def show(settings: Settings, version: str = "latest") -> Registered:
    """The topic's subject's ``version`` (a number or ``latest``) as registered."""
    subject = schemas.subject(settings.kafka.topic)
    path = f"/subjects/{quote(subject, safe='')}/versions/{quote(version, safe='')}"
    status, answer = _call(settings, "GET", path)
    if status != 200:
        raise _refused(settings.registry, status, answer)
    return Registered(subject, int(answer["id"]), int(answer["version"]), str(answer["schema"]))
