"""``mediamix log``: where the run log is, and moving its history between machines.

Also home of ``--log DIR`` and ``runlog_for``, which every run-log command uses to find
the log: ``--log`` if given, else the project's ``runlog`` directory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from runner.cli.output import emit, to_json
from runner.errors import RunLogError
from runner.runlog.store import RunLog

F = TypeVar("F", bound=Callable[..., Any])


def log_option(func: F) -> F:
    decorator = click.option(
        "--log",
        "log_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Run-log directory to use (default: the project's, .mediamix/runlog).",
    )
    return decorator(func)


def runlog_dir(ctx: click.Context, log_dir: Path | None) -> Path:
    if log_dir is not None:
        return log_dir
    from runner.config.location import runlog_dir as project_runlog_dir

    return project_runlog_dir((ctx.find_object(dict) or {}).get("project"))


def print_notice(message: str) -> None:
    """A run-log notice (records not merged yet, a damaged file moved aside) on stderr."""
    click.echo(f"mediamix: note: {message}", err=True)


def runlog_for(ctx: click.Context, log_dir: Path | None, *, must_exist: bool = True) -> RunLog:
    log = RunLog(runlog_dir(ctx, log_dir), on_notice=print_notice)
    if must_exist and not log.exists():
        raise RunLogError(
            f"no run log at {log.directory}: nothing has run in this project yet "
            "(or point --log at a run-log directory)"
        )
    return log


@click.group("log")
def log_cmd() -> None:
    """Export or import run-log history (for CI shards), or show where it lives.

    \b
    On each shard:   mediamix log export runlog-shard-3/
    Then, once:      mediamix log import runlog-shard-*/
    """


@log_cmd.command("path")
@log_option
@click.pass_context
def path_cmd(ctx: click.Context, log_dir: Path | None) -> None:
    """Print the run-log directory (holds runlog.duckdb)."""
    click.echo(str(runlog_dir(ctx, log_dir).resolve()))


@log_cmd.command("export")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@log_option
@click.option("--json", "as_json", is_flag=True, help="Print row counts as JSON.")
@click.pass_context
def export_cmd(ctx: click.Context, path: Path, log_dir: Path | None, as_json: bool) -> None:
    """Write every table to PATH/<table>.parquet (plus manifest.json)."""
    counts = runlog_for(ctx, log_dir).export(path)
    if as_json:
        emit(to_json({"path": str(path), "rows": counts}))
    else:
        summary = ", ".join(f"{n} {table}" for table, n in counts.items())
        emit(f"exported {summary} to {path}")


@log_cmd.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@log_option
@click.option("--json", "as_json", is_flag=True, help="Print row counts as JSON.")
@click.pass_context
def import_cmd(
    ctx: click.Context, paths: tuple[Path, ...], log_dir: Path | None, as_json: bool
) -> None:
    """Merge exports into this run log. Importing the same export twice adds nothing."""
    counts = runlog_for(ctx, log_dir, must_exist=False).import_(paths)
    if as_json:
        emit(to_json({"rows": counts}))
    else:
        summary = ", ".join(f"{n} {table}" for table, n in counts.items())
        emit(f"imported (new or updated rows): {summary}")
