"""A throwaway pipeline for a benchmark: its own topic, keyspace, checkpoint and job name,
created on entry and removed on exit, so a benchmark never touches a user's data."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from userstream.config import Settings, load_settings
from userstream.schema import apply_schema
from userstream.store import session
from userstream.streaming import control, job, progress
from userstream.topics import admin_client, ensure_topics


@contextmanager
def scratch_pipeline(prefix: str) -> Iterator[Settings]:
    suffix = uuid.uuid4().hex[:8]
    base = load_settings()
    name = f"{prefix}_{suffix}"
    settings = base.model_copy(
        update={
            "kafka": base.kafka.model_copy(update={"topic": name}),
            "cassandra": base.cassandra.model_copy(update={"keyspace": name}),
            "spark": base.spark.model_copy(update={"job_name": f"{prefix}-{suffix}"}),
        }
    )
    ensure_topics(settings.kafka)
    apply_schema(settings)
    try:
        yield settings
    finally:
        control.kill(settings)
        with session(settings) as sess:
            sess.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra.keyspace}", timeout=120)
        admin = admin_client(settings.kafka)  # kept alive until the futures resolve
        topics = [settings.kafka.topic, settings.kafka.dlq_topic]
        for future in admin.delete_topics(topics, operation_timeout=30).values():
            future.result()
        shutil.rmtree(settings.checkpoint_dir(), ignore_errors=True)
        progress.progress_file(settings).unlink(missing_ok=True)
        job.settings_file(settings).unlink(missing_ok=True)
