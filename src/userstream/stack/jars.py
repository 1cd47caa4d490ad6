"""Runnable classpaths assembled from Maven Central, one folder per component.

Each component has a small POM in ``maven/``; ``mvn dependency:copy-dependencies`` copies
its runtime closure into ``<state>/lib/<component>``. A marker file holding the POM's
hash makes the second call free, and a changed POM refetches. Classpaths stay apart:
the broker's Scala 2.13 jars never reach Spark. ``jmx-exporter`` is no classpath but the
Prometheus JMX exporter's agent jar, which Kafka and Cassandra load with ``-javaagent``.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

from userstream.errors import ConfigError, TransientError

MAVEN_DIR = Path(__file__).with_name("maven")
COMPONENTS = ("kafka", "cassandra", "spark-connectors", "jmx-exporter")
_MARKER = ".pom.sha256"


def pom_path(component: str) -> Path:
    return MAVEN_DIR / f"{component}.pom.xml"


def lib_dir(lib_root: Path, component: str) -> Path:
    return lib_root / component


def jar_version(lib_root: Path, component: str, artifact: str) -> str | None:
    """The version of ``artifact`` among ``component``'s fetched jars, read from the jar's
    name (``<artifact>-<version>.jar``); None before `fetch-jars`."""
    for jar in lib_dir(lib_root, component).glob(f"{artifact}-*.jar"):
        match = re.fullmatch(rf"{re.escape(artifact)}-(.+)\.jar", jar.name)
        if match:
            return match.group(1)
    return None


def _pom_digest(component: str) -> str:
    return hashlib.sha256(pom_path(component).read_bytes()).hexdigest()


def is_fetched(lib_root: Path, component: str) -> bool:
    marker = lib_dir(lib_root, component) / _MARKER
    return marker.is_file() and marker.read_text().strip() == _pom_digest(component)


_DOWNLOADED = re.compile(r"Downloaded from \S+: \S+/([^/\s]+) \(([\d.,]+) (B|kB|MB|GB)")
_UNIT = {"B": 1e-6, "kB": 1e-3, "MB": 1.0, "GB": 1e3}


def fetch_log(lib_root: Path, component: str, log_dir: Path | None = None) -> Path:
    """Maven's output of the latest fetch of ``component``'s jars."""
    return (log_dir or lib_root) / f"mvn-{component}.log"


def downloaded(log: Path) -> str:
    """How far a fetch is, from Maven's log: files and MB downloaded so far, and the last."""
    try:
        found = _DOWNLOADED.findall(log.read_text(errors="replace"))
    except OSError:
        return ""
    if not found:
        return "resolving"
    size = sum(float(n.replace(",", "")) * _UNIT[unit] for _, n, unit in found)
    return f"{len(found)} files, {size:.1f} MB downloaded (last: {found[-1][0]})"


def ensure_jars(lib_root: Path, component: str, *, log_dir: Path | None = None) -> Path:
    """Return the folder of ``component``'s jars, fetching them first when missing or stale.

    Raises ``ConfigError`` when Maven is not installed and ``TransientError`` when the
    download fails (the network or Maven Central), with Maven's output in a log file.
    """
    if component not in COMPONENTS:
        raise ConfigError(f"Unknown jar set {component!r}; known: {', '.join(COMPONENTS)}.")
    target = lib_dir(lib_root, component)
    if is_fetched(lib_root, component):
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ConfigError(
            "Maven (mvn) is not installed, and it is needed to fetch the Kafka, Cassandra and "
            "Spark connector jars.",
            hint="Install it (Debian/Ubuntu: `sudo apt-get install maven`) and run `make setup`.",
        )
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    log = fetch_log(lib_root, component, log_dir)
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        # Not quiet: each "Downloaded from central: <url> (<size> ...)" line is progress.
        mvn, "-B", "-f", str(pom_path(component)),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={staging}",
    ]  # fmt: skip
    with log.open("w") as out:
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise TransientError(
            f"Fetching the {component} jars from Maven Central failed "
            f"(mvn exit {result.returncode}).",
            hint="Check the network or proxy settings for Maven, then run `make setup` again.",
            log=log,
        )
    (staging / _MARKER).write_text(_pom_digest(component))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target
