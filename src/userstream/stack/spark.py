"""A Spark standalone cluster on this machine: one master and ``cluster.spark_workers``
workers, started from pyspark's own distribution (its jars; no other download).

Part of the local runtime's cluster mode (``userstream stack up --cluster``): the stream then
runs on ``spark://127.0.0.1:<port>`` in client mode (Spark 3.5 refuses cluster deploy mode for
Python applications on standalone clusters, so its driver stays supervised by ours), and a
lost worker's executors are rescheduled on the others.

Everything listens on 127.0.0.1 (``SPARK_LOCAL_IP``), and the cluster asks for a secret:
``spark.authenticate`` with a shared secret generated once into
``<state>/secrets/spark/spark-defaults.conf`` (0600), which the master, the workers and the
stream's driver read as their Spark configuration (``SPARK_CONF_DIR``), never from a command
line; the workers hand it to their executors in the environment, as Spark does.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import httpx
import psutil

from userstream.config import ClusterSettings, Settings, StatePaths
from userstream.errors import ConfigError
from userstream.extras import PYSPARK_MISSING_HINT
from userstream.files import write_private
from userstream.host import process
from userstream.host.locks import component_lock
from userstream.host.net import port_open
from userstream.host.state import secrets_dir
from userstream.stack._java import require_java
from userstream.stack._ports import require_free
from userstream.stack._wait import died_error, wait_ready

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
MASTER = "spark-master"
LABEL = "Spark master"
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
#: A master's or worker's own heap (executors get theirs from the application).
DAEMON_HEAP = "256m"


def worker_name(index: int) -> str:
    return f"spark-worker-{index}"  # stop_cluster finds every one by this pattern


def names(cluster: ClusterSettings) -> list[str]:
    """The cluster's processes, master first."""
    return [MASTER, *(worker_name(i) for i in range(1, cluster.spark_workers + 1))]


def version() -> str | None:
    """pyspark's version (the cluster runs from its jars), None when it is not installed."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("pyspark")
    except PackageNotFoundError:
        return None


def master_url(cluster: ClusterSettings) -> str:
    return f"spark://{HOST}:{cluster.spark_master_port}"


def ui_url(cluster: ClusterSettings) -> str:
    return f"http://{HOST}:{cluster.spark_master_ui_port}/"


def conf_dir(paths: StatePaths) -> Path:
    """The cluster's Spark configuration folder (0700; its file holds the shared secret)."""
    folder = secrets_dir(paths) / "spark"
    folder.mkdir(exist_ok=True, mode=0o700)
    return folder


def ensure_secret(paths: StatePaths) -> Path:
    """``spark-defaults.conf`` with authentication on and the cluster's secret, generated
    once (0600); returns the folder to give Spark as ``SPARK_CONF_DIR``."""
    folder = conf_dir(paths)
    defaults = folder / "spark-defaults.conf"
    if not defaults.is_file():
        secret = secrets.token_urlsafe(32)
        write_private(defaults, f"spark.authenticate true\nspark.authenticate.secret {secret}\n")
    return folder


def environment(paths: StatePaths) -> dict[str, str]:
    """What a process of the cluster, or an application of it, needs in its environment:
    its configuration (with the secret), its address, and pyspark's distribution as
    ``SPARK_HOME`` (a worker builds its executors' command lines from it)."""
    home = _pyspark_home()
    return {
        "SPARK_CONF_DIR": str(ensure_secret(paths)),
        "SPARK_LOCAL_IP": HOST,
        "SPARK_HOME": str(home),
        # Spark's launcher needs it outside its own scripts (load-spark-env.sh sets it there).
        "SPARK_SCALA_VERSION": _scala_version(home),
    }


def _scala_version(home: Path) -> str:
    """The Scala version pyspark's jars are built for (``spark-core_<scala>-*.jar``)."""
    for jar in (home / "jars").glob("spark-core_*.jar"):
        return jar.name.removeprefix("spark-core_").split("-", 1)[0]
    raise ConfigError(f"pyspark's distribution at {home} has no spark-core jar.")


def _pyspark_home() -> Path:
    try:
        import pyspark
    except ImportError as exc:
        raise ConfigError(
            "The local Spark cluster runs from pyspark's distribution, and pyspark is not "
            "installed.",
            hint=PYSPARK_MISSING_HINT,
        ) from exc
    return Path(pyspark.__file__).parent


def _command(java: str, main: str, *args: str) -> list[str]:
    home = _pyspark_home()
    return [
        java, f"-Xmx{DAEMON_HEAP}", "-cp", str(home / "jars" / "*"), main, *args,
    ]  # fmt: skip


