"""The registry's refusals, as Confluent's Schema Registry words them: an HTTP status, an
``error_code`` and a ``message`` (``{"error_code": 40401, "message": "Subject 'x' not
found."}``), so a client or tool written for Confluent's reads ours the same way."""

from __future__ import annotations

from dataclasses import dataclass

#: Confluent's codes (io.confluent.kafka.schemaregistry.rest.exceptions).
SUBJECT_NOT_FOUND = 40401
VERSION_NOT_FOUND = 40402
SCHEMA_NOT_FOUND = 40403
SUBJECT_CONFIG_NOT_FOUND = 40408
UNAUTHORIZED = 40101
INCOMPATIBLE = 409
INVALID_SCHEMA = 42201
INVALID_VERSION = 42202
INVALID_COMPATIBILITY_LEVEL = 42203
STORE_ERROR = 50001
STORE_TIMEOUT = 50002


@dataclass
class ApiError(Exception):
    """A request the registry refuses: ``status`` is the HTTP status, ``code`` and
    ``message`` the JSON body's ``error_code`` and ``message``."""

    status: int
    code: int
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def body(self) -> dict[str, object]:
        return {"error_code": self.code, "message": self.message}


def subject_not_found(subject: str) -> ApiError:
    return ApiError(404, SUBJECT_NOT_FOUND, f"Subject '{subject}' not found.")


def version_not_found(version: int) -> ApiError:
    return ApiError(404, VERSION_NOT_FOUND, f"Version {version} not found.")


def schema_not_found(detail: str = "Schema not found") -> ApiError:
    return ApiError(404, SCHEMA_NOT_FOUND, detail)


def subject_config_not_found(subject: str) -> ApiError:
    return ApiError(
        404,
        SUBJECT_CONFIG_NOT_FOUND,
        f"Subject '{subject}' does not have subject-level compatibility configured",
    )


def invalid_schema(why: str) -> ApiError:
    return ApiError(422, INVALID_SCHEMA, f"Invalid schema: {why}")


def invalid_version(text: str) -> ApiError:
    return ApiError(
        422,
        INVALID_VERSION,
        f"The specified version '{text}' is not a valid version id. Allowed values are "
        'between [1, 2^31-1] and the string "latest"',
    )


def invalid_compatibility_level(text: object) -> ApiError:
    return ApiError(
        422,
        INVALID_COMPATIBILITY_LEVEL,
        f"Invalid compatibility level {text!r}. Valid values are none, backward, forward, "
        "full, backward_transitive, forward_transitive, and full_transitive",
    )


def incompatible(message: str) -> ApiError:
    return ApiError(409, INCOMPATIBLE, message)


def unauthorized() -> ApiError:
    return ApiError(401, UNAUTHORIZED, "Unauthorized")


def store_error(why: str) -> ApiError:
    return ApiError(500, STORE_ERROR, f"Error in the backend data store: {why}")
