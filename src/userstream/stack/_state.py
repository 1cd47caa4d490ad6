"""The state folder's layout version and its secrets folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

from userstream.config import StatePaths
from userstream.errors import ConfigError

# Bump when the layout of the state folder changes in a way an older/newer release cannot read.
LAYOUT_VERSION = "1"


def ensure_layout(paths: StatePaths) -> None:
    """Create the state folder (writing ``VERSION``) or refuse one of another layout.

    Raises ``ConfigError`` when ``<state>/VERSION`` names another layout: mixing layouts
    would make a broker or node read data it does not understand.
    """
    paths.root.mkdir(parents=True, exist_ok=True)
    marker = paths.root / "VERSION"
    if marker.is_file():
        found = marker.read_text().strip()
        if found != LAYOUT_VERSION:
            raise ConfigError(
                f"The state folder {paths.root} was written by another version of userstream "
                f"(layout {found!r}, this one reads {LAYOUT_VERSION!r}).",
                hint="Use the matching userstream release, or point USERSTREAM_STATE_DIR at a "
                "new folder (the old data stays where it is).",
            )
        return
    marker.write_text(LAYOUT_VERSION + "\n")


def secrets_dir(paths: StatePaths) -> Path:
    """``<state>/secrets``, created with mode 0700 (and tightened if it already exists)."""
    paths.secrets.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(paths.secrets, 0o700)
    return paths.secrets


def write_secret_json(path: Path, data: dict[str, str]) -> None:
    """Write ``data`` to ``path`` atomically; the file is 0600 from its first byte."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
