"""`userstream schema config | check | register | show`: the user's Avro schema and the
schema registry in use."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

schema_app = typer.Typer(
    help="The Avro schema of a user and the schema registry that holds it.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(schema_app, name="schema")


@schema_app.command("config")
def schema_config(
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object of the client's keys instead.")
    ] = False,
) -> None:
    """Print the schema registry client's settings (with the password) for your own tools.

    What confluent-kafka's SchemaRegistryClient takes (`url`, `basic.auth.user.info`, the
    `ssl.*.location` files): `userstream schema config --json` (keep it private), then
    `SchemaRegistryClient(json.load(...))`. For the local registry, its generated login
    (`userstream stack up` makes it); for yours, the USERSTREAM_REGISTRY__* settings.
    """
    from userstream.config import load_settings
    from userstream.kafka.client_config import properties
    from userstream.registry import client_config

    settings = load_settings()
    conf = client_config.config(settings.registry, settings.paths)
    if as_json:
        print(orjson.dumps(conf).decode())
    else:
        print(properties(conf), end="")


SchemaFile = Annotated[
    Path | None,
    typer.Option(
        "--file",
        help="A schema file to use instead of the one in use (USERSTREAM_KAFKA__VALUE_SCHEMA, "
        "else the project's src/userstream/schemas/user.avsc).",
        exists=True,
        dir_okay=False,
    ),
]


@schema_app.command("check")
def schema_check(
    file: SchemaFile = None,
    history_only: Annotated[
        bool, typer.Option("--history-only", help="Only the released versions; no registry.")
    ] = False,
) -> None:
    """Check the schema before it ships: against every released version, then the registry.

    First against every version in src/userstream/schemas/history (BACKWARD_TRANSITIVE, by
    Apache Avro's checker: the stream reading with it reads what any released producer
    wrote), then against the registry in use, for the topic's subject under its own
    compatibility level, in the registry's words. Exit code 1 when it is not compatible.
    """
    from userstream.config import load_settings
    from userstream.registry import tool

    settings = load_settings()
    text = tool.schema_text(file or settings.kafka.value_schema)
    verdicts = [tool.check_history(text)]
    if not history_only:
        verdicts.append(tool.check_registry(settings, text))
    out, err = Console(), Console(stderr=True)
    for verdict in verdicts:
        if verdict.compatible:
            out.print(f"compatible with {verdict.against}", highlight=False, soft_wrap=True)
        else:
            err.print(
                f"[red]NOT compatible with {verdict.against}:[/red]",
                highlight=False,
                soft_wrap=True,
            )
            for message in verdict.messages or ("(the registry gave no detail)",):
                err.print(f"  {message}", highlight=False, markup=False, soft_wrap=True)
    if not all(v.compatible for v in verdicts):
        raise typer.Exit(1)


@schema_app.command("register")
def schema_register(file: SchemaFile = None) -> None:
    """Register the schema under the topic's subject (TOPIC-value) and print its id.

    The producer does this itself with the local registry; with a registry of yours it only
    looks the schema up (USERSTREAM_REGISTRY__AUTO_REGISTER), so register each new version
    here, after `userstream schema check`. The same schema again keeps its id.
    """
    from userstream.config import load_settings
    from userstream.registry import tool

    settings = load_settings()
    done = tool.register(settings, tool.schema_text(file or settings.kafka.value_schema))
    print(f"{done.subject}: version {done.version}, schema id {done.id}")


@schema_app.command("show")
def schema_show(
    version: Annotated[str, typer.Option(help="A version number, or latest.")] = "latest",
    as_json: Annotated[
        bool, typer.Option("--json", help="subject, id, version and schema as one JSON object.")
    ] = False,
) -> None:
    """Print a version of the topic's subject as the registry holds it."""
    from userstream.config import load_settings
    from userstream.registry import tool

    found = tool.show(load_settings(), version)
    if as_json:
        print(orjson.dumps(found.__dict__).decode())
        return
    print(f"{found.subject}: version {found.version}, schema id {found.id}")
    print(orjson.dumps(orjson.loads(found.schema), option=orjson.OPT_INDENT_2).decode())
