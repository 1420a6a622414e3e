"""``mediamix schema KIND``: print a file kind's JSON Schema."""

from __future__ import annotations

import click

from runner.config.resources import SCHEMA_KINDS, schema_path


@click.command("schema")
@click.argument("kind", type=click.Choice(SCHEMA_KINDS))
@click.option("--path", "show_path", is_flag=True, help="Print the schema file's path instead.")
def schema_cmd(kind: str, show_path: bool) -> None:
    """Print the JSON Schema (draft 2020-12) for KIND: preset, pipeline, accounts, project.

    Point your editor at it for completion and inline errors, e.g. with the YAML extension:
    "# yaml-language-server: $schema=<path>" as the first line of a file.
    """
    path = schema_path(kind)
    click.echo(str(path) if show_path else path.read_text(encoding="utf-8").rstrip())