def alive_worker_ports(cluster: ClusterSettings) -> set[int]:
    """The RPC ports of the workers the master counts as ALIVE (none when it does not
    answer): a worker process is registered when one of the ports it listens on is here."""
    try:
        state = httpx.get(ui_url(cluster) + "json/", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return set()
    return {int(w["port"]) for w in state.get("workers", []) if w.get("state") == "ALIVE"}


def workers_alive(cluster: ClusterSettings) -> int:
    """How many workers the master counts as ALIVE (0 when it does not answer)."""
    return len(alive_worker_ports(cluster))


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process ``pid`` listens on (none when it cannot be read)."""
    try:
        sockets = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return set()
    return {s.laddr.port for s in sockets if s.status == psutil.CONN_LISTEN and s.laddr}


def start_cluster(settings: Settings) -> float | None:
    """Start the master, then each worker that is not running; return once every worker
    is registered (the seconds it took), None when all of them were already running.

    Raises ``ConfigError`` for a taken port or missing Java/pyspark, ``TerminalError`` when
    one dies while starting, ``TransientError`` when they do not come up in time; what this
    call started is stopped again on any error.
    """
    with component_lock(settings.paths, MASTER):
        return _start_cluster(settings)


def _start_cluster(settings: Settings) -> float | None:
    paths, c = settings.paths, settings.cluster
    missing = [n for n in names(c) if process.running(paths, n) is None]
    if not missing:
        return None
    java = require_java()
    env = environment(paths)
    started: list[str] = []
    took = 0.0
    try:
        if MASTER in missing:
            require_free(LABEL, HOST, [c.spark_master_port, c.spark_master_ui_port],
                         "USERSTREAM_CLUSTER__SPARK_MASTER_PORT")  # fmt: skip
            cmd = _command(
                java, "org.apache.spark.deploy.master.Master", "--host", HOST,
                "--port", str(c.spark_master_port), "--webui-port", str(c.spark_master_ui_port),
            )  # fmt: skip
            process.start(paths, MASTER, cmd, env=env)
            started.append(MASTER)
            took += wait_ready(
                paths, MASTER, LABEL, lambda: port_open(HOST, c.spark_master_port),
                timeout=START_TIMEOUT_S,
            )  # fmt: skip
        for index in range(1, c.spark_workers + 1):
            name = worker_name(index)
            if name not in missing:
                continue
            work = paths.data / "spark" / name
            work.mkdir(parents=True, exist_ok=True, mode=0o700)
            cmd = _command(
                java, "org.apache.spark.deploy.worker.Worker", master_url(c),
                "--host", HOST, "--cores", str(c.spark_worker_cores),
                "--memory", c.spark_worker_memory, "--work-dir", str(work),
                "--webui-port", "0",  # any free port: the master's UI links each worker's
            )  # fmt: skip
            process.start(paths, name, cmd, env=env)
            started.append(name)
        workers = [n for n in started if n != MASTER]

        def registered() -> bool:
            for name in workers:  # a worker that died says why, in its own words
                if process.running(paths, name) is None:
                    raise died_error(paths, name, f"Spark {name}")
            return len(alive_worker_ports(c)) >= c.spark_workers

        took += wait_ready(paths, MASTER, LABEL, registered, timeout=START_TIMEOUT_S)
    except BaseException:
        for name in reversed(started):
            process.stop(paths, name, timeout=STOP_TIMEOUT_S)
        raise
    log.info("spark_cluster_ready master=%s workers=%d", master_url(c), c.spark_workers)
    return took


def stop_cluster(settings: Settings) -> list[str]:
    """Stop the workers, then the master; the names of those that were running (every
    worker with a pid file, also beyond today's ``cluster.spark_workers``)."""
    run = settings.paths.run
    recorded = [p.name.removesuffix(".pid") for p in run.glob("spark-worker-*.pid")]
    workers = sorted({*names(settings.cluster)[1:], *recorded}, reverse=True)
    stopped = []
    with component_lock(settings.paths, MASTER):
        for name in [*workers, MASTER]:
            if process.stop(settings.paths, name, timeout=STOP_TIMEOUT_S):
                stopped.append(name)
    return stopped


def is_local_cluster(settings: Settings) -> bool:
    """True when the stream's master is this machine's cluster (its secret then applies)."""
    port = settings.cluster.spark_master_port
    return settings.spark.master in (f"spark://{HOST}:{port}", f"spark://localhost:{port}")
