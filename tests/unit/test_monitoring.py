"""Monitoring: the Prometheus configs (the one `up` generates, Compose's) and the alerts pass
promtool, the alerts fire when they should, Prometheus scrapes the ports the settings say,
every metric the alerts and the Grafana dashboard name is one the project exposes, and every
series they select on the project's own metrics exists, at 0, before the first event."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from userstream.config import (
    CassandraSettings,
    DashboardSettings,
    KafkaSettings,
    MonitoringSettings,
    RegistrySettings,
    Settings,
    SparkSettings,
)
from userstream.stack import monitoring

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "monitoring"
GRAFANA = MONITORING / "grafana"
DASHBOARD = json.loads((GRAFANA / "dashboards" / "userstream.json").read_text())
ALERTS = yaml.safe_load((MONITORING / "alerts.yml").read_text())
STATSD_MAPPING = yaml.safe_load((MONITORING / "statsd-mapping.yml").read_text())

# The parts Prometheus scrapes, each on the port its setting defaults to.
DEFAULT_PORTS = {
    "kafka": KafkaSettings().metrics_port,
    "cassandra": CassandraSettings().metrics_port,
    "stream": SparkSettings().metrics_port,
    "dashboard": DashboardSettings().port,
    "airflow": MonitoringSettings().statsd_exporter_port,
    "registry": RegistrySettings().port,
}
# Compose's registry is Confluent's: its metrics come from the JMX exporter agent, beside its
# API port (which the local registry shares with its /metrics).
COMPOSE_PORTS = {**DEFAULT_PORTS, "registry": 7074}


def _generated_config(tmp_path: Path, **sections: Any) -> Path:
    """The Prometheus config `userstream up` writes, for settings with ``sections``."""
    return monitoring.write_prometheus_config(Settings(state_dir=tmp_path / "state", **sections))


# --- promtool ---------------------------------------------------------------------------------


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.geteuid() == 0:
            pytest.fail("promtool is missing: `apt-get install prometheus` (.ci/run installs it)")
        pytest.skip("promtool is not installed (Debian: the `prometheus` package); CI has it")
    return subprocess.run(
        [promtool, *args],
        cwd=MONITORING,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_generated_and_the_compose_prometheus_configs_pass_promtool(tmp_path: Path) -> None:
    # Checks the rule files they load as well.
    for config in (str(_generated_config(tmp_path)), "prometheus-compose.yml"):
        checked = _promtool("check", "config", config)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_alert_rules_pass_promtool() -> None:
    checked = _promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_alerts_fire_on_sick_series_and_stay_silent_on_healthy_ones() -> None:
    tested = _promtool("test", "rules", "alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_dashboards_queries_are_valid_promql(tmp_path: Path) -> None:
    # promtool has no query checker: the queries go through it as recording rules, with
    # Grafana's own variable replaced by a duration.
    rules = [
        {"record": f"dashboard:query_{i}", "expr": expr.replace("$__rate_interval", "1m")}
        for i, expr in enumerate(_dashboard_exprs())
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = _promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr


# --- scrape targets ---------------------------------------------------------------------------


def _targets(config: Path) -> dict[str, list[str]]:
    scrape = yaml.safe_load(config.read_text())["scrape_configs"]
    return {
        job["job_name"]: [t for static in job["static_configs"] for t in static["targets"]]
        for job in scrape
    }


def test_local_prometheus_scrapes_the_default_ports_on_loopback(tmp_path: Path) -> None:
    expected = {job: [f"127.0.0.1:{port}"] for job, port in DEFAULT_PORTS.items()}
    assert _targets(_generated_config(tmp_path)) == expected


def test_local_prometheus_follows_the_settings(tmp_path: Path) -> None:
    config = _generated_config(
        tmp_path,
        kafka=KafkaSettings(metrics_port=17071),
        dashboard=DashboardSettings(port=18090),
        spark=SparkSettings(metrics_port=0),  # any free port: nothing fixed to scrape
        monitoring=MonitoringSettings(statsd_port=0),  # no Airflow metrics
        registry=RegistrySettings(url="https://registry.example:8081"),  # yours to scrape
    )
    targets = _targets(config)
    assert targets["kafka"] == ["127.0.0.1:17071"]
    assert targets["dashboard"] == ["127.0.0.1:18090"]
    assert set(targets) == {"kafka", "cassandra", "dashboard"}
    local = _targets(_generated_config(tmp_path, registry=RegistrySettings(port=18085)))
    assert local["registry"] == ["127.0.0.1:18085"]
    assert (config.parent / "alerts.yml").read_text() == (MONITORING / "alerts.yml").read_text()
    assert config.stat().st_mode & 0o077 == 0


def test_local_prometheus_scrapes_each_node_of_a_running_kafka_cluster(tmp_path: Path) -> None:
    from userstream.host import process

    settings = Settings(state_dir=tmp_path / "state")
    process.write_pid_file(settings.paths, "kafka-2", os.getpid())  # the cluster runs
    config = monitoring.write_prometheus_config(settings)
    assert _targets(config)["kafka"] == ["127.0.0.1:7071", "127.0.0.2:7071", "127.0.0.3:7071"]


def test_compose_prometheus_scrapes_compose_services_on_the_same_ports() -> None:
    services = set(yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"])
    targets = _targets(MONITORING / "prometheus-compose.yml")
    assert set(targets) == set(DEFAULT_PORTS)
    for job, addresses in targets.items():
        for address in addresses:
            host, port = address.rsplit(":", 1)
            assert host in services, f"{job}: {address} is not a Compose service"
            assert int(port) == COMPOSE_PORTS[job], f"{job}: {address}"


def test_both_configs_load_the_alerts(tmp_path: Path) -> None:
    for config in (_generated_config(tmp_path), MONITORING / "prometheus-compose.yml"):
        assert yaml.safe_load(config.read_text())["rule_files"] == ["alerts.yml"]


# --- alerts -----------------------------------------------------------------------------------


def _rules() -> list[dict[str, Any]]:
    return [rule for group in ALERTS["groups"] for rule in group["rules"]]


def test_every_alert_says_what_is_wrong_and_what_to_do() -> None:
    for rule in _rules():
        notes = rule.get("annotations", {})
        assert notes.get("summary", "").strip(), rule["alert"]
        assert len(notes.get("description", "")) > 40, rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]


def test_every_scrape_job_has_an_alert_when_it_is_down() -> None:
    down = {
        m.group(1)
        for rule in _rules()
        if (m := re.fullmatch(r'up\{job="(\w+)"\} == 0', rule["expr"].strip()))
        if rule.get("for") == "1m"
    }
    assert down == set(DEFAULT_PORTS)


# --- metric names -----------------------------------------------------------------------------

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_SELECTORS = re.compile(r"\{[^}]*\}|\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
# A name, whole (not the tail of a number or duration), that is not a function's.
_NAME = re.compile(r"(?<![\w:.$])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, labels, keywords left out)."""
    bare = _GROUPING.sub(" ", _SELECTORS.sub(" ", _STRINGS.sub('""', expr)))
    return {name for name in _NAME.findall(bare) if name.lower() not in _KEYWORDS}


