"""A user as Avro in the Confluent wire format: magic byte 0, the schema's 4-byte registry
id, the Avro binary — written by confluent-kafka's own ``AvroSerializer`` with the project's
schema (:mod:`userstream.schemas`), subject ``<topic>-value`` (TopicNameStrategy).

The schema is the API's user as the pipeline carries it, so :func:`to_record` only walks it:
every field the schema names is taken from the API's user (anything else is left behind, the
credentials always), with the two conversions the API's quirks need — a postcode or a
coordinate sent as a number becomes its text, an ISO-8601 date becomes the instant Avro's
``timestamp-millis`` holds. A user that does not fit (a required field missing, a value of
another type) raises :class:`NotInSchema` with the reason: the producer dead-letters that
user, as it does one too large, and goes on.

The registry is reached once, at :meth:`AvroValues.start`: the schema is registered there
(``auto.register.schemas``, the local registry's default) or looked up (a registry you run:
the version registered for the producer's schema, or with ``use_latest_version`` the
subject's latest). A registry that cannot be reached or refuses is a ``TransientError`` or
``ConfigError`` then, before any user is fetched, never a dead-lettered user.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from userstream import schemas
from userstream.errors import ConfigError, TransientError
from userstream.registry import client_config

if TYPE_CHECKING:
    from confluent_kafka.schema_registry.avro import AvroSerializer

    from userstream.config import Settings


class NotInSchema(ValueError):
    """The user does not fit the schema; the message says where and why."""


_Convert = Callable[[Any, str], Any]


def _text(value: Any, path: str) -> Any:
    if type(value) is str:
        return value
    raise NotInSchema(f"{path} must be text, not {_kind(value)}")


def _number_text(value: Any, path: str) -> Any:
    """The API sends a postcode as a number for some nations, coordinates as decimal text."""
    if type(value) is str:
        return value
    if type(value) is int or type(value) is float:
        return str(value)
    raise NotInSchema(f"{path} must be text or a number, not {_kind(value)}")


def _int(value: Any, path: str) -> Any:
    if type(value) is int and -(2**31) <= value < 2**31:
        return value
    if type(value) is int:
        raise NotInSchema(f"{path} is out of the range of a 32-bit integer")
    raise NotInSchema(f"{path} must be an integer, not {_kind(value)}")


def _long(value: Any, path: str) -> Any:
    if type(value) is int and -(2**63) <= value < 2**63:
        return value
    raise NotInSchema(f"{path} must be a 64-bit integer, not {_kind(value)}")


def _number(value: Any, path: str) -> Any:
    if type(value) is int or type(value) is float:
        return float(value)
    raise NotInSchema(f"{path} must be a number, not {_kind(value)}")


def _boolean(value: Any, path: str) -> Any:
    if type(value) is bool:
        return value
    raise NotInSchema(f"{path} must be true or false, not {_kind(value)}")


def _instant(value: Any, path: str) -> Any:
    """An ISO-8601 time (``Z`` or an offset; naive is UTC) as an aware datetime."""
    if type(value) is not str:
        raise NotInSchema(f"{path} must be an ISO-8601 timestamp, not {_kind(value)}")
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise NotInSchema(f"{path} is not an ISO-8601 timestamp") from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MILLISECOND = dt.timedelta(milliseconds=1)


def _instant_ms(value: Any, path: str) -> Any:
    """:func:`_instant` as the long ``timestamp-millis`` holds (what fastavro writes as is)."""
    millis = (_instant(value, path) - _EPOCH) // _MILLISECOND
    if not -(2**63) <= millis < 2**63:
        raise NotInSchema(f"{path} is out of range")
    return millis


#: The conversion of a leaf by its Avro type (and logical type); a postcode and coordinates
#: come as numbers from the API and are text in the schema.
_LEAVES: dict[str, _Convert] = {
    "string": _text,
    "uuid": _text,
    "int": _int,
    "long": _long,
    "float": _number,
    "double": _number,
    "boolean": _boolean,
    "timestamp-millis": _instant,
}
_NUMBER_AS_TEXT = frozenset(
    {"location.postcode", "location.coordinates.latitude", "location.coordinates.longitude"}
)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, dict) else type(value).__name__


def _build(schema: Any, path: str, namespace: str, wire: bool) -> Callable[[Any], Any]:
    """The converter of one (non-null) schema type at ``path``; ``wire``: see
    :func:`record_builder`."""
    if isinstance(schema, dict) and schema.get("type") == "record":
        namespace = schema.get("namespace", namespace)
        fields = []
        for field in schema["fields"]:
            kind = field["type"]
            optional = isinstance(kind, list) and "null" in kind
            if isinstance(kind, list):
                others = [k for k in kind if k != "null"]
                if len(others) != 1:
                    raise ConfigError(
                        f"the schema's {path}{field['name']} is a union we cannot fill"
                    )
                kind = others[0]
            convert = _build(kind, f"{path}{field['name']}.", namespace, wire)
            # fastavro's tuple notation names the union's branch, so it writes the record
            # without first trying it against each branch (half of its time otherwise).
            branch = _full_name(kind, namespace) if wire and optional else None
            fields.append((field["name"], optional, convert, branch))

        def record(value: Any) -> Any:
            if type(value) is not dict:
                raise NotInSchema(
                    f"{path.rstrip('.') or 'the user'} must be an object, not {_kind(value)}"
                )
            out: dict[str, Any] = {}
            for name, optional, convert, branch in fields:
                item = value.get(name)
                if item is None:
                    if not optional:
                        raise NotInSchema(f"{path}{name} is missing")
                    out[name] = None
                elif branch is None:
                    out[name] = convert(item)
                else:
                    out[name] = (branch, convert(item))
            return out

        return record
    name = path.rstrip(".")
    kind = (schema.get("logicalType") or schema["type"]) if isinstance(schema, dict) else schema
    leaf = _number_text if name in _NUMBER_AS_TEXT else _LEAVES.get(kind)
    if leaf is None:
        raise ConfigError(
            f"the schema's {name} has the type {kind!r}, which the producer cannot fill"
        )
    if wire and leaf is _instant:
        leaf = _instant_ms
    return lambda value: leaf(value, name)


def _full_name(schema: Any, namespace: str) -> str | None:
    """The full name of a record type (what fastavro's tuple notation names), else None."""
    if not (isinstance(schema, dict) and schema.get("type") == "record"):
        return None
    name: str = schema["name"]
    space = schema.get("namespace", namespace)
    return name if "." in name or not space else f"{space}.{name}"


def record_builder(schema: dict[str, Any], *, wire: bool = False) -> Callable[[Any], Any]:
    """:func:`to_record` for ``schema`` (a parsed ``.avsc``). With ``wire``, the record as
    fastavro writes it fastest, the same bytes: an instant as its epoch milliseconds, an
    optional record as ``(its full name, its fields)``."""
    return _build(schema, "", "", wire)


#: The API's user → the record the current schema describes, as a reader reads it back
#: (raises ``NotInSchema``).
to_record = record_builder(schemas.load())
#: The same record as the serializer hands it to fastavro (see ``record_builder``).
to_wire_record = record_builder(schemas.load(), wire=True)


class AvroValues:
    """Users as Confluent-framed Avro for one topic. ``start`` reaches the registry."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._serializer: AvroSerializer | None = None
        self._context: Any = None
        self.schema_id: int | None = None

    def start(self) -> None:
        """Register or look up the schema (``ConfigError``/``TransientError`` if it fails)."""
        from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
        from confluent_kafka.schema_registry.avro import AvroSerializer
        from confluent_kafka.serialization import MessageField, SerializationContext

        registry = self._settings.registry
        used = schemas.in_use(self._settings.kafka.value_schema)
        wire = (
            to_wire_record if used.is_projects else record_builder(json.loads(used.text), wire=True)
        )
        auto = client_config.auto_register(registry)
        client = SchemaRegistryClient(client_config.config(registry, self._settings.paths))
        subject = schemas.subject(self._settings.kafka.topic)
        schema = Schema(used.text, "AVRO")
        try:
            if registry.use_latest_version and not auto:
                self.schema_id = client.get_latest_version(subject).schema_id
            elif auto:
                self.schema_id = client.register_schema(subject, schema)
            else:
                self.schema_id = client.lookup_schema(subject, schema).schema_id
        except Exception as exc:
            raise registry_error(exc, registry.address, subject) from exc
        conf = {"auto.register.schemas": auto, "use.latest.version": registry.use_latest_version}
        self._serializer = AvroSerializer(
            client, used.text, lambda user, ctx: wire(user), conf=conf
        )
        self._context = SerializationContext(self._settings.kafka.topic, MessageField.VALUE)

    def encode(self, user: Any) -> bytes:
        """The wire-format bytes of ``user`` (without credentials); ``NotInSchema`` if it
        does not fit, with the reason."""
        if self._serializer is None:
            raise RuntimeError("AvroValues.start() was not called")
        try:
            value = self._serializer(user, self._context)
        except NotInSchema:
            raise
        except (TypeError, ValueError, KeyError, OverflowError, AttributeError) as exc:
            raise NotInSchema(f"the Avro serializer refused it: {exc}"[:500]) from None
        if value is None:  # only for a None user, which classify() sends to the DLQ first
            raise NotInSchema("the user is null")
        return value


def value_encoder(settings: Settings) -> Callable[[Any], bytes] | None:
    """The value encoder of ``kafka.value_format``, started (None for JSON: ``messages``'s)."""
    if settings.kafka.value_format == "json":
        return None
    values = AvroValues(settings)
    values.start()
    return values.encode


def registry_error(exc: BaseException, address: str, subject: str) -> Exception:
    """What a failed registry call means for the user: a ``ConfigError`` when the registry
    answered and refused (with its own words), else a ``TransientError``."""
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    if isinstance(exc, SchemaRegistryError):
        status, message = exc.http_status_code, exc.error_message
        if status in (401, 403):
            return ConfigError(
                f"The schema registry at {address} refused the login ({status}: {message}).",
                hint="Check USERSTREAM_REGISTRY__USERNAME and __PASSWORD (or its _FILE).",
            )
        if status == 404:
            return ConfigError(
                f"The schema registry at {address} has no version of {subject} for this "
                f"schema ({message}).",
                hint="Register it first: `userstream schema register`, or set "
                "USERSTREAM_REGISTRY__AUTO_REGISTER=true.",
            )
        if status == 409:
            return ConfigError(
                f"The schema registry at {address} refused the schema for {subject}: {message}",
                hint="The change is not compatible with the subject's versions: see "
                "`userstream schema check`.",
            )
        if status >= 500:
            return TransientError(f"The schema registry at {address} failed: {status} {message}")
        return ConfigError(f"The schema registry at {address} refused: {status} {message}")
    return TransientError(
        f"The schema registry at {address} does not answer ({type(exc).__name__}: {exc}).",
        hint="Start it with `userstream stack up`, or point USERSTREAM_REGISTRY__URL at yours.",
    )
