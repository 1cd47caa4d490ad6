"""The job's SparkSession: the Kafka source's jars from the state folder, safe defaults.

The job knows nothing of the machine it runs on: the jars are fetched, and a local
cluster's environment (its shared secret's configuration folder) is set, by whoever starts
it (``control``).

With a local master everything the driver serves (its RPC and Spark's web UI) listens on
127.0.0.1 only.

The jars are handed to Spark as a ``spark.jars`` list built from
``<state>/lib/spark-connectors`` (fetched from Maven Central once, never through Ivy at
run time). Cassandra is written from the Python workers (``cassandra_writer``), so no
Cassandra setting, and no password, is part of the Spark conf. Nothing here assumes a
local master except the loopback binding and the workers' interpreter, which are only set
when the master is ``local``.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from userstream.config import Settings, StatePaths
from userstream.errors import ConfigError
from userstream.extras import PYSPARK_MISSING_HINT, pyspark_installed

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


#: What a producer-only install (``pip install userstream``) lacks to run the stream.
def require_pyspark() -> None:
    """A ``ConfigError`` now, instead of a driver that dies on its first import."""
    if not pyspark_installed():
        raise ConfigError("The Spark stream needs pyspark, which is not installed.",
                          hint=PYSPARK_MISSING_HINT)  # fmt: skip


def is_local_master(master: str) -> bool:
    return master == "local" or master.startswith("local[")


def on_this_machine(master: str) -> bool:
    """A local master, or a standalone master on this machine's loopback (the local runtime's
    cluster): the driver then binds to 127.0.0.1 and the executors run this interpreter."""
    return is_local_master(master) or master.startswith(
        ("spark://127.0.0.1:", "spark://localhost:")
    )


#: The folder under ``paths.lib`` of the Kafka source's jars. The layer that starts the job
#: fetches them (``control``, through the local runtime's ``stack.jars``); the job only reads
#: them, so it runs wherever they were put, with no Maven and no process manager.
CONNECTOR_JARS = "spark-connectors"


def connector_jars(paths: StatePaths) -> list[str]:
    """The connector jars the job hands to Spark; a ``ConfigError`` when none are there."""
    folder = paths.lib / CONNECTOR_JARS
    jars = sorted(str(p) for p in folder.glob("*.jar"))
    if not jars:
        raise ConfigError(
            f"The Spark stream's Kafka connector jars are not in {folder}.",
            hint="Fetch them with `userstream fetch-jars` (Maven Central, once).",
        )
    return jars


#: A checkpoint in a local folder is written without a process per file operation. Hadoop
#: without its native library (pyspark ships none) forks ``readlink`` for every rename through
#: ``FileContext`` (Spark's default checkpoint manager) and ``chmod`` for every file it
#: creates, checksum files included: ten processes per micro-batch, ~90 ms of its offset and
#: commit logs (docs/performance.md). The ``FileSystem`` manager renames with one
#: ``rename(2)``, atomic on a local file system; it applies to every streaming log of the
#: session, which runs this one query. Elsewhere (hdfs://, s3a://) Spark's defaults stay.
FILE_SYSTEM_CHECKPOINTS = (
    "org.apache.spark.sql.execution.streaming.FileSystemBasedCheckpointFileManager"
)
#: With a master on this machine, ``file:`` is also Hadoop's raw local file system: no
#: checksum files, so two processes a batch remain (the chmods that keep the files 0600).
#: ``FileSystem.getLocal`` then fails (``sc.textFile`` and the like, and YARN's submission,
#: use it; the job does not): another master keeps Hadoop's checksummed default, and
#: ``spark.conf`` may set ``spark.hadoop.fs.file.impl`` back for this one too.
RAW_LOCAL_FILE_SYSTEM = "org.apache.hadoop.fs.RawLocalFileSystem"
#: The driver's JVM compiles with C1 alone. Its work is a micro-batch's planning, task
#: serialization and closure cleaning, a few hundred users at a time: C2 spent a fifth of a
#: core recompiling that for minutes after every start (half the JVM's CPU at 1,000 users/s,
#: 45-65 s after the start), and C1's code is as fast for it. Measured (docs/performance.md):
#: the JVM at 0.26 instead of 0.42 of a core, and a faster drain. A ``spark.conf`` entry for
#: ``spark.driver.extraJavaOptions`` replaces it; executors elsewhere keep the JVM's default.
DRIVER_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1"


def spark_conf(settings: Settings, *, jars: list[str]) -> dict[str, str]:
    """Every Spark setting the job starts with; ``settings.spark.conf`` entries win."""
    s = settings.spark
    conf = {
        "spark.master": s.master,
        "spark.app.name": s.app_name,
        "spark.driver.memory": s.driver_memory,
        "spark.driver.extraJavaOptions": DRIVER_JAVA_OPTIONS,
        "spark.jars": ",".join(jars),
        "spark.sql.shuffle.partitions": str(s.shuffle_partitions),
        # Timestamps are parsed and rendered in UTC whatever the machine's zone: the same
        # record must give the same row on every host.
        "spark.sql.session.timeZone": "UTC",
        # Bad values become null for that column (then validated), never a failed batch.
        "spark.sql.ansi.enabled": "false",
        # The web UI (0: off). It keeps a bounded history of a stream that runs for days.
        "spark.ui.enabled": "true" if s.ui_port else "false",
        "spark.ui.port": str(s.ui_port or 4040),
        "spark.ui.retainedJobs": "200",
        "spark.ui.retainedStages": "200",
        "spark.sql.ui.retainedExecutions": "200",
        # The console progress bar is noise in a log file.
        "spark.ui.showConsoleProgress": "false",
        # Python workers are kept between tasks: each keeps its Cassandra session.
        "spark.python.worker.reuse": "true",
        # A micro-batch's bounded collect (BatchWriter) reads all partitions in one job.
        "spark.sql.limit.initialNumPartitions": "1000",
        # Hadoop's file systems set a file's mode themselves (0644 by their own default
        # umask, whatever the process's): checkpoints are private like the rest.
        "spark.hadoop.fs.permissions.umask-mode": "077",
        # Spark redacts keys matching this in logs and event data; keep the default's words.
        "spark.redaction.regex": "(?i)secret|password|token|access[.]key",
    }
    if s.cores_max and s.master.startswith("spark://"):
        conf["spark.cores.max"] = str(s.cores_max)
    if settings.checkpoint_is_local():
        conf["spark.sql.streaming.checkpointFileManagerClass"] = FILE_SYSTEM_CHECKPOINTS
        if on_this_machine(s.master):
            conf["spark.hadoop.fs.file.impl"] = RAW_LOCAL_FILE_SYSTEM
    if on_this_machine(s.master):
        conf["spark.driver.bindAddress"] = "127.0.0.1"
        conf["spark.driver.host"] = "127.0.0.1"
    conf.update(s.conf)
    return conf


#: Spark's logger quieted to errors in the driver.
QUIET_SPARK_LOGGER = "org.apache.spark.sql.execution.streaming.ProcessingTimeExecutor"


def build_session(settings: Settings) -> SparkSession:
    """A SparkSession configured for the job (starts the JVM; call once per process)."""
    from pyspark.sql import SparkSession

    conf = spark_conf(settings, jars=connector_jars(settings.paths))
    if on_this_machine(settings.spark.master):
        # The workers must run this interpreter (it has our package); pyspark reads the
        # variable, not the conf, in local mode.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        # Spark's web UI binds to SPARK_LOCAL_IP (every interface without it).
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    # "Current batch is falling behind": a line for every micro-batch longer than the trigger
    # interval, which is each one under load; the progress and the metrics say it.
    jvm = spark.sparkContext._jvm
    assert jvm is not None  # the session just started its JVM
    jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
        QUIET_SPARK_LOGGER, jvm.org.apache.logging.log4j.Level.ERROR
    )
    return spark
