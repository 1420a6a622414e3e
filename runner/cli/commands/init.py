"""``mediamix init DIR``: scaffold a project."""

from __future__ import annotations

from pathlib import Path

import click

from runner.config.scaffold import init_project


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--force", is_flag=True, help="Overwrite an existing project's files.")
def init_cmd(directory: Path, force: bool) -> None:
    """Create a new project in DIRECTORY (default: here) that validates and runs offline.

    Writes mediamix.yaml, accounts.yaml, an example preset, two pipelines and the JSON
    Schemas your editor uses for completion.
    """
    written = init_project(directory, force=force)
    click.echo(f"Created a mediamix project in {directory} ({len(written)} files).")
    click.echo("Next:")
    click.echo(f"  cd {directory}")
    click.echo("  mediamix validate")
    click.echo("  mediamix run pipelines/explainer.yaml")
