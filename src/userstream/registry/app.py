"""The registry's REST API: the subset of Confluent's Schema Registry that clients
(confluent-kafka's ``SchemaRegistryClient`` and serdes) and tools use, as a Starlette app.

Routes (``{v}``: a version number, ``latest`` or ``-1``):

- ``POST /subjects/{s}/versions`` register (``{"schema": TEXT}``, ``schemaType`` AVRO,
  no ``references``) → ``{"id": N}``; ``POST /subjects/{s}`` look up → subject, id,
  version, schema;
- ``GET /schemas/ids/{id}`` → ``{"schema": TEXT}``, ``…/versions``, ``…/subjects``;
  ``GET /schemas/types``;
- ``GET /subjects``, ``GET /subjects/{s}/versions``, ``GET /subjects/{s}/versions/{v}``,
  ``GET /subjects/{s}/versions/{v}/schema``;
- ``POST /compatibility/subjects/{s}/versions/{v}`` → ``{"is_compatible": bool}`` (and
  ``messages`` with ``?verbose=true``);
- ``GET|PUT /config``, ``GET|PUT /config/{s}`` (``GET /config/{s}`` of a subject without
  its own level: 40408, unless ``?defaultToGlobal=true``).

Every route asks for HTTP basic auth (compared in constant time) but ``GET /`` (health,
``{}``) and ``GET /metrics`` (Prometheus: request and schema counts, nothing secret).
Errors are Confluent's JSON bodies (``api_errors``); answers are
``application/vnd.schemaregistry.v1+json``, requests may be that or ``application/json``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from userstream.registry import api_errors
from userstream.registry.api_errors import ApiError
from userstream.registry.store import Registry

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"
#: Paths answered without a login.
OPEN_PATHS = frozenset({"/", "/metrics"})


def answer(data: object, status: int = 200) -> Response:
    return Response(json.dumps(data), status_code=status, media_type=MEDIA_TYPE)


def _refusal(error: ApiError) -> Response:
    response = answer(error.body(), error.status)
    if error.status == 401:
        response.headers["www-authenticate"] = 'Basic realm="userstream-registry"'
    return response


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise ApiError(400, 400, f"The body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, 400, "The body must be a JSON object.")
    return data


def _schema_text(body: dict[str, Any]) -> str:
    kind = body.get("schemaType") or "AVRO"
    if str(kind).upper() != "AVRO":
        raise api_errors.invalid_schema(f"schemaType {kind} is not supported here (AVRO only)")
    if body.get("references"):
        raise api_errors.invalid_schema("schema references are not supported here")
    text = body.get("schema")
    if not isinstance(text, str):
        raise api_errors.invalid_schema("the body has no 'schema' text")
    return text


def _schema_id(request: Request) -> int:
    text = str(request.path_params["schema_id"])
    if not text.isdigit():
        raise api_errors.schema_not_found(f"Schema {text} not found")
    return int(text)


class _Metrics:
    def __init__(self, registry: Registry) -> None:
        self.collectors = CollectorRegistry()
        self.requests = Counter(
            "userstream_registry_requests", "Requests answered, by method and status.",
            ["method", "status"], registry=self.collectors,
        )  # fmt: skip
        subjects = Gauge("userstream_registry_subjects", "Subjects with a version.",
                         registry=self.collectors)  # fmt: skip
        subjects.set_function(lambda: len(registry.subjects()))
        self.refused = Counter(
            "userstream_registry_incompatible", "Schemas refused as incompatible.",
            registry=self.collectors,
        )  # fmt: skip


def build_app(registry: Registry, username: str, password: str) -> Starlette:
    """The API over ``registry``; every request but ``OPEN_PATHS`` must log in as
    ``username``/``password``."""
    user_bytes, password_bytes = username.encode(), password.encode()
    metrics = _Metrics(registry)

    def authorized(header: str | None) -> bool:
        scheme, _, encoded = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given_user, _, given_password = base64.b64decode(encoded, validate=True).partition(b":")
        except (binascii.Error, ValueError):
            return False
        # Both compared, always: how long it takes says nothing about which one was wrong.
        same_user = hmac.compare_digest(given_user, user_bytes)
        same_password = hmac.compare_digest(given_password, password_bytes)
        return same_user and same_password

    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.url.path in OPEN_PATHS and request.method == "GET":
            response = await call_next(request)
        elif not authorized(request.headers.get("authorization")):
            response = _refusal(api_errors.unauthorized())
        else:
            response = await call_next(request)
        metrics.requests.labels(request.method, str(response.status_code)).inc()
        return response

    async def root(request: Request) -> Response:
        return answer({})

    def prometheus(request: Request) -> Response:
        return Response(generate_latest(metrics.collectors),
                        media_type="text/plain; version=0.0.4; charset=utf-8")  # fmt: skip

    def subjects(request: Request) -> Response:
        return answer(registry.subjects())

    def versions(request: Request) -> Response:
        return answer(registry.versions(request.path_params["subject"]))

    def version(request: Request) -> Response:
        p = request.path_params
        return answer(registry.version(p["subject"], p["version"]).as_dict())

    def version_schema(request: Request) -> Response:
        p = request.path_params
        text = registry.version(p["subject"], p["version"]).schema
        return Response(text, media_type=MEDIA_TYPE)

    async def register(request: Request) -> Response:
        text = _schema_text(await _body(request))
        subject = request.path_params["subject"]
        try:
            schema_id = await _in_thread(registry.register, subject, text)
        except ApiError as exc:
            if exc.status == 409:
                metrics.refused.inc()
            raise
        return answer({"id": schema_id})

    async def lookup(request: Request) -> Response:
        text = _schema_text(await _body(request))
        return answer(registry.lookup(request.path_params["subject"], text).as_dict())

    def schema_by_id(request: Request) -> Response:
        return answer({"schema": registry.schema(_schema_id(request))})

    def schema_versions(request: Request) -> Response:
        uses = registry.uses(_schema_id(request))
        return answer([{"subject": s, "version": v} for s, v in uses])

    def schema_subjects(request: Request) -> Response:
        uses = registry.uses(_schema_id(request))
        return answer(sorted({s for s, _ in uses}))

    def schema_types(request: Request) -> Response:
        return answer(["AVRO"])

    async def compatibility(request: Request) -> Response:
        text = _schema_text(await _body(request))
        p = request.path_params
        findings = registry.test(p["subject"], p["version"], text)
        body: dict[str, object] = {"is_compatible": not findings}
        if request.query_params.get("verbose", "").lower() == "true":
            body["messages"] = findings
        return answer(body)

    async def config(request: Request) -> Response:
        subject = request.path_params.get("subject")
        if request.method == "PUT":
            wanted = (await _body(request)).get("compatibility")
            return answer({"compatibility": await _in_thread(
                registry.set_compatibility, subject, wanted)})  # fmt: skip
        level = registry.compatibility(subject)
        if level is None:
            if request.query_params.get("defaultToGlobal", "").lower() != "true":
                raise api_errors.subject_config_not_found(str(subject))
            level = registry.compatibility(None)
        return answer({"compatibilityLevel": level})

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return _refusal(exc)

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "Internal Server Error"
        return answer({"error_code": status, "message": f"HTTP {status} {detail}"}, status)

    return Starlette(
        routes=[
            Route("/", root),
            Route("/metrics", prometheus),
            Route("/subjects", subjects),
            Route("/subjects/{subject}", lookup, methods=["POST"]),
            Route("/subjects/{subject}/versions", versions, methods=["GET"]),
            Route("/subjects/{subject}/versions", register, methods=["POST"]),
            Route("/subjects/{subject}/versions/{version}", version),
            Route("/subjects/{subject}/versions/{version}/schema", version_schema),
            Route("/schemas/types", schema_types),
            Route("/schemas/ids/{schema_id}", schema_by_id),
            Route("/schemas/ids/{schema_id}/versions", schema_versions),
            Route("/schemas/ids/{schema_id}/subjects", schema_subjects),
            Route(
                "/compatibility/subjects/{subject}/versions/{version}",
                compatibility,
                methods=["POST"],
            ),
            Route("/config", config, methods=["GET", "PUT"]),
            Route("/config/{subject}", config, methods=["GET", "PUT"]),
        ],
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=guard)],
        exception_handlers={ApiError: refused, HTTPException: not_found},
    )


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """A write waits for Kafka's acknowledgement: off the event loop."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)
