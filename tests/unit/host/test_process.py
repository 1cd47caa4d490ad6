"""Background processes: start, running, stop, kill, and a reused pid is never ours."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from userstream.config import StatePaths
from userstream.errors import ConfigError
from userstream.host import process


def _wait_for_text(log: Path, text: str) -> None:
    deadline = time.monotonic() + 60
    while text not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, f"{text!r} never appeared in {log}"
        time.sleep(0.05)


@pytest.fixture
def paths(tmp_path: Path) -> StatePaths:
    return StatePaths(tmp_path / "state")


def test_start_running_stop(paths: StatePaths) -> None:
    proc = process.start(paths, "sleeper", ["sleep", "300"])
    try:
        found = process.running(paths, "sleeper")
        assert found is not None
        assert found.pid == proc.pid
        assert paths.pid_file("sleeper").is_file()
        assert process.stop(paths, "sleeper", timeout=10) is True
        assert process.running(paths, "sleeper") is None
        assert not paths.pid_file("sleeper").exists()
    finally:
        process.kill(paths, "sleeper")


def test_stop_when_not_running_is_false(paths: StatePaths) -> None:
    assert process.stop(paths, "nothing") is False
    assert process.kill(paths, "nothing") is False


def test_kill_is_immediate(paths: StatePaths) -> None:
    # A process that ignores SIGTERM: only SIGKILL ends it.
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"
    proc = process.start(paths, "stubborn", [sys.executable, "-c", code])
    assert process.kill(paths, "stubborn") is True
    assert process.running(paths, "stubborn") is None
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)


def test_stop_escalates_to_sigkill(paths: StatePaths) -> None:
    code = (
        "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(300)"
    )
    process.start(paths, "stubborn", [sys.executable, "-c", code])
    _wait_for_text(paths.log_file("stubborn"), "ready")  # the handler is installed by then
    assert process.stop(paths, "stubborn", timeout=1.0) is True
    assert process.running(paths, "stubborn") is None


def test_output_goes_to_the_log(paths: StatePaths) -> None:
    process.start(paths, "echo", ["sh", "-c", "echo hello-from-child; sleep 300"])
    try:
        _wait_for_text(paths.log_file("echo"), "hello-from-child")
        assert "hello-from-child" in process.tail(paths.log_file("echo"))
    finally:
        process.stop(paths, "echo", timeout=10)


def test_an_older_releases_pid_file_keeps_its_command_line_check(paths: StatePaths) -> None:
    # A pid file without a start time (written before this release) names a process by a
    # word of its command line: an unrelated live process without it is not ours.
    other = subprocess.Popen(["sleep", "300"])
    try:
        paths.run.mkdir(parents=True, exist_ok=True)
        paths.pid_file("kafka").write_text(f"{other.pid}\nkafka.Kafka\n")
        assert process.running(paths, "kafka") is None
        # And stop() leaves it alone.
        assert process.stop(paths, "kafka", timeout=1) is False
        assert other.poll() is None
        # With the right marker it would be ours.
        paths.pid_file("kafka").write_text(f"{other.pid}\nsleep\n")
        assert process.running(paths, "kafka") is not None
        # Without a word to check, it is stale.
        paths.pid_file("kafka").write_text(f"{other.pid}\n")
        assert process.running(paths, "kafka") is None
    finally:
        other.send_signal(signal.SIGKILL)
        other.wait()


def test_dead_pid_is_not_running(paths: StatePaths) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    paths.run.mkdir(parents=True, exist_ok=True)
    paths.pid_file("x").write_text(f"{gone.pid}\ntrue\n")
    assert process.running(paths, "x") is None


def test_garbage_pid_file_is_not_running(paths: StatePaths) -> None:
    paths.run.mkdir(parents=True, exist_ok=True)
    paths.pid_file("x").write_text("not a pid\n")
    assert process.running(paths, "x") is None


# --- identity: start time, boot and owner ---------------------------------------------------


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """A live process group that is not ours (as if it had reused one of our pids)."""
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _pid_file(paths: StatePaths, name: str, pid: int, recorded: str, owner: str) -> None:
    paths.run.mkdir(parents=True, exist_ok=True)
    paths.pid_file(name).write_text(f"{pid} {recorded}\n{owner}\n")


def test_pid_file_records_start_time_boot_and_owner(paths: StatePaths) -> None:
    proc = process.start(paths, "sleeper", ["sleep", "300"])
    try:
        first, owner = paths.pid_file("sleeper").read_text().splitlines()
        pid, ticks, boot = first.split()
        assert int(pid) == proc.pid
        # Field 22 of /proc/<pid>/stat, read here independently of the code under test.
        stat = Path(f"/proc/{proc.pid}/stat").read_text()
        assert ticks == stat.rsplit(")", 1)[1].split()[19]
        assert boot == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        assert owner == f"sleeper in {paths.root.resolve()}"
    finally:
        process.kill(paths, "sleeper")


def test_a_reused_pid_with_another_start_time_is_left_alone(
    paths: StatePaths, stranger: subprocess.Popen[bytes]
) -> None:
    ticks, boot = str(process.identity(stranger.pid)).split()
    _pid_file(paths, "kafka", stranger.pid, f"{int(ticks) - 1} {boot}", f"kafka in {paths.root}")
    assert process.running(paths, "kafka") is None
    assert process.stop(paths, "kafka", timeout=1) is False
    assert process.kill(paths, "kafka") is False
    time.sleep(0.2)
    assert stranger.poll() is None, "stop/kill signalled a process that is not ours"
    assert not paths.pid_file("kafka").exists()  # the stale pid file is gone


def test_a_pid_file_of_another_boot_is_stale(
    paths: StatePaths, stranger: subprocess.Popen[bytes]
) -> None:
    ticks, _ = str(process.identity(stranger.pid)).split()
    _pid_file(paths, "kafka", stranger.pid, f"{ticks} another-boot", f"kafka in {paths.root}")
    assert process.stop(paths, "kafka", timeout=1) is False
    assert stranger.poll() is None


def test_a_pid_file_of_another_state_folder_or_name_is_stale(
    paths: StatePaths, stranger: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    # A copied state folder names the original's processes: they are not the copy's.
    recorded = str(process.identity(stranger.pid))
    _pid_file(paths, "kafka", stranger.pid, recorded, f"kafka in {tmp_path / 'original'}")
    assert process.stop(paths, "kafka", timeout=1) is False
    _pid_file(paths, "kafka", stranger.pid, recorded, f"cassandra in {paths.root}")
    assert process.kill(paths, "kafka") is False
    assert stranger.poll() is None


def test_a_matching_pid_file_is_stopped(
    paths: StatePaths, stranger: subprocess.Popen[bytes]
) -> None:
    # The same process, recorded with its own start time by this state folder: ours.
    process.write_pid_file(paths, "kafka", stranger.pid)
    found = process.running(paths, "kafka")
    assert found is not None and found.pid == stranger.pid
    assert process.stop(paths, "kafka", timeout=10) is True
    with pytest.raises(ProcessLookupError):  # gone, and reaped
        os.kill(stranger.pid, 0)


def test_stop_ends_what_the_leader_leaves_of_its_group(paths: StatePaths) -> None:
    # The leader exits on SIGTERM and leaves its child running (as a Spark driver leaves
    # its JVM): a stop does not return until the child is gone too.
    child_pid = paths.root / "child.pid"
    script = f'sleep 300 & echo $! > {child_pid}; trap "exit 0" TERM; wait'
    process.start(paths, "leader", ["sh", "-c", script])
    deadline = time.monotonic() + 10
    while not (child_pid.exists() and child_pid.read_text().strip()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    child = int(child_pid.read_text())
    assert process.stop(paths, "leader", timeout=10, leader_only=True) is True
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)


def _leader_with_a_stubborn_child(paths: StatePaths, name: str) -> tuple[int, int]:
    """A leader whose child ignores SIGTERM (as Airflow's LocalExecutor workers did); the
    leader is SIGKILLed alone, leaving the child in its group: (leader, child) pids."""
    child_pid = paths.root / f"{name}-child.pid"
    stubborn = "trap '' TERM; while :; do sleep 1; done"
    script = f'sh -c "{stubborn}" & echo $! > {child_pid}; wait'
    leader = process.start(paths, name, ["sh", "-c", script])
    deadline = time.monotonic() + 10
    while not (child_pid.exists() and child_pid.read_text().strip()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    child = int(child_pid.read_text())
    os.kill(leader.pid, signal.SIGKILL)
    process._wait_dead(leader.pid, 10)
    assert os.getpgid(child) == leader.pid  # the orphan, still in the dead leader's group
    return leader.pid, child


@pytest.mark.parametrize("then", ["start again", "stop"])
def test_what_a_killed_process_left_of_its_group_is_ended(paths: StatePaths, then: str) -> None:
    _, child = _leader_with_a_stubborn_child(paths, "scheduler")
    try:
        if then == "stop":
            assert process.stop(paths, "scheduler", timeout=10) is False
        else:
            process.start(paths, "scheduler", ["sleep", "300"])
        process._wait_dead(child, 10)
        with pytest.raises(ProcessLookupError):
            os.kill(child, 0)
    finally:
        process.kill(paths, "scheduler")
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def test_a_group_of_another_state_folder_is_left_alone(tmp_path: Path) -> None:
    ours, theirs = StatePaths(tmp_path / "ours"), StatePaths(tmp_path / "theirs")
    _, child = _leader_with_a_stubborn_child(theirs, "scheduler")
    try:
        (ours.run).mkdir(parents=True)
        ours.pid_file("scheduler").write_bytes(theirs.pid_file("scheduler").read_bytes())
        assert process.end_orphans(ours, "scheduler") == []
        os.kill(child, 0)  # still there
        assert child in process.end_orphans(theirs, "scheduler")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def test_without_posix_process_groups_it_refuses_rather_than_guesses(
    paths: StatePaths, stranger: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    process.write_pid_file(paths, "kafka", stranger.pid)
    monkeypatch.setattr(process, "_POSIX", False)
    with pytest.raises(ConfigError, match="POSIX"):
        process.running(paths, "kafka")
    with pytest.raises(ConfigError, match="POSIX"):
        process.stop(paths, "kafka")
    with pytest.raises(ConfigError, match="POSIX"):
        process.start(paths, "sleeper", ["sleep", "300"])
    assert not paths.pid_file("sleeper").exists()
    assert stranger.poll() is None


def test_a_process_that_leads_no_group_is_stopped_alone(paths: StatePaths) -> None:
    # A foreground `stream run` started by a script is in its caller's group: stopping it
    # must reach it, and nothing else of that group (here: this test's own group).
    child = subprocess.Popen(["sleep", "300"])
    try:
        process.write_pid_file(paths, "stream", child.pid)
        assert process.stop(paths, "stream", timeout=10) is True
        with pytest.raises(ProcessLookupError):
            os.kill(child.pid, 0)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_tail_quotes_only_what_the_latest_start_wrote(paths: StatePaths) -> None:
    # An earlier run of the same component left its own last words in the log.
    first = process.start(paths, "talker", ["sh", "-c", "echo old-failure-from-the-last-run"])
    _wait_for_text(first.log, "old-failure-from-the-last-run")
    second = process.start(paths, "talker", ["sh", "-c", "echo this-run-says-this; exit 3"])
    _wait_for_text(second.log, "this-run-says-this")
    quoted = process.tail(second.log)
    assert quoted == "this-run-says-this"
    assert "old-failure" in second.log.read_text()  # kept in the log, just not quoted


def test_tail_says_when_the_latest_start_wrote_nothing(paths: StatePaths) -> None:
    proc = process.start(paths, "mute", ["sh", "-c", "exit 1"])
    deadline = time.monotonic() + 30
    while process.running(paths, "mute") is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.tail(proc.log).startswith("(nothing written since the line")


def test_a_long_start_says_how_long_it_has_waited_and_what_its_process_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "cassandra.log"
    log.write_text(f"{process.START_MARK} java at now\nINFO  Initializing system keyspace\n")
    monkeypatch.setattr(process, "TICK_S", 0.05)
    said: list[str] = []

    def slow_start() -> float:
        time.sleep(0.3)
        return 12.0

    assert process.with_ticks(slow_start, "Cassandra", log, said.append) == 12.0
    assert said, "no progress while it started"
    assert all(line.startswith("Cassandra: still starting, ") for line in said), said
    assert said[-1].endswith(": INFO  Initializing system keyspace"), said
    count = len(said)
    time.sleep(0.2)
    assert len(said) == count  # no tick after the start returned


def test_a_failed_start_raises_its_own_error_through_the_ticks(tmp_path: Path) -> None:
    def failing() -> None:
        raise ValueError("port taken")

    with pytest.raises(ValueError, match="port taken"):
        process.with_ticks(failing, "Kafka", tmp_path / "none.log", lambda _line: None)


def test_a_jar_fetch_says_how_much_maven_has_downloaded(tmp_path: Path) -> None:
    from userstream.stack import jars

    log = tmp_path / "mvn-kafka.log"
    assert jars.downloaded(log) == ""  # no log yet
    log.write_text("[INFO] Scanning for projects...\n")
    assert jars.downloaded(log) == "resolving"
    base = "https://repo.maven.apache.org/maven2/org/apache/kafka"
    log.write_text(
        "[INFO] Scanning for projects...\n"
        f"Downloading from central: {base}/kafka-clients/4.4.0/kafka-clients-4.4.0.pom\n"
        f"Downloaded from central: {base}/kafka-clients/4.4.0/kafka-clients-4.4.0.pom "
        "(1.8 kB at 9.0 kB/s)\n"
        f"Downloaded from central: {base}/kafka-clients/4.4.0/kafka-clients-4.4.0.jar "
        "(19 MB at 12 MB/s)\n"
    )
    assert jars.downloaded(log) == "2 files, 19.0 MB downloaded (last: kafka-clients-4.4.0.jar)"
