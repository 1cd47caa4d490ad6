"""`userstream fetch-jars | doctor | stack up|down|status|metrics-agent | query`: the local
Kafka + Cassandra."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from userstream.config import load_settings

out = Console()
err = Console(stderr=True)

stack_app = typer.Typer(
    help="Only Kafka + Cassandra on this machine (no Docker), and their metrics agent for "
    "containers.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.command("fetch-jars")(fetch_jars)
    app.command("doctor")(doctor)
    app.command("query")(query)
    app.command("kafka-config")(kafka_config)
    app.add_typer(stack_app, name="stack")


def fetch_jars() -> None:
    """Fetch the Kafka, Cassandra and Spark connector jars from Maven Central (once)."""
    from userstream.stack import jars
    from userstream.stack.local import ensure_layout

    settings = load_settings()
    ensure_layout(settings.paths)
    for component in jars.COMPONENTS:
        if not jars.pom_path(component).is_file():
            continue
        if jars.is_fetched(settings.paths.lib, component):
            out.print(f"{component}: up to date")
            continue
        out.print(f"{component}: fetching from Maven Central…")
        folder = _fetch_with_progress(settings.paths.lib, component, settings.paths.logs)
        out.print(f"{component}: {len(list(folder.glob('*.jar')))} jars in {folder}")


def _fetch_with_progress(lib: Path, component: str, logs: Path) -> Path:
    """``jars.ensure_jars``, saying every few seconds how much Maven has downloaded."""
    from userstream.host import process
    from userstream.stack import jars

    log = jars.fetch_log(lib, component, logs)
    return process.with_ticks(
        lambda: jars.ensure_jars(lib, component, log_dir=logs),
        component,
        log,
        lambda line: out.print(line, highlight=False),
        detail=lambda: jars.downloaded(log),
    )


def kafka_config(
    role: Annotated[
        str,
        typer.Option(
            help="Whose login: admin (every topic, a super user), producer (writes the topic "
            "and its DLQ) or stream (reads the topic, writes the DLQ)."
        ),
    ] = "admin",
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object of librdkafka keys instead.")
    ] = False,
) -> None:
    """Print the Kafka client settings (with the password) for your own tools.

    A librdkafka properties file: `userstream kafka-config > client.properties` (keep it
    private), then `kcat -F client.properties -L`, or load it into confluent-kafka.
    """
    from userstream.kafka import client_config

    if role not in client_config.ROLES:
        raise typer.BadParameter(
            f"choose one of {', '.join(client_config.ROLES)}", param_hint="--role"
        )
    settings = client_config.config(load_settings().kafka, role)
    if as_json:
        print(orjson.dumps(settings).decode())
    else:
        print(client_config.properties(settings), end="")


def doctor() -> None:
    """Check Java, Maven, ports and disk; say what to fix. Exit 1 when something is wrong."""
    from userstream.stack.doctor import run_checks

    checks = run_checks(load_settings())
    table = Table("check", "", "detail", "fix", show_lines=False)
    for check in checks:
        mark = "[green]ok[/green]" if check.ok else "[red]FAIL[/red]"
        table.add_row(check.name, mark, check.detail, check.fix)
    out.print(table)
    failed = [c for c in checks if not c.ok]
    if failed:
        err.print(f"[red]{len(failed)} problem(s) to fix before `userstream stack up`.[/red]")
        raise typer.Exit(1)
    out.print("Everything needed is in place.")


@stack_app.command("up")
def stack_up(
    cluster: Annotated[
        bool,
        typer.Option(
            "--cluster",
            help="Kafka as three nodes on 127.0.0.1-3 (three replicas, min.insync.replicas "
            "2), Cassandra as three nodes on 127.0.0.1-3 (keyspaces with three replicas), and a "
            "Spark standalone master and workers on 127.0.0.1 (cluster.* settings). Until "
            "`stack down`, every later command of this checkout uses them by itself "
            "(docs/clusters.md: A cluster on this machine).",
        ),
    ] = False,
) -> None:
    """Start Kafka (KRaft) and Cassandra (auth on), wait until both answer. Idempotent.

    With --cluster, Kafka and Cassandra run as three nodes each and a Spark cluster starts
    too."""
    from userstream.stack.local import stack_up as up

    settings = load_settings()
    up(settings, cluster=cluster, progress=out.print)
    out.print(f"Stack up; state folder {settings.paths.root}. Next: `userstream stack status`.")


@stack_app.command("down")
def stack_down() -> None:
    """Stop Cassandra and Kafka gracefully; their data is kept."""
    from userstream.stack.local import stack_down as down

    down(load_settings(), progress=out.print)


@stack_app.command("status")
def stack_status() -> None:
    """Each component: running, pid, address, version, metrics, health. Exit 1 when one is
    down."""
    from userstream.stack.local import stack_status as status

    components = status(load_settings())
    table = Table("component", "running", "pid", "address", "version", "metrics", "health")
    for c in components:
        table.add_row(
            c.name,
            "yes" if c.running else "[red]no[/red]",
            str(c.pid or "-"),
            c.address,
            c.version or "-",
            c.metrics_url or "-",
            f"[green]{c.detail}[/green]" if c.healthy else f"[red]{c.detail}[/red]",
        )
    out.print(table)
    if not all(c.healthy for c in components):
        raise typer.Exit(1)


@stack_app.command("metrics-agent")
def stack_metrics_agent(
    target: Annotated[
        Path,
        typer.Argument(
            file_okay=False,
            help="Folder to write into (created when missing; the files are replaced).",
        ),
    ],
) -> None:
    """Write the Prometheus JMX exporter agent and the rules of Kafka, Cassandra and the
    schema registry into TARGET.

    For JVMs that `stack up` does not start: docker-compose.yml's metrics-agent service runs
    it to fill the volume its kafka, cassandra and schema-registry containers load the agent
    from.

    TARGET gets jmx_prometheus_javaagent.jar (the one `userstream fetch-jars` put under the
    state folder's lib/), kafka-metrics.yaml, cassandra-metrics.yaml (for the tables of
    USERSTREAM_CASSANDRA__KEYSPACE) and schema-registry-metrics.yaml (Confluent's registry),
    rendered from the project's templates. Nothing in them is secret: the folder is 0755 and
    the files 0644, for other users' JVMs. Load with
    -javaagent:TARGET/jmx_prometheus_javaagent.jar=[HOST:]PORT:TARGET/kafka-metrics.yaml
    (without HOST the agent listens on every interface). Exit 1 when the jar is missing.
    """
    from userstream.stack import jmx_exporter

    settings = load_settings()
    for path in jmx_exporter.export(
        settings.paths.lib, target, keyspace=settings.cassandra.keyspace
    ):
        typer.echo(f"wrote {path}")  # plain: a path is never wrapped


def _json_default(value: Any) -> Any:
    """What orjson cannot encode natively: CQL sets, maps, decimals, durations."""
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, set | frozenset | tuple) or type(value).__name__ == "SortedSet":
        return list(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + value.hex()  # a CQL blob literal
    return str(value)


def query(
    cql: Annotated[str, typer.Argument(help="One CQL statement.")],
    json_output: Annotated[
        bool, typer.Option("--json", help="One JSON object per row (uuids, timestamps as text).")
    ] = False,
) -> None:
    """Run one CQL statement with the project's credentials and print the rows."""
    from cassandra import DriverException  # type: ignore[attr-defined]
    from cassandra.cluster import EXEC_PROFILE_DEFAULT
    from cassandra.protocol import ErrorMessage
    from cassandra.query import dict_factory

    from userstream.errors import TerminalError
    from userstream.store import session

    settings = load_settings()
    with session(settings) as sess:
        as_dicts = sess.execution_profile_clone_update(
            EXEC_PROFILE_DEFAULT, row_factory=dict_factory
        )
        try:
            rows = list(sess.execute(cql, execution_profile=as_dicts))
        except (DriverException, ErrorMessage) as exc:
            raise TerminalError(
                f"Cassandra refused the statement: {getattr(exc, 'message', None) or exc}."
            ) from None
    if json_output:
        for row in rows:
            # Plain stdout: rich would wrap or colour the JSON.
            typer.echo(
                orjson.dumps(row, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()
            )
        return
    if not rows:
        out.print("(no rows)")
        return
    out.print(_rows_table(rows, out.width))


def _rows_table(rows: list[dict[str, Any]], width: int) -> Table:
    """A table of rows; one block per row (column, value) when they would not fit side by side.

    ``SELECT *`` of user_profiles has 33 columns: squeezed into a terminal they would
    show nothing, so wide results are printed like cqlsh's EXPAND ON.
    """
    columns = list(rows[0].keys())
    cells = [["" if v is None else str(v) for v in row.values()] for row in rows]
    natural = sum(max(len(c), *(len(r[i]) for r in cells)) + 3 for i, c in enumerate(columns))
    if natural <= width:
        table = Table(*columns)
        for values in cells:
            table.add_row(*values)
        return table
    table = Table("column", "value", show_lines=False)
    for n, values in enumerate(cells, start=1):
        table.add_row(f"[bold]row {n}[/bold]", "", end_section=False)
        for column, value in zip(columns, values, strict=True):
            table.add_row(column, value)
        table.add_section()
    return table
