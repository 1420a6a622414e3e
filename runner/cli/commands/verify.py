"""``mediamix verify``: every media type x workflow, real files checked, CI-readable results."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from runner.cli.boundary import EXIT_FAILED, EXIT_OK
from runner.cli.commands.log import print_notice
from runner.cli.notices import warn_about_keys
from runner.cli.output import to_json, write_text
from runner.engine.api import load
from runner.errors import UsageError
from runner.verify import junit_xml, markdown_summary, verify
from runner.verify.judge import verify_judge


@click.command("verify")
@click.option("--offline", is_flag=True, help="Use only the built-in local generators (no keys).")
@click.option(
    "--junit",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write JUnit XML here (for CI test reports).",
)
@click.option(
    "--summary",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a Markdown summary here (e.g. $GITHUB_STEP_SUMMARY).",
)
@click.option("--until-pass", is_flag=True, help="Re-run failing cases until they pass.")
@click.option(
    "--deadline",
    type=click.FloatRange(0, min_open=True),
    metavar="SECONDS",
    help="With --until-pass: stop re-running after this many seconds.",
)
@click.option(
    "--judge",
    "judge_model",
    metavar="PROVIDER/MODEL",
    help="Score every case's artifact with this judge model (e.g. openai/gpt-4.1-mini).",
)
@click.option(
    "--min-score",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="With --judge: artifacts scoring below this are rejected like invalid ones.",
)
@click.option(
    "--transcribe",
    metavar="PROVIDER/MODEL",
    help="With --judge: the speech-to-text model for audio (default: the judge vendor's).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.pass_context
def verify_cmd(
    ctx: click.Context,
    offline: bool,
    junit: Path | None,
    summary: Path | None,
    until_pass: bool,
    deadline: float | None,
    judge_model: str | None,
    min_score: float,
    transcribe: str | None,
    as_json: bool,
) -> None:
    """Generate every media type (image, video, audio, text, document) with each workflow
    (simple, adaptive) and check each stored file for real.

    \b
    Examples:
      mediamix verify --offline
      mediamix verify --junit verify.xml --summary "$GITHUB_STEP_SUMMARY"
      mediamix verify --until-pass --deadline 600
      mediamix verify --judge openai/gpt-4.1-mini --min-score 0.6 --junit verify.xml

    \b
    Exit status:
      0    every case passed (100 %)
      1    some case failed
      2    usage or configuration error
      3    internal error (a bug; details in the crash log named on stderr)
      130  interrupted
    """
    if deadline is not None and not until_pass:
        raise UsageError("--deadline only applies with --until-pass")
    if until_pass and deadline is None:
        raise UsageError("--until-pass needs --deadline SECONDS (it must stop some time)")
    if transcribe is not None and judge_model is None:
        raise UsageError("--transcribe only applies with --judge")
    judge = (
        verify_judge(judge_model, min_score=min_score, transcribe=transcribe)
        if judge_model is not None
        else None
    )
    ws = load(ctx.obj.get("project"))
    warn_about_keys(ws)
    result = asyncio.run(
        verify(
            ws,
            offline=offline,
            until_pass=until_pass,
            deadline_s=deadline,
            notify=print_notice,
            judge=judge,
        )
    )
    written: list[str] = []
    if junit is not None:
        write_text(junit, junit_xml(result))
        written.append(f"wrote JUnit XML to {junit}")
    if summary is not None:
        # Appending: $GITHUB_STEP_SUMMARY may already hold other steps' summaries.
        existed = summary.exists() and summary.stat().st_size > 0
        write_text(summary, markdown_summary(result), append=True)
        verb = "appended the Markdown summary to" if existed else "wrote the Markdown summary to"
        written.append(f"{verb} {summary}")
    if as_json:
        click.echo(to_json(result.as_dict()))
    else:
        for r in result.results:
            mark = click.style("pass", fg="green") if r.passed else click.style("FAIL", fg="red")
            click.echo(f"{mark}  {r.case.name:<20} {r.time_s:6.2f}s  {r.message}")
        ok = len(result.results) - len(result.failures)
        click.echo(f"{ok}/{len(result.results)} passed in {result.time_s:.1f}s")
    for line in written:  # on stderr: --json's stdout stays one JSON document
        click.echo(line, err=True)
    ctx.exit(EXIT_OK if result.passed else EXIT_FAILED)
