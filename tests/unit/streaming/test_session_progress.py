"""Spark configuration and the progress file, without starting Spark."""

from __future__ import annotations

import json

from userstream.config import Settings
from userstream.streaming import progress_file
from userstream.streaming.session import spark_conf


def _settings(tmp_path, **spark) -> Settings:
    return Settings(state_dir=tmp_path, spark=spark)


def test_local_master_binds_loopback_and_lists_jars(tmp_path):
    conf = spark_conf(_settings(tmp_path), jars=["/a/x.jar", "/a/y.jar"])
    assert conf["spark.master"] == "local[2]"
    assert conf["spark.jars"] == "/a/x.jar,/a/y.jar"
    assert "spark.jars.packages" not in conf
    assert conf["spark.driver.bindAddress"] == "127.0.0.1"
    assert conf["spark.ui.enabled"] == "true" and conf["spark.ui.port"] == "4040"
    # Cassandra is written from the Python workers: no Cassandra setting, no password.
    assert not [k for k in conf if "cassandra" in k or "password" in k]
    assert conf["spark.sql.session.timeZone"] == "UTC"


def test_the_driver_jvm_compiles_with_c1_unless_the_user_says_otherwise(tmp_path):
    assert spark_conf(_settings(tmp_path), jars=[])["spark.driver.extraJavaOptions"] == (
        "-XX:TieredStopAtLevel=1"
    )
    mine = {"spark.driver.extraJavaOptions": "-Djavax.net.ssl.trustStore=/etc/ts.jks"}
    conf = spark_conf(_settings(tmp_path, conf=mine), jars=[])
    assert conf["spark.driver.extraJavaOptions"] == "-Djavax.net.ssl.trustStore=/etc/ts.jks"


def test_a_local_checkpoint_is_written_without_forked_processes(tmp_path):
    conf = spark_conf(_settings(tmp_path), jars=[])
    assert conf["spark.sql.streaming.checkpointFileManagerClass"].endswith(
        ".FileSystemBasedCheckpointFileManager"
    )
    assert conf["spark.hadoop.fs.file.impl"] == "org.apache.hadoop.fs.RawLocalFileSystem"


def test_another_master_keeps_hadoops_checksummed_local_file_system(tmp_path):
    conf = spark_conf(_settings(tmp_path, master="yarn"), jars=[])
    assert conf["spark.sql.streaming.checkpointFileManagerClass"].endswith(
        ".FileSystemBasedCheckpointFileManager"
    )
    assert "spark.hadoop.fs.file.impl" not in conf


def test_a_remote_checkpoint_keeps_sparks_file_managers(tmp_path):
    conf = spark_conf(_settings(tmp_path, checkpoint_dir="hdfs://nn:8020/ck"), jars=[])
    assert "spark.sql.streaming.checkpointFileManagerClass" not in conf
    assert "spark.hadoop.fs.file.impl" not in conf


def test_ui_port_zero_switches_the_ui_off(tmp_path):
    conf = spark_conf(_settings(tmp_path, ui_port=0), jars=[])
    assert conf["spark.ui.enabled"] == "false"


def test_cluster_master_does_not_bind_loopback_and_user_conf_wins(tmp_path):
    s = _settings(tmp_path, master="spark://spark-master:7077",
                  conf={"spark.executor.memory": "4g", "spark.ui.enabled": "false"})  # fmt: skip
    conf = spark_conf(s, jars=[])
    assert "spark.driver.bindAddress" not in conf
    assert "spark.driver.host" not in conf
    assert conf["spark.executor.memory"] == "4g"
    assert conf["spark.ui.enabled"] == "false"


def test_a_stream_takes_cores_max_of_a_standalone_cluster_only(tmp_path):
    on_cluster = _settings(tmp_path, master="spark://spark-master:7077", cores_max=2)
    assert spark_conf(on_cluster, jars=[])["spark.cores.max"] == "2"
    # 0 leaves Spark's default (every core offered); a local master has no cluster to share.
    unbounded = _settings(tmp_path, master="spark://spark-master:7077")
    assert "spark.cores.max" not in spark_conf(unbounded, jars=[])
    assert "spark.cores.max" not in spark_conf(_settings(tmp_path, cores_max=2), jars=[])


def test_progress_round_trip_is_atomic(tmp_path):
    s = _settings(tmp_path, job_name="stream-x")
    assert progress_file.read(s) is None
    progress_file.write(s, {"state": "running", "pid": 1})
    assert progress_file.progress_file(s).name == "stream-x_progress.json"
    data = progress_file.read(s)
    assert data["state"] == "running" and data["updated_at"].endswith("Z")
    assert [p.name for p in progress_file.progress_file(s).parent.iterdir()] == [
        "stream-x_progress.json"
    ]


def test_batch_summary_from_a_real_progress():
    real = {
        "id": "a15c06c0", "runId": "b", "batchId": 7, "numInputRows": 150,
        "inputRowsPerSecond": 12.5, "processedRowsPerSecond": 30.1,
        "durationMs": {"addBatch": 4000, "triggerExecution": 4980},
        "sources": [{"description": "KafkaV2[Subscribe[t]]",
                     "startOffset": {"t": {"0": 10, "1": 12}},
                     "endOffset": {"t": {"0": 85, "1": 87}}, "numInputRows": 150}],
    }  # fmt: skip
    summary = progress_file.batch_summary(real, {"valid": 149, "rejected": 1, "stored": 149})
    assert summary["batch_id"] == 7
    # Where the batch's time went, as Spark measured it.
    assert summary["durations_ms"] == {"addBatch": 4000, "triggerExecution": 4980}
    assert summary["batch_duration_ms"] == 4980
    assert summary["end_offsets"] == {"t": {"0": 85, "1": 87}}
    assert (summary["valid_rows"], summary["rejected_rows"]) == (149, 1)
    as_text = dict(real, sources=[dict(real["sources"][0], endOffset=json.dumps({"t": {"0": 1}}))])
    assert progress_file.batch_summary(as_text, None)["end_offsets"] == {"t": {"0": 1}}


def test_drivers_of_one_remote_checkpoint_share_one_lock(tmp_path):
    from userstream.streaming.supervisor import lock_file

    one = _settings(tmp_path, checkpoint_dir="s3a://bucket/ck", job_name="a")
    other = _settings(tmp_path, checkpoint_dir="s3a://bucket/ck", job_name="b")
    elsewhere = _settings(tmp_path, checkpoint_dir="s3a://bucket/ck2", job_name="a")
    assert lock_file(one) == lock_file(other) != lock_file(elsewhere)
