"""``mediamix jobs``: list jobs from the run log, or show one with its timeline."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from runner.cli.commands.log import log_option, runlog_for
from runner.cli.output import emit, format_cell, ms, render_table, to_json, usd
from runner.runlog.queries import JobFilter
from runner.runlog.since import parse_since

LIST_COLUMNS = (
    "job_id", "status", "media_type", "preset", "step_id", "provider", "model",
    "attempts", "latency_ms", "cost_usd", "started_at", "error",
)  # fmt: skip


def _short_id(value: Any) -> str:
    return "-" if value is None else str(value)[:12]


def step_item(job: dict[str, Any]) -> str:
    """The step, and its for_each item counted from 1 as its files are: ``cards #2`` made
    ``cards-2.png`` (the run log's item_index column is the 0-based position, 1 here)."""
    index = job.get("item_index")
    return f"{job['step_id']} #{index + 1}" if index is not None else str(job["step_id"])


class _JobsGroup(click.Group):
    """``mediamix jobs ID`` means ``mediamix jobs show ID``: a job id is never a command."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["show", *args]
        return super().resolve_command(ctx, args)


@click.group("jobs", cls=_JobsGroup, invoke_without_command=True)
@click.option(
    "--status", type=click.Choice(["running", "succeeded", "failed", "skipped"]), default=None
)
@click.option("--media-type", default=None, help="image, video, audio, text or document.")
@click.option("--preset", default=None)
@click.option("--run", "run_id", default=None, help="A run id, or the start of one.")
@click.option("--since", default=None, help="24h, 7d, 2w, or a UTC date such as 2026-11-01.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the jobs as a JSON list.")
@log_option
@click.pass_context
def jobs_cmd(
    ctx: click.Context,
    status: str | None,
    media_type: str | None,
    preset: str | None,
    run_id: str | None,
    since: str | None,
    limit: int,
    as_json: bool,
    log_dir: Path | None,
) -> None:
    """List jobs, newest first. `mediamix jobs ID` shows one job's timeline.

    \b
    Examples:
      mediamix jobs --status failed --since 24h
      mediamix jobs 3f2a9c          # one job, by the start of its id
      mediamix jobs 3f2a9c --json
    """
    if ctx.invoked_subcommand is not None:
        return
    filters = JobFilter(
        status=status,
        media_type=media_type,
        preset=preset,
        run=run_id,
        since=parse_since(since) if since else None,
        limit=limit,
    )
    with runlog_for(ctx, log_dir).queries() as queries:
        rows = queries.list_jobs(filters)
    if as_json:
        emit(to_json(rows))
        return
    formatters = {"job_id": _short_id, "cost_usd": usd, "latency_ms": ms}
    shown = [{**row, "step_id": step_item(row)} for row in rows]
    emit(render_table(shown, LIST_COLUMNS, formatters))


@jobs_cmd.command("show")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print the job, attempts and events as JSON.")
@log_option
@click.pass_context
def show_cmd(ctx: click.Context, job_id: str, as_json: bool, log_dir: Path | None) -> None:
    """Show one job (by id or the start of one): attempts, fallbacks, waits, bytes, cost."""
    parent = ctx.parent.params if ctx.parent else {}
    as_json = as_json or bool(parent.get("as_json"))  # `jobs --json ID` works too
    with runlog_for(ctx, log_dir or parent.get("log_dir")).queries() as queries:
        job = queries.job_detail(job_id)
    emit(to_json(job) if as_json else render_job(job))


def _seconds(ms: float | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.2f}s"


def _attempt_line(a: dict[str, Any]) -> str:
    who = f"{a['provider']}/{a['model']}" + (f" [{a['account']}]" if a.get("account") else "")
    parts = [f"attempt {a['number']}  {who}  {a['status']}"]
    if a.get("latency_ms") is not None:
        parts.append(f"in {_seconds(a['latency_ms'])}")
    # A success's HTTP 200 says nothing; a failure's status says why.
    if a.get("error_class") or (a.get("http_status") and a.get("status") != "succeeded"):
        why = a.get("error_class") or "error"
        if a.get("http_status"):
            why += f" (HTTP {a['http_status']})"
        parts.append(why)
    if a.get("retry_after_s") is not None:
        parts.append(f"retry-after {a['retry_after_s']:g}s")
    if a.get("bytes") is not None:
        parts.append(f"{a['bytes']:,} bytes")
    if a.get("input_tokens") is not None or a.get("output_tokens") is not None:
        parts.append(
            f"tokens {format_cell(a.get('input_tokens'))}/{format_cell(a.get('output_tokens'))}"
        )
    if a.get("cost_usd") is not None:
        parts.append(usd(a["cost_usd"]))
    if a.get("task_id"):
        parts.append(f"task {a['task_id']}")
    line = ", ".join(parts)
    if a.get("error"):
        line += f"\n{'':14}{a['error']}"
    return line


def _judgement_line(j: dict[str, Any]) -> str:
    """``judge openai/gpt-4.1-mini  rejected  score 0.20 (min 0.6), $0.0001: reason``."""
    parts = [f"judge {j['judge_provider']}/{j['judge_model']}  {j['verdict']}"]
    if j.get("score") is not None:
        parts.append(f"  score {j['score']:.2f} (min {j['min_score']:g})")
    if j.get("transcribed_by"):
        parts.append(f", heard by {j['transcribed_by']}")
    if j.get("cost_usd") is not None:
        parts.append(f", {usd(j['cost_usd'])}")
    line = "".join(parts)
    if j.get("reason"):
        line += f"\n{'':14}{j['reason']}"
    return line


def _event_line(e: dict[str, Any]) -> str:
    line = f"{e['kind']}: {e['message']}"
    data = e.get("data") or {}
    if data:
        line += "  " + " ".join(f"{k}={format_cell(v)}" for k, v in data.items())
    return line


def render_job(job: dict[str, Any]) -> str:
    """A job as people read it: header, artifacts, then attempts and events by time."""
    where = step_item(job)
    lines = [
        f"job {job['job_id']}  {job['status']}  {job['media_type']}  step {where}"
        + (f"  preset {job['preset']}" if job.get("preset") else "")
        + (f"  strategy {job['strategy']}" if job.get("strategy") else ""),
        f"run {job['run_id']}" + (f" (pipeline {job['pipeline']})" if job.get("pipeline") else ""),
        f"started {format_cell(job['started_at'])} UTC, took {_seconds(job.get('latency_ms'))}, "
        f"cost {usd(job.get('cost_usd'))}",
    ]
    if job.get("provider"):
        lines.append(
            f"served by {job['provider']}/{job['model']}"
            + (f" [{job['account']}]" if job.get("account") else "")
        )
    if job.get("error"):
        lines.append(f"error: {job.get('error_class') or 'error'}: {job['error']}")
    for art in job["artifacts"]:
        size = f"{art['size']:,} bytes" if art.get("size") is not None else "? bytes"
        dims = f", {art['width']}x{art['height']}" if art.get("width") and art.get("height") else ""
        lines.append(f"artifact {art['uri']} ({art['mime']}, {size}{dims})")
        if art.get("public_url"):
            lines.append(f"         {art['public_url']}")
    entries: list[tuple[datetime, int, str]] = []
    entries += [(a["started_at"], 0, _attempt_line(a)) for a in job["attempts"]]
    entries += [(e["occurred_at"], 1, _event_line(e)) for e in job["events"]]
    entries += [(j["judged_at"], 2, _judgement_line(j)) for j in job.get("judgements", [])]
    entries.sort(key=lambda item: (item[0], item[1]))
    if entries:
        lines.append("")
        lines.append("timeline")
        origin = entries[0][0]
        for at, _, text in entries:
            offset = (at - origin).total_seconds()
            lines.append(f"  {'+' + format(offset, '.3f') + 's':>10}  {text}")
    return "\n".join(lines)
