"""`userstream schema config`: the schema registry in use, for your own tools."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer

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
