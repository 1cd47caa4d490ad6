"""Config templates shipped as package data, rendered into the state folder."""

from __future__ import annotations

import os
import string
from importlib import resources
from pathlib import Path

from userstream.errors import ConfigError


def render(template: str, target: Path, values: dict[str, object], *, mode: int = 0o600) -> Path:
    """Render ``templates/<template>`` (``${name}`` placeholders) to ``target``, a file
    private to this user from its first byte (a rendered file may hold a password).

    Every placeholder must have a value: a missing one is a bug in the caller and raises
    ``ConfigError`` rather than leaving a literal ``${...}`` for the server to trip on.
    """
    text = resources.files("userstream.stack").joinpath("templates", template).read_text()
    try:
        rendered = string.Template(text).substitute({k: str(v) for k, v in values.items()})
    except KeyError as exc:
        raise ConfigError(f"The template {template} needs a value for {exc.args[0]}.") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.unlink(missing_ok=True)
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "w") as out:
        out.write(rendered)
    os.replace(tmp, target)
    return target


def template_lines(template: str) -> list[str]:
    """The non-blank, non-comment lines of a template (JVM option lists)."""
    text = resources.files("userstream.stack").joinpath("templates", template).read_text()
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
