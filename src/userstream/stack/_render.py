"""Config templates shipped as package data, rendered into the state folder."""

from __future__ import annotations

import string
from importlib import resources
from pathlib import Path

from userstream.errors import ConfigError
from userstream.files import write_private


def render(template: str, target: Path, values: dict[str, object], *, extra: str = "") -> Path:
    """Render ``templates/<template>`` (``${name}`` placeholders) to ``target``, a file
    private to this user from its first byte (a rendered file may hold a password), with
    ``extra`` (the user's own lines) at its end.

    Every placeholder must have a value: a missing one is a bug in the caller and raises
    ``ConfigError`` rather than leaving a literal ``${...}`` for the server to trip on.
    """
    text = resources.files("userstream.stack").joinpath("templates", template).read_text()
    try:
        rendered = string.Template(text).substitute({k: str(v) for k, v in values.items()})
    except KeyError as exc:
        raise ConfigError(f"The template {template} needs a value for {exc.args[0]}.") from exc
    write_private(target, rendered + extra)
    return target


def template_keys(template: str) -> set[str]:
    """The top-level keys a YAML template sets."""
    text = resources.files("userstream.stack").joinpath("templates", template).read_text()
    return {ln.split(":", 1)[0] for ln in text.splitlines() if ln[:1].isalpha() and ":" in ln}


def template_lines(template: str) -> list[str]:
    """The non-blank, non-comment lines of a template (JVM option lists)."""
    text = resources.files("userstream.stack").joinpath("templates", template).read_text()
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
