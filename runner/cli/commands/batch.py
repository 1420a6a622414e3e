"""``mediamix batch PIPELINE INPUTS``: one pipeline run per row of a JSONL/CSV file."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from runner.batch import (
    BatchOptions,
    BatchResult,
    BatchRun,
    BatchSnapshot,
    RowOutcome,
    parse_shard,
    prepare_batch,
)
from runner.cli.boundary import EXIT_FAILED, EXIT_OK
from runner.cli.commands.log import print_notice
from runner.cli.notices import warn_about_keys
from runner.cli.output import to_json
from runner.cli.signals import grace_option, stop_signals
from runner.cluster.address import choose as choose_cluster
from runner.engine.api import load
from runner.errors import UsageError

#: ``--resume`` with no id: the newest batch of this pipeline over this inputs file.
LATEST = "latest"
#: Seconds between progress lines when stderr is not a terminal (CI logs).
PLAIN_INTERVAL_S = 5.0
TTY_INTERVAL_S = 0.25
#: Failed rows listed in the summary; the rest are in the run log.
SHOWN_FAILURES = 20


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def status_line(s: BatchSnapshot) -> str:
    cost = f"  ${s.cost_usd:.4f}" if s.cost_usd is not None else ""
    reused = f"  {s.jobs_reused} reused" if s.jobs_reused else ""
    return (
        f"{s.finished}/{s.rows} rows  {s.failed} failed  {s.running} running"
        f"{reused}  {s.rate:.1f}/s  ETA {_duration(s.eta_s)}{cost}"
    )


class BatchDisplay:
    """A single updating line on a terminal; a plain line every few seconds otherwise."""

    def __init__(self, inputs_file: str) -> None:
        self.tty = sys.stderr.isatty()
        self.inputs_file = inputs_file
        self._line_shown = False

    def _clear(self) -> None:
        if self.tty and self._line_shown:
            click.echo("\r\x1b[2K", nl=False, err=True)
            self._line_shown = False

    def say(self, text: str, *, fg: str | None = None) -> None:
        self._clear()
        click.echo(click.style(text, fg=fg) if self.tty and fg else text, err=True)

    def row_finished(self, outcome: RowOutcome) -> None:
        if outcome.status == "succeeded":
            return
        why = f"{outcome.failed_step}: {outcome.error}" if outcome.failed_step else outcome.status
        where = f" on {outcome.worker}" if outcome.worker else ""
        self.say(
            f"FAILED {Path(self.inputs_file).name}:{outcome.line} (row {outcome.row}){where}: "
            f"{why}",
            fg="red",
        )

    def show(self, snapshot: BatchSnapshot) -> None:
        if self.tty:
            click.echo("\r\x1b[2K" + status_line(snapshot), nl=False, err=True)
            self._line_shown = True
        else:
            click.echo(f"{snapshot.elapsed_s:7.1f}s  {status_line(snapshot)}", err=True)

    async def keep_showing(self, run: BatchRun) -> None:
        interval = TTY_INTERVAL_S if self.tty else PLAIN_INTERVAL_S
        while True:
            await asyncio.sleep(interval)
            self.show(run.snapshot())

    def done(self) -> None:
        self._clear()


async def _drive(
    run: BatchRun, display: BatchDisplay | None, grace_s: float
) -> tuple[BatchResult, int]:
    """Run with SIGINT/SIGTERM handling: the first stops dispatching (in-flight jobs get
    ``grace_s`` to finish and be recorded), the second cancels them at once."""
    say = display.say if display is not None else None

    def yellow(message: str) -> None:
        if say is not None:
            say(f"mediamix: {message}", fg="yellow")
        else:
            click.echo(f"mediamix: {message}", err=True)

    ticker = asyncio.create_task(display.keep_showing(run)) if display is not None else None
    try:
        async with stop_signals(
            run.options.stopper, grace_s=grace_s, say=yellow, on_first=run.interrupt
        ) as signals:
            result = await run.run()
        return result, signals.exit_code
    finally:
        if ticker is not None:
            ticker.cancel()
        if display is not None:
            display.done()


def print_summary(result: BatchResult) -> None:
    name = Path(result.inputs_file).name
    head = (
        f"batch {result.batch_id}: {result.rows_succeeded} row(s) succeeded, "
        f"{result.rows_failed} failed"
    )
    if result.rows_not_run:
        head += f", {result.rows_not_run} not run ({result.stopped})"
    fg = {"succeeded": "green", "failed": "red", "interrupted": "yellow"}[result.status]
    click.secho(head, fg=fg)
    notes = []
    if result.shard:
        notes.append(f"shard {result.shard} ({result.rows_other_shards} row(s) in other shards)")
    if result.rows_done_earlier:
        notes.append(
            f"{result.rows_done_earlier} row(s) already done in batch {result.resumed_batch}"
        )
    notes.append(f"{result.jobs_reused} job(s) reused from earlier successes (not paid again)")
    if result.rows_bad:
        notes.append(f"{len(result.rows_bad)} bad row(s) skipped")
    cost = f"${result.cost_usd:.4f}" if result.cost_usd is not None else "cost unknown"
    finished = result.rows_succeeded + result.rows_failed
    rate = finished / result.elapsed_s if result.elapsed_s > 0 else 0.0
    notes.append(f"{cost}, {result.elapsed_s:.1f}s, {rate:.1f} rows/s")
    for note in notes:
        click.echo(f"  {note}")
    if result.failures:
        click.echo("failed rows:")
        for f in result.failures[:SHOWN_FAILURES]:
            click.echo(f"  {name}:{f.line} (row {f.row}, run {f.run_id}): {f.step_id}: {f.error}")
        more = len(result.failures) - SHOWN_FAILURES
        if more > 0:
            click.echo(f"  ... and {more} more (mediamix jobs --status failed)")


@click.command("batch")
@click.argument("pipeline")
@click.argument("inputs", type=click.Path(dir_okay=False))
@click.option(
    "--concurrency",
    type=click.IntRange(1, 4096),
    default=None,
    help="Rows at once, on each worker with --cluster (default: mediamix.yaml's concurrency, 8).",
)
@click.option(
    "--resume",
    is_flag=False,
    flag_value=LATEST,
    default=None,
    metavar="[BATCH_ID]",
    help="Continue an interrupted batch: rows it finished are skipped, long video jobs "
    "poll the task they started. Alone: the latest batch of this pipeline and file; "
    "--resume=ID: that batch.",
)
@click.option("--shard", metavar="I/N", help="Run only shard I of N (split by row content).")
@click.option("--max-cost", type=click.FloatRange(0), help="Stop dispatching past this many USD.")
@click.option("--fail-fast", is_flag=True, help="Stop taking new rows after the first failure.")
@click.option(
    "--on-bad-row",
    type=click.Choice(["skip", "fail"]),
    default="skip",
    show_default=True,
    help="A row that is not valid input: skip it (reported), or fail before calling anything.",
)
@click.option("--seed", type=int, help="Seed for weighted/adaptive choices.")
@click.option(
    "--log", "log_dir", type=click.Path(file_okay=False, path_type=Path), help="Run-log directory."
)
@click.option(
    "--cluster",
    metavar="ADDRESS",
    help="Run the rows on a Dask cluster: a scheduler (tcp://host:8786), local:N for N "
    "worker processes here, or none (here, whatever mediamix.yaml's cluster: says). "
    "Needs pip install 'mediamix[cluster]'.",
)
@grace_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON; no progress.")
@click.pass_context
def batch_cmd(
    ctx: click.Context,
    pipeline: str,
    inputs: str,
    concurrency: int | None,
    resume: str | None,
    shard: str | None,
    max_cost: float | None,
    fail_fast: bool,
    on_bad_row: str,
    seed: int | None,
    log_dir: Path | None,
    cluster: str | None,
    grace_s: float,
    as_json: bool,
) -> None:
    """Run PIPELINE once per row of INPUTS (JSONL, or CSV with a header of input names).

    \b
    Examples:
      mediamix batch pipelines/explainer.yaml topics.jsonl --concurrency 32
      mediamix batch explainer topics.csv --shard 2/4 --max-cost 20
      mediamix batch explainer topics.csv --resume
      mediamix batch explainer topics.jsonl --cluster tcp://scheduler:8786

    A job whose idempotency key (pipeline, step, resolved config, prompt, inputs) already
    succeeded, and whose artifacts still exist, is reused instead of called again. Bad rows
    are reported as FILE:LINE: problem.

    \b
    Exit status:
      0    every row succeeded
      1    some rows failed, were not run (--fail-fast, --max-cost), or were bad and skipped
      2    usage or configuration error (with --on-bad-row fail: any bad row; nothing ran;
           with --cluster: no scheduler there, or storage or keys the workers lack)
      3    internal error (a bug; details in the crash log named on stderr)
      130  interrupted by Ctrl-C, 143 stopped by SIGTERM: no new call starts, calls in flight
           get --grace seconds to finish and be recorded (a second signal: cancelled now);
           the summary is printed, and --resume pays for nothing twice
    """
    ws = load(ctx.obj.get("project"))
    warn_about_keys(ws)
    if resume not in (None, LATEST) and Path(resume).exists():
        raise UsageError(
            f"--resume took {resume!r} as a batch id; "
            "put --resume after INPUTS, or write --resume=ID"
        )
    options = BatchOptions(
        cluster=choose_cluster(cluster, ws.project.cluster),
        concurrency=concurrency or ws.project.concurrency,
        shard=parse_shard(shard) if shard else None,
        resume=None if resume in (None, LATEST) else resume,
        resume_latest=resume == LATEST,
        max_cost_usd=max_cost,
        fail_fast=fail_fast,
        on_bad_row="fail" if on_bad_row == "fail" else "skip",
        seed=seed,
        runlog_dir=log_dir,
    )
    prepared = prepare_batch(ws, pipeline, inputs, options, notify=print_notice)
    display = None if as_json else BatchDisplay(inputs)
    if display is not None:
        for bad in prepared.bad:
            display.say(f"{bad} (skipped)", fg="yellow")
        display.say(
            f"batch {prepared.batch_id}: {len(prepared.todo)} row(s) to run"
            + (f", {prepared.rows_done_earlier} already done" if prepared.rows_done_earlier else "")
        )
    run = BatchRun(
        ws,
        prepared,
        options,
        on_row=display.row_finished if display else None,
        notify=print_notice,
    )
    result, stopped_code = asyncio.run(_drive(run, display, grace_s))
    if as_json:
        click.echo(to_json(result.as_dict()))
    else:
        print_summary(result)
    code = {"succeeded": EXIT_OK, "failed": EXIT_FAILED, "interrupted": stopped_code}
    ctx.exit(code[result.status])
