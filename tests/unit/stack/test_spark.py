"""The local Spark cluster's pieces that need no running process: its names, addresses,
secret file, and which masters count as this machine's."""

from __future__ import annotations

from pathlib import Path

from userstream.config import load_settings
from userstream.pipeline import on_local_cluster
from userstream.stack import spark
from userstream.streaming.session import on_this_machine


def test_names_and_addresses_come_from_the_cluster_settings(tmp_path: Path) -> None:
    settings = load_settings(
        state_dir=tmp_path, cluster={"spark_workers": 3, "spark_master_port": 17077}
    )
    assert spark.names(settings.cluster) == [
        "spark-master", "spark-worker-1", "spark-worker-2", "spark-worker-3"
    ]  # fmt: skip
    assert spark.master_url(settings.cluster) == "spark://127.0.0.1:17077"
    assert not spark.is_local_cluster(settings)  # the stream runs on local[2] by default
    assert spark.is_local_cluster(on_local_cluster(settings))
    assert on_local_cluster(settings).spark.master == "spark://127.0.0.1:17077"


def test_the_secret_is_generated_once_into_a_private_spark_config(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path)
    env = spark.environment(settings.paths)
    defaults = Path(env["SPARK_CONF_DIR"]) / "spark-defaults.conf"
    first = defaults.read_text()
    assert "spark.authenticate true\n" in first
    assert len(first.split("spark.authenticate.secret ")[1].strip()) >= 40
    assert defaults.stat().st_mode & 0o777 == 0o600
    assert defaults.parent.stat().st_mode & 0o777 == 0o700
    assert spark.environment(settings.paths) == env and defaults.read_text() == first  # kept
    assert env["SPARK_LOCAL_IP"] == "127.0.0.1"


def test_a_master_on_this_machines_loopback_gets_the_local_drivers_ties() -> None:
    for master in ("local[2]", "local", "spark://127.0.0.1:7077", "spark://localhost:7077"):
        assert on_this_machine(master), master
    for master in ("spark://10.0.0.5:7077", "k8s://https://api:6443", "yarn"):
        assert not on_this_machine(master), master
