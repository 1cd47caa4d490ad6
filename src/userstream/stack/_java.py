"""Finding a Java 17+ runtime."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from userstream.errors import ConfigError

MIN_JAVA = 17


def java_executable() -> str:
    """``$JAVA_HOME/bin/java`` when set, else ``java`` from PATH; ``ConfigError`` when neither."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise ConfigError(
            "Java is not installed (no JAVA_HOME and no `java` on PATH); Kafka and Cassandra need "
            f"a JDK {MIN_JAVA}+.",
            hint="Install one (Debian/Ubuntu: `sudo apt-get install openjdk-17-jdk-headless`).",
        )
    return found


def java_version(java: str) -> int:
    """The feature version (17, 21, …) of a Java runtime."""
    out = subprocess.run(
        [java, "-version"], capture_output=True, text=True, check=False, timeout=60
    ).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if match is None:
        raise ConfigError(f"Could not read the version of {java}: {out.strip()[:200]!r}.")
    major = int(match.group(1))
    # Java 8 and older report "1.8".
    return int(match.group(2) or 0) if major == 1 else major


def require_java() -> str:
    """A Java 17+ executable, or ``ConfigError`` saying what to install."""
    java = java_executable()
    version = java_version(java)
    if version < MIN_JAVA:
        raise ConfigError(
            f"Java {version} was found at {java}, but Kafka 4 and Cassandra 5 need "
            f"Java {MIN_JAVA}+.",
            hint="Install a JDK 17 and set JAVA_HOME to it.",
        )
    return java


def crash_report_option(logs: Path) -> str:
    """The JVM option that writes a crash report (``hs_err_pid<pid>.log``: a SIGBUS from a
    memory-mapped file on a full disk, say) into the logs folder instead of the working
    directory the process was started from."""
    return f"-XX:ErrorFile={logs / 'hs_err_pid%p.log'}"
