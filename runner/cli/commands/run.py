"""``mediamix run PIPELINE``: run one pipeline file."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click

from runner.cli.inputs import parse_inputs
from runner.cli.notices import warn_about_keys
from runner.cli.progress import ProgressPrinter
from runner.cli.render import exit_code_for, print_plan, print_result
from runner.cli.signals import grace_option, stop_signals
from runner.engine.api import load, plan_pipeline, run_plan
from runner.engine.dryrun import describe_plan
from runner.engine.results import RunResult
from runner.engine.services import EngineOptions


@click.command("run")
@click.argument("pipeline")
@click.option(
    "-i",
    "--input",
    "inputs",
    multiple=True,
    metavar="NAME=VALUE",
    help="Set a pipeline input (repeatable). Lists: a,b,c or JSON.",
)
@click.option(
    "--inputs-file",
    type=click.Path(exists=True, dir_okay=False),
    help="A YAML or JSON file of inputs.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the plan (steps, candidates in order, attempts, worst-case time); call nothing.",
)
@click.option(
    "--workflow",
    type=click.Choice(["simple", "adaptive"]),
    help="Override the pipeline's workflow.",
)
@click.option("--seed", type=int, help="Seed for weighted/adaptive choices (reproducible runs).")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 4096),
    help="Jobs at once (default: mediamix.yaml's concurrency, 8).",
)
@click.option("--max-cost", type=click.FloatRange(0), help="Stop dispatching past this many USD.")
@click.option(
    "--log",
    "log_dir",
    type=click.Path(file_okay=False),
    help="Run-log directory (default: the project's).",
)
@click.option(
    "--reuse/--no-reuse",
    default=True,
    show_default=True,
    help="Reuse an earlier identical job that succeeded and whose files still exist, "
    "instead of paying for it again (--no-reuse: always make new ones).",
)
@grace_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="Show only failures while running.")
@click.option(
    "-v", "--verbose", is_flag=True, help="Also show steps and jobs as they start, and retry waits."
)
@click.pass_context
def run_cmd(
    ctx: click.Context,
    pipeline: str,
    inputs: tuple[str, ...],
    inputs_file: str | None,
    dry_run: bool,
    workflow: str | None,
    seed: int | None,
    concurrency: int | None,
    max_cost: float | None,
    log_dir: str | None,
    reuse: bool,
    grace_s: float,
    as_json: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Run PIPELINE (a file, or the name of one in the project's pipelines/).

    \b
    Examples:
      mediamix run pipelines/explainer.yaml
      mediamix run pipelines/explainer.yaml -i topic="black holes" -i sections=Mass,Light
      mediamix run pipelines/image.yaml --dry-run

    Prints each artifact's path or URL at the end, which steps local generators served
    (and the key that would enable each skipped vendor), and how many jobs were reused.
    A job identical to one that already succeeded (same step, resolved config, prompt
    and inputs) whose files still exist is reused, not paid for again; --no-reuse makes
    new ones. Exit status: 0 every job succeeded (or was reused), 1 some failed, 2 bad
    input or configuration, 130 interrupted (Ctrl-C), 143 stopped by SIGTERM. On either
    signal no new call starts and the calls in flight get --grace seconds to finish and
    be recorded; the summary is printed all the same.
    """
    ws = load(ctx.obj.get("project"))
    warn_about_keys(ws)
    values: dict[str, Any] = parse_inputs(inputs, inputs_file)
    plan = plan_pipeline(pipeline, ws, values, workflow=workflow)
    if dry_run:
        described = describe_plan(plan, ws)
        if as_json:
            click.echo(json.dumps(described, indent=2, default=str))
        else:
            print_plan(described)
        return
    options = EngineOptions(seed=seed, concurrency=concurrency, max_cost_usd=max_cost)
    printer = ProgressPrinter(quiet=quiet or as_json, verbose=verbose)

    async def main() -> tuple[RunResult, int]:
        async with stop_signals(options.stopper, grace_s=grace_s) as signals:
            result = await run_plan(
                plan, ws, options=options, progress=printer, runlog_dir=log_dir, reuse=reuse
            )
        return result, signals.exit_code

    result, stopped_code = asyncio.run(main())
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        print_result(result)
    ctx.exit(exit_code_for(result.status, stopped_code))
