"""The page is whole offline: every asset it loads is ours, vendored and packaged."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path, PurePosixPath

from userstream.dashboard.server import STATIC

REPO = Path(__file__).resolve().parents[3]


def test_the_page_loads_only_its_own_files_and_they_exist() -> None:
    html = (STATIC / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs, "the page names no assets"
    for ref in refs:
        assert not re.match(r"^[a-z]+:|^//", ref), f"{ref} is not from this server"
        assert (STATIC / ref.removeprefix("static/")).is_file(), ref
    for name in ("app.js", "style.css", "index.html"):
        text = (STATIC / name).read_text()
        assert not re.search(r"https?://|//cdn|@import", text), f"{name} loads from elsewhere"


def test_chart_js_is_the_version_and_bytes_the_notice_names() -> None:
    notice = (STATIC / "vendor" / "NOTICE").read_text()
    vendored = (STATIC / "vendor" / "chart.umd.min.js").read_bytes()
    version = re.search(r"Chart\.js (\d+\.\d+\.\d+)", notice)
    assert version and f"Chart.js v{version[1]}".encode() in vendored[:200]
    assert hashlib.sha256(vendored).hexdigest() in notice
    assert "MIT" in (STATIC / "vendor" / "chart.js-LICENSE.md").read_text()


def test_every_static_file_is_package_data() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["userstream"]
    package = STATIC.parents[1]
    for path in STATIC.rglob("*"):
        if path.is_file():
            relative = PurePosixPath(path.relative_to(package).as_posix())
            # setuptools globs: a "*" never crosses a folder.
            same_depth = [p for p in patterns if len(PurePosixPath(p).parts) == len(relative.parts)]
            assert any(relative.match(p) for p in same_depth), relative
