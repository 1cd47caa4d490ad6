"""Throwaway pipelines for a benchmark: its own topic, keyspace, checkpoint and job name,
created on entry and removed on exit, so a benchmark never touches a user's data.

Cleanup runs every step even when one fails (each failure is printed, not raised over the
benchmark's own error). The job's log is kept when the benchmark failed, and its path
printed, so there is something to read.
"""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from userstream.config import KafkaSettings, Settings, load_settings
from userstream.host.net import port_open
from userstream.kafka.topics import admin_client, ensure_topics
from userstream.stack import cassandra, kafka
from userstream.stack.local import stack_up
from userstream.store import session
from userstream.store.schema import apply_schema
from userstream.streaming import control


def with_keyspace(settings: Settings, keyspace: str) -> Settings:
    """A copy of ``settings`` that points at another keyspace (nothing else changes)."""
    moved = settings.cassandra.model_copy(update={"keyspace": keyspace})
    return settings.model_copy(update={"cassandra": moved})


@contextmanager
def scratch_keyspace(settings: Settings) -> Iterator[Settings]:
    """``settings.cassandra.keyspace`` created with the project's schema (init.cql),
    dropped on exit."""
    with ExitStack() as cleanup:
        cleanup.callback(_quietly, _drop_keyspace, settings)
        apply_schema(settings)
        yield settings


@contextmanager
def scratch_pipeline(prefix: str, base: Settings | None = None) -> Iterator[Settings]:
    """Settings for a pipeline of its own (topic, keyspace, job name ``<prefix>_<random>``),
    on ``base`` (default: the user's settings, the running local stack).

    The topics and the keyspace exist on entry; the job is not started. On exit the job is
    killed if it runs, then the keyspace, the topics, the checkpoint and the job's files
    in the state folder are removed.
    """
    suffix = uuid.uuid4().hex[:8]
    name = f"{prefix}_{suffix}"
    base = base or load_settings()
    ensure_local_stack(base)
    settings = with_keyspace(
        base.model_copy(
            update={
                "kafka": base.kafka.model_copy(update={"topic": name}),
                "spark": base.spark.model_copy(update={"job_name": f"{prefix}-{suffix}"}),
            }
        ),
        name,
    )
    failed = True
    with ExitStack() as cleanup:
        cleanup.callback(lambda: _remove_job_files(settings, keep_log=failed))
        cleanup.callback(_quietly, _delete_topics, settings.kafka)
        ensure_topics(settings.kafka)
        cleanup.enter_context(scratch_keyspace(settings))
        cleanup.callback(_quietly, control.kill, settings)
        yield settings
        failed = False


def ensure_local_stack(settings: Settings) -> None:
    """Start the local Kafka and Cassandra when the settings name this machine's and they do
    not answer, as `make bench` does; they are left running, as `userstream stack up` leaves
    them (a second benchmark then meets a warm node). Services elsewhere are only used."""
    if not (kafka.serves(settings) and cassandra.serves(settings)):
        return
    k, c = settings.kafka, settings.cassandra
    if port_open(k.host, k.port) and all(port_open(host, c.port) for host in c.hosts):
        return
    print("the local Kafka and Cassandra do not answer: starting them (`userstream stack down` "
          "stops them)", flush=True)  # fmt: skip
    stack_up(settings, progress=lambda line: print(f"  {line}", flush=True))


def _quietly(step: Callable[..., object], *args: object) -> None:
    """Run one cleanup step; a failure is printed so the next steps still run."""
    try:
        step(*args)
    except Exception as exc:
        print(f"cleanup: {step.__name__} failed: {exc}", file=sys.stderr)


def _drop_keyspace(settings: Settings) -> None:
    """Drop the keyspace, and on the local node the snapshot Cassandra keeps of a dropped
    keyspace (``auto_snapshot``): a scratch keyspace's copy is 10–60 MB a run, forever. Only
    the snapshots: Cassandra removes the tables' own files itself, a little after the drop."""
    keyspace = settings.cassandra.keyspace
    with session(settings) as sess:
        sess.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
    for folder in cassandra.keyspace_dirs(settings, keyspace):
        for snapshots in folder.glob("*/snapshots"):
            shutil.rmtree(snapshots, ignore_errors=True)


def _delete_topics(k: KafkaSettings) -> None:
    admin = admin_client(k)  # kept alive until the futures resolve
    existing = set(admin.list_topics(timeout=30).topics)
    doomed = [t for t in (k.topic, k.dlq_topic) if t in existing]
    for future in admin.delete_topics(doomed, operation_timeout=30).values() if doomed else ():
        future.result()


def _remove_job_files(settings: Settings, *, keep_log: bool) -> None:
    """The checkpoint and every file in the state folder named after the job (pid, lock,
    settings, progress, supervisor state: whatever this version of the job keeps)."""
    shutil.rmtree(settings.checkpoint_dir(), ignore_errors=True)
    paths, name = settings.paths, settings.spark.job_name
    log_file = paths.log_file(name)
    checkpoint_lock = _checkpoint_lock(settings)
    if checkpoint_lock is not None:
        checkpoint_lock.unlink(missing_ok=True)
    for folder in (paths.run, paths.results, paths.logs):
        for path in folder.glob(f"{name}[._-]*"):
            if path != log_file:
                path.unlink(missing_ok=True)
    if keep_log and log_file.exists():
        print(f"the job's log is kept: {log_file}", file=sys.stderr)
    else:
        log_file.unlink(missing_ok=True)


def _checkpoint_lock(settings: Settings) -> Path | None:
    try:
        from userstream.streaming.supervisor import lock_file
    except ImportError:  # a job without a supervisor has no checkpoint lock
        return None
    return lock_file(settings)
