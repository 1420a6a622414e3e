"""One-line warnings a command prints before it starts calling providers."""

from __future__ import annotations

import click

from runner.config.project import Workspace
from runner.engine.accounts import untrimmed_keys


def warn_about_keys(ws: Workspace) -> None:
    """Name each key variable that mediamix will use trimmed (never its value)."""
    for warning in untrimmed_keys(ws.accounts):
        click.echo(f"mediamix: warning: {warning}", err=True)