def test_metric_names_are_read_from_promql() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (job, le) (rate(a_bucket{le!="1e3"}[5m] offset 1h)))'
        " > 2 and on (job) time() - b_seconds > bool 900 unless c"
    )
    assert metric_names(expr) == {"a_bucket", "b_seconds", "c"}


def _dashboard_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _dashboard_panels(panel.get("panels", []))


def _dashboard_exprs() -> list[str]:
    return [
        target["expr"]
        for panel in _dashboard_panels(DASHBOARD["panels"])
        for target in panel.get("targets", [])
    ]


def family_names(family: Any) -> set[str]:
    """The sample names a prometheus_client metric family is exposed under."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "summary": ("", "_count", "_sum", "_created"),
        "info": ("_info",),
    }.get(family.type, ("",))
    return {family.name + s for s in suffixes} | {sample.name for sample in family.samples}


def _stream_names() -> set[str]:
    from userstream.streaming.metrics import StreamMetrics

    stream = StreamMetrics(KafkaSettings().topic, KafkaSettings().partitions)
    return {name for family in stream.registry.collect() for name in family_names(family)}


def _producer_names() -> set[str]:
    """The names written in the producer's metrics module, with the suffixes they take.

    Read from its source: the producer's counts are written to a file the dashboard
    serves, so no registry in this process holds them.
    """
    spec = importlib.util.find_spec("userstream.producing.metrics")
    assert spec is not None and spec.origin is not None
    tree = ast.parse(Path(spec.origin).read_text())
    literals = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and re.fullmatch(r"userstream_\w+", node.value)
    }
    suffixes = ("", "_total", "_created", "_bucket", "_count", "_sum")
    return {name + s for name in literals for s in suffixes}


def _airflow_names() -> set[str]:
    """The names the StatsD exporter gives Airflow's metrics by the mapping (its timers are
    summaries: the name itself carries the quantiles)."""
    summary = ("", "_count", "_sum")
    return {
        rule["name"] + suffix
        for rule in STATSD_MAPPING["mappings"]
        for suffix in (summary if not rule["name"].endswith("_total") else ("",))
    }


def _capture_groups(pattern: str) -> list[str]:
    """The text of each capturing group of a regular expression, in the order of `$1`, `$2`…"""
    groups: dict[int, str] = {}
    stack: list[tuple[int, int | None]] = []
    count, i, in_class = 0, 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            capturing = not pattern.startswith("(?", i)
            count += capturing
            stack.append((i + 1, count if capturing else None))
        elif char == ")":
            start, number = stack.pop()
            if number is not None:
                groups[number] = pattern[start:i]
        i += 1
    return [groups[n] for n in sorted(groups)]


def _jmx_name_patterns(tmp_path: Path) -> list[re.Pattern[str]]:
    """A regular expression per JMX exporter rule, for the names it can produce.

    `$n` in a rule's name is its pattern's group n: an alternation of words becomes those
    words as the exporter writes them (lowercased, `-` as `_`), anything else any name part.
    """
    from userstream.stack._render import render

    values: dict[str, dict[str, object]] = {
        "kafka": {},
        "cassandra": {"keyspace": CassandraSettings().keyspace},
    }
    patterns = []
    for component, placeholders in values.items():
        rendered = render(f"{component}-metrics.yaml", tmp_path / component, placeholders)
        config = yaml.safe_load(rendered.read_text())
        assert config["lowercaseOutputName"] is True
        for rule in config["rules"]:
            groups = _capture_groups(rule["pattern"])
            parts = []
            for piece in re.split(r"(\$\d+)", rule["name"]):
                if not piece.startswith("$"):
                    parts.append(re.escape(piece.lower()))
                    continue
                group = groups[int(piece[1:]) - 1]
                if re.fullmatch(r"[\w-]+(\|[\w-]+)*", group):
                    words = {re.sub(r"[^a-z0-9_:]", "_", w.lower()) for w in group.split("|")}
                    parts.append("(?:" + "|".join(sorted(words)) + ")")
                else:
                    parts.append("[a-z0-9_:]+")
            name = "".join(parts)
            if rule.get("type") == "COUNTER" and not rule["name"].endswith("_total"):
                name += "_total"
            patterns.append(re.compile(name))
    return patterns


def test_rule_names_expand_to_what_the_exporter_serves(tmp_path: Path) -> None:
    patterns = _jmx_name_patterns(tmp_path)
    for served in (
        "kafka_server_brokertopicmetrics_messagesin_total",
        "kafka_server_raft_metrics_current_leader",
        "cassandra_clientrequest_timeouts_count",
        "cassandra_table_writelatency_seconds_sum",
    ):
        assert any(p.fullmatch(served) for p in patterns), served
    unknown = "kafka_server_brokertopicmetrics_messagesout_total"
    assert not any(p.fullmatch(unknown) for p in patterns)


_STANDARD = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added"}
# The JMX exporter agent adds the JVM's (jvm_*), its own (jmx_*) and the process's metrics.
_AGENT_PREFIXES = ("jvm_", "jmx_", "process_")


def alert_and_dashboard_metrics() -> dict[str, str]:
    """Every metric name the alerts and the Grafana dashboard use → where (the e2e test
    checks them against the running parts' /metrics)."""
    used = {
        **{rule["expr"]: f"alert {rule['alert']}" for rule in _rules()},
        **{expr: "dashboard" for expr in _dashboard_exprs()},
    }
    return {name: where for expr, where in used.items() for name in metric_names(expr)}


def test_every_metric_the_alerts_and_dashboard_name_is_exposed(tmp_path: Path) -> None:
    exposed = _stream_names() | _producer_names() | _airflow_names() | _STANDARD
    jmx = _jmx_name_patterns(tmp_path)
    used = {
        **{expr: f"alert {rule['alert']}" for rule in _rules() for expr in [rule["expr"]]},
        **{expr: "dashboard" for expr in _dashboard_exprs()},
    }
    unknown = []
    for expr, where in used.items():
        names = metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        for name in names:
            if not (
                name in exposed
                or name.startswith(_AGENT_PREFIXES)
                or any(p.fullmatch(name) for p in jmx)
            ):
                unknown.append(f"{where}: {name}")
    assert not unknown, "metrics nothing exposes:\n" + "\n".join(sorted(set(unknown)))


# --- metrics that exist from the start ----------------------------------------------------------

# Series that rightly appear with the first event only (their family is served from the start).
NOT_AT_START = {
    "userstream_producer_last_run_timestamp_seconds": "a time has no zero: 0 would say the "
    "producer last ran in 1970, and ProducerNotRunning would fire at once",
}
# Labels Prometheus adds when it scrapes: no exposition carries them.
_TARGET_LABELS = {"job", "instance"}
_SELECTOR = re.compile(r"\b(userstream_\w+)\s*(?:\{([^}]*)\})?")
_MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def selectors(expr: str) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """The project's own metrics (``userstream_*``) a PromQL expression selects, each with its
    label matchers (label, operator, value)."""
    return [(name, _MATCHER.findall(body or "")) for name, body in _SELECTOR.findall(expr)]


def test_selectors_are_read_from_promql() -> None:
    expr = 'sum by (le) (rate(userstream_a_bucket{x="1", y=~"a|b"}[5m])) / userstream_b_total'
    assert selectors(expr) == [
        ("userstream_a_bucket", [("x", "=", "1"), ("y", "=~", "a|b")]),
        ("userstream_b_total", []),
    ]


def _selects(labels: dict[str, str], matchers: list[tuple[str, str, str]]) -> bool:
    for label, op, value in matchers:
        if label in _TARGET_LABELS:
            continue
        got = labels.get(label, "")
        hit = bool(re.fullmatch(value, got)) if op in ("=~", "!~") else got == value
        if hit == (op in ("!=", "!~")):
            return False
    return True


def selected_series(expositions: dict[str, str]) -> dict[str, tuple[str, list[float]]]:
    """For each selector the alerts and the dashboard use on a ``userstream_*`` metric
    (``"<where>: <selector>"``): the exposition (of ``expositions``, owner → Prometheus text)
    whose families include its metric, and the values of the series it selects there
    ("" and none when no exposition has the metric)."""
    parsed = {
        owner: list(text_string_to_metric_families(text)) for owner, text in expositions.items()
    }
    used = {
        **{rule["expr"]: f"alert {rule['alert']}" for rule in _rules()},
        **{expr: "dashboard" for expr in _dashboard_exprs()},
    }
    found: dict[str, tuple[str, list[float]]] = {}
    for expr, where in used.items():
        for name, matchers in selectors(expr):
            key = f"{where}: {name}{{{', '.join(f'{lbl}{op}{v!r}' for lbl, op, v in matchers)}}}"
            owner = next(
                (o for o, fams in parsed.items() if any(name in family_names(f) for f in fams)), ""
            )
            values = [
                sample.value
                for family in parsed.get(owner, [])
                for sample in family.samples
                if sample.name == name and _selects(sample.labels, matchers)
            ]
            found[key] = (owner, values)
    return found


def _served_at_start(tmp_path: Path) -> dict[str, str]:
    """What each owner of the project's metrics serves before any event, by where its series
    are initialised."""
    from prometheus_client import generate_latest

    from userstream.producing.metrics import served_runs
    from userstream.streaming.metrics import StreamMetrics

    kafka = KafkaSettings()
    stream = StreamMetrics(kafka.topic, kafka.partitions)
    return {
        "the stream driver (streaming/metrics.py, StreamMetrics.__init__)": generate_latest(
            stream.registry
        ).decode(),
        # No producer run yet: the totals file does not exist.
        "the dashboard's /metrics (producing/metrics.py, served_runs)": served_runs(
            tmp_path / "producer.prom", kafka.topic
        ),
    }


def test_every_series_the_alerts_and_dashboard_select_is_0_before_the_first_event(
    tmp_path: Path,
) -> None:
    problems = []
    for selector, (owner, values) in selected_series(_served_at_start(tmp_path)).items():
        name = selector.split(": ", 1)[1].split("{")[0]
        if not owner:
            problems.append(f"{selector}: no registry of the project declares {name}")
        elif name in NOT_AT_START:
            continue  # declared (the owner serves its family), with no series yet
        elif not values:
            problems.append(
                f"{selector}: no such series before the first event; initialise its known "
                f"label values (`.labels(...)` at 0) in {owner}, or list it in NOT_AT_START "
                "with why it cannot exist before an event"
            )
        elif any(values):
            problems.append(f"{selector}: {values} before any event in {owner}, not 0")
    assert not problems, "\n".join(problems)
    used = {name for expr in [*(r["expr"] for r in _rules()), *_dashboard_exprs()]
            for name, _ in selectors(expr)}  # fmt: skip
    assert set(NOT_AT_START) <= used, "NOT_AT_START names a metric nothing uses"


# --- Grafana ----------------------------------------------------------------------------------


def _provisioned(kind: str) -> list[dict[str, Any]]:
    files = sorted((GRAFANA / "provisioning" / kind).glob("*.yml"))
    assert files, kind
    key = "datasources" if kind == "datasources" else "providers"
    return [item for f in files for item in yaml.safe_load(f.read_text())[key]]


def test_the_dashboard_names_the_provisioned_datasource_by_uid() -> None:
    (source,) = _provisioned("datasources")
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    for panel in _dashboard_panels(DASHBOARD["panels"]):
        if panel["type"] == "row":
            continue
        refs = [panel["datasource"], *(t["datasource"] for t in panel["targets"])]
        assert refs and all(ref == {"type": "prometheus", "uid": source["uid"]} for ref in refs)


def test_the_dashboard_shows_the_pipeline_and_its_servers() -> None:
    exprs = " ".join(_dashboard_exprs())
    for name in (
        "userstream_producer_users_total",
        "userstream_stream_rows_total",
        "userstream_stream_lag_messages",
        "userstream_end_to_end_latency_seconds_bucket",
        "userstream_stream_rejects_total",
        "userstream_stream_batch_duration_seconds_bucket",
        "kafka_network_requestmetrics_requests_total",
        "cassandra_clientrequest_latency_seconds_count",
        "jvm_memory_used_bytes",
    ):
        assert name in exprs, name
    ids = [panel["id"] for panel in _dashboard_panels(DASHBOARD["panels"])]
    assert len(ids) == len(set(ids))


def test_grafana_loads_the_dashboards_from_where_compose_mounts_them() -> None:
    grafana = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["grafana"]
    mounts = {m.split(":")[0]: m.split(":")[1] for m in grafana["volumes"]}
    (provider,) = _provisioned("dashboards")
    assert mounts["./monitoring/grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./monitoring/grafana/provisioning"] == "/etc/grafana/provisioning"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/userstream.json"
