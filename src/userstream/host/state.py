"""The state folder: private to its owner, its layout version, its secrets folder.

Everything below the state folder holds personal data (Kafka segments, SSTables,
checkpoints, logs) or secrets, so the folder is 0700 and what is written into it is
private from its first byte: our own writes use ``PRIVATE_UMASK`` (the CLI sets it for
itself) or explicit 0600/0700 modes, and every process we start runs with it.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from pathlib import Path

from userstream.config import StatePaths
from userstream.errors import ConfigError
from userstream.files import write_json, write_private

# Bump when the layout of the state folder changes in a way an older/newer release cannot read.
LAYOUT_VERSION = "1"
#: Files 0600 and folders 0700 for everything created under it.
PRIVATE_UMASK = 0o077


def ensure_root(paths: StatePaths) -> Path:
    """The state folder, created with mode 0700 or tightened to it.

    An existing folder is tightened too (older releases left it 0755): that alone keeps
    other users out of everything below it. ``ConfigError`` when it cannot be.
    """
    root = paths.root
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    if stat.S_IMODE(root.stat().st_mode) != 0o700:
        try:
            os.chmod(root, 0o700)
        except OSError as exc:
            raise ConfigError(
                f"The state folder {root} cannot be made private (mode 0700): {exc.strerror}.",
                hint="Point USERSTREAM_STATE_DIR at a folder of your own.",
            ) from exc
    return root


def ensure_layout(paths: StatePaths) -> None:
    """Create the state folder (writing ``VERSION``) or refuse one of another layout.

    Raises ``ConfigError`` when ``<state>/VERSION`` names another layout: mixing layouts
    would make a broker or node read data it does not understand.
    """
    ensure_root(paths)
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
    write_private(marker, LAYOUT_VERSION + "\n")


def secrets_dir(paths: StatePaths) -> Path:
    """``<state>/secrets``, created with mode 0700 (and tightened if it already exists)."""
    ensure_root(paths)
    paths.secrets.mkdir(exist_ok=True, mode=0o700)
    os.chmod(paths.secrets, 0o700)
    return paths.secrets


#: A secret's JSON file: written whole and 0600 from its first byte.
write_secret_json = write_json


#: Seconds a walk of the state folder is reused (`status --watch` and the dashboard ask often;
#: a walk of a few thousand files costs ~0.1 s of a core).
SIZES_FOR_S = 60.0
_sizes: dict[Path, tuple[float, dict[str, int]]] = {}


def disk_usage(paths: StatePaths) -> tuple[dict[str, int], int]:
    """The bytes the state folder holds per top-level folder (``logs``, ``data``, …; its
    own files under ``""``; walked at most every ``SIZES_FOR_S``), and the free bytes of its
    filesystem now (of the nearest existing folder above it, before it is made)."""
    root = paths.root
    existing = next(p for p in (root, *root.parents) if p.exists())
    free = shutil.disk_usage(existing).free
    walked = _sizes.get(root)
    if walked is None or time.monotonic() - walked[0] > SIZES_FOR_S:
        walked = (time.monotonic(), folder_sizes(root))
        _sizes[root] = walked
    return walked[1], free


def folder_sizes(root: Path) -> dict[str, int]:
    """The bytes on disk under ``root`` per top-level folder (its own files under ``""``)."""
    sizes: dict[str, int] = {}
    for top, _dirs, files in os.walk(root):
        part = Path(top).relative_to(root).parts
        key = part[0] if part else ""
        for name in files:
            try:
                sizes[key] = sizes.get(key, 0) + os.lstat(os.path.join(top, name)).st_blocks * 512
            except FileNotFoundError:
                continue  # deleted while we walked: a rotated log, a compacted SSTable
    return sizes
