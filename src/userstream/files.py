"""Small files written whole: a reader sees the old content or the new one, never half a
file, and nobody else reads them — each is 0600 from its first byte (they may hold a
password, and the state folder is private)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path


def write_private(path: Path, text: str, *, durable: bool = True) -> None:
    """Replace ``path`` with ``text`` in one rename, mode 0600; synced to disk first unless
    ``durable`` is False (a status file rewritten every second, which a crash may lose)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Unique per writer, so two processes or threads replacing one file never collide.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            if durable:
                os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(
    path: Path, data: Mapping[str, object], *, indent: int | None = None, durable: bool = True
) -> None:
    """``write_private`` of ``data`` as JSON (values JSON cannot hold are written as text)."""
    write_private(path, json.dumps(data, indent=indent, default=str) + "\n", durable=durable)


def project_file(relative: str) -> Path | None:
    """A file of the project's checkout beside the package (``cassandra/init.cql``,
    ``monitoring/alerts.yml``), else of the working directory (an image's /opt/userstream);
    None when neither has it."""
    for root in (Path(__file__).resolve().parents[2], Path.cwd()):
        if (root / relative).is_file():
            return root / relative
    return None
