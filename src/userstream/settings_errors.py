"""A wrong setting as one line a person can act on: the variable as it was written (in the
environment or ``.env``), its value, and what it must be — never pydantic's traceback.

``load_settings`` turns pydantic's ``ValidationError`` and pydantic-settings'
``SettingsError`` (a list or map setting whose value is not JSON) into
:class:`SettingsInvalid`, which the command line prints and exits with code 2.
"""

from __future__ import annotations

import json
import os
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from userstream.errors import ConfigError

PREFIX = "USERSTREAM_"
DELIMITER = "__"
#: What pydantic's error types mean, said for a setting.
_WANT = {
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "text",
    "literal_error": None,  # pydantic's message lists the choices
    "greater_than_equal": None,
    "less_than_equal": None,
    "greater_than": None,
    "string_pattern_mismatch": None,
    "list_type": 'a JSON list, e.g. ["a", "b"]',
    "dict_type": 'a JSON object, e.g. {"key": "value"}',
    "path_type": "a file system path",
}


class SettingsInvalid(ConfigError):
    """A setting's value is not one it can take; the command line exits with code 2."""

    exit_code = 2


def _written(name: str, sources: Iterable[Mapping[str, str | None]]) -> tuple[str, str | None]:
    """The variable as the user spelled it (any case) and its value, first source first."""
    for source in sources:
        for key, value in source.items():
            if key.upper() == name:
                return key, value
    return name, None


def _dotenv(env_file: Path | None) -> dict[str, str | None]:
    if env_file is None or not env_file.is_file():
        return {}
    from dotenv import dotenv_values

    return dict(dotenv_values(env_file))


def _variable(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if not isinstance(p, int)]
    return PREFIX + DELIMITER.join(p.upper() for p in parts)


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return repr(text if len(text) <= 80 else text[:77] + "...")


def from_validation(exc: Any, env_file: Path | None) -> SettingsInvalid:
    """One line per wrong setting of a pydantic ``ValidationError``."""
    sources: list[Mapping[str, str | None]] = [os.environ, _dotenv(env_file)]
    lines = []
    for error in exc.errors():
        name, written = _written(_variable(error["loc"]), sources)
        value = written if written is not None else error.get("input")
        want = _WANT.get(error["type"])
        said = error["msg"]
        must = f"must be {want} ({said})" if want else said[0].lower() + said[1:]
        lines.append(f"{name}={_shown(value)}: {must}")
    return SettingsInvalid(
        "; ".join(lines) + ".",
        hint="Fix the variable in the environment or in .env (docs/configuration.md).",
    )


def _complex(model: type[BaseModel], key: str) -> str | None:
    """'list' or 'dict' when ``key`` of ``model`` is a setting given as JSON, else None."""
    field = model.model_fields.get(key.lower())
    if field is None:
        return None
    annotation = field.annotation
    kinds = {typing.get_origin(a) or a for a in [annotation, *typing.get_args(annotation)]}
    if list in kinds:
        return "list"
    if dict in kinds:
        return "dict"
    return None


def from_parsing(
    exc: Exception, settings_cls: type[BaseModel], env_file: Path | None
) -> SettingsInvalid:
    """The list or map setting whose value is not JSON (pydantic-settings names only its
    section); the original message when none can be found."""
    for source in (os.environ, _dotenv(env_file)):
        for key, value in source.items():
            upper = key.upper()
            if not upper.startswith(PREFIX) or DELIMITER not in upper or value is None:
                continue
            section, _, name = upper[len(PREFIX) :].partition(DELIMITER)
            field = settings_cls.model_fields.get(section.lower())
            model = field.annotation if field is not None else None
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                continue
            kind = _complex(model, name)
            if kind is None:
                continue
            try:
                json.loads(value)
            except ValueError:
                want = _WANT[f"{kind}_type"]
                return SettingsInvalid(
                    f"{key}={_shown(value)}: must be {want}.",
                    hint="Fix the variable in the environment or in .env (docs/configuration.md).",
                )
    return SettingsInvalid(str(exc), hint="Check the USERSTREAM_* variables and .env.")
