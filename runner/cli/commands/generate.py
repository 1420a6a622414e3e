"""``mediamix generate``: one artifact from a prompt, no pipeline file needed."""

from __future__ import annotations

import asyncio
import json

import click

from runner.cli.notices import warn_about_keys
from runner.cli.progress import ProgressPrinter
from runner.cli.render import exit_code_for, print_plan, print_result
from runner.cli.signals import grace_option, stop_signals
from runner.config.limits import MAX_ATTEMPTS_MAX, MAX_ATTEMPTS_MIN, WORKFLOWS, prompt_problem
from runner.engine.api import load, one_shot_plan, run_plan
from runner.engine.dryrun import describe_plan
from runner.engine.results import RunResult
from runner.engine.services import EngineOptions
from runner.providers.base import MEDIA_TYPES


@click.command("generate")
@click.option(
    "-t",
    "--type",
    "media_type",
    type=click.Choice(MEDIA_TYPES),
    required=True,
    help="What to make.",
)
@click.option("-p", "--prompt", required=True, help="The prompt (or the text, for speech).")
@click.option("--preset", help="Preset to use (default: the best preset of the media type).")
@click.option(
    "--workflow",
    type=click.Choice(WORKFLOWS),
    default="simple",
    show_default=True,
    help="simple: fallback in order; adaptive: learn from history.",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(MAX_ATTEMPTS_MIN, MAX_ATTEMPTS_MAX),
    help="Attempts per candidate.",
)
@click.option("--seed", type=int, help="Seed for weighted/adaptive choices.")
@click.option("--max-cost", type=click.FloatRange(0), help="Stop before spending more USD.")
@click.option("--dry-run", is_flag=True, help="Show the candidates in order; call nothing.")
@click.option(
    "--reuse/--no-reuse",
    default=True,
    show_default=True,
    help="Reuse an earlier identical job that succeeded and whose files still exist, "
    "instead of paying for it again (--no-reuse: always make new ones).",
)
@grace_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@click.pass_context
def generate_cmd(
    ctx: click.Context,
    media_type: str,
    prompt: str,
    preset: str | None,
    workflow: str,
    max_attempts: int | None,
    seed: int | None,
    max_cost: float | None,
    dry_run: bool,
    reuse: bool,
    grace_s: float,
    as_json: bool,
) -> None:
    """Generate one artifact: mediamix's original one-shot generation.

    \b
    Examples:
      mediamix generate --type image --prompt "a red bicycle, flat illustration"
      mediamix generate -t audio -p "Welcome aboard." --preset speech-simple
      mediamix generate -t text -p "Name three moons of Jupiter" --workflow adaptive
      mediamix generate -t image -p "a red bicycle" --no-reuse   # another take

    The same request a second time hands back the first one's file (nothing is called
    or paid) while that file exists; --no-reuse makes a new one.
    """
    problem = prompt_problem(prompt)
    if problem is not None:
        raise click.BadParameter(f"the prompt {problem}", param_hint="'-p' / '--prompt'")
    ws = load(ctx.obj.get("project"))
    warn_about_keys(ws)
    plan = one_shot_plan(
        ws,
        media_type=media_type,
        prompt=prompt,
        preset=preset,
        workflow=workflow,
        max_attempts=max_attempts,
    )
    if dry_run:
        described = describe_plan(plan, ws)
        if as_json:
            click.echo(json.dumps(described, indent=2, default=str))
        else:
            print_plan(described)
        return
    options = EngineOptions(seed=seed, max_cost_usd=max_cost)

    async def main() -> tuple[RunResult, int]:
        async with stop_signals(options.stopper, grace_s=grace_s) as signals:
            result = await run_plan(
                plan, ws, options=options, progress=ProgressPrinter(quiet=as_json), reuse=reuse
            )
        return result, signals.exit_code

    result, stopped_code = asyncio.run(main())
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        print_result(result)
    ctx.exit(exit_code_for(result.status, stopped_code))
