"""The ``mediamix`` command: dispatch to subcommands, one error boundary.

Subcommands live in ``runner/cli/commands/<name>.py`` and are imported only when run,
so ``mediamix --help`` stays fast (no duckdb/httpx/jinja2 at start-up).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

import click

from runner import __version__
from runner.cli.boundary import run_guarded

#: command name -> (module under runner.cli.commands, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("init", "init_cmd", "Create a new project that validates and runs."),
    "validate": ("validate", "validate_cmd", "Check YAML files against schemas and each other."),
    "run": ("run", "run_cmd", "Run a pipeline file."),
    "generate": ("generate", "generate_cmd", "Generate one artifact from a prompt."),
    "batch": ("batch", "batch_cmd", "Run a pipeline once per row of a JSONL/CSV file."),
    "jobs": ("jobs", "jobs_cmd", "List jobs from the run log, or show one."),
    "report": ("report", "report_cmd", "Success rate, latency and cost from the run log."),
    "sql": ("sql", "sql_cmd", "Run a read-only SQL query over the run log."),
    "log": ("log", "log_cmd", "Export or import run-log history (for CI shards)."),
    "accounts": ("accounts", "accounts_cmd", "List provider accounts and their health."),
    "presets": ("presets", "presets_cmd", "List presets, or show one."),
    "schema": ("schema", "schema_cmd", "Print the JSON Schema of a file kind."),
    "verify": ("verify", "verify_cmd", "Run every media type x workflow and check the files."),
    "serve": ("serve", "serve_cmd", "Serve the HTTP API and dashboard."),
}


def _available() -> dict[str, tuple[str, str, str]]:
    # A command whose module is not written yet is simply not offered.
    return {
        name: spec
        for name, spec in COMMANDS.items()
        if importlib.util.find_spec(f"runner.cli.commands.{spec[0]}") is not None
    }


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_available())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        # Look for this one command's module only, not all of them (each look is a few
        # stat calls, paid by every command's start-up).
        spec = COMMANDS.get(cmd_name)
        if spec is None or importlib.util.find_spec(f"runner.cli.commands.{spec[0]}") is None:
            return None
        module = importlib.import_module(f"runner.cli.commands.{spec[0]}")
        command: click.Command = getattr(module, spec[1])
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help from the table, so listing commands imports none of them.
        rows = [(name, spec[2]) for name, spec in sorted(_available().items())]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(
    name="mediamix", cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, prog_name="mediamix")
@click.option(
    "-C",
    "--project",
    "project",
    type=click.Path(file_okay=False),
    default=None,
    envvar="MEDIAMIX_PROJECT",
    help="Project directory (holds mediamix.yaml). Default: the current directory.",
)
@click.pass_context
def cli(ctx: click.Context, project: str | None) -> None:
    """mediamix: describe media in YAML, generate it with any provider, log every attempt.

    \b
    Start here:
      mediamix init my-project        a new project that runs offline
      mediamix validate               check every YAML file in the project
      mediamix run pipelines/explainer.yaml
      mediamix report                 success rate, latency and cost
    """
    ctx.ensure_object(dict)
    ctx.obj["project"] = project


def main(argv: list[str] | None = None) -> Any:
    return run_guarded(cli, argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
