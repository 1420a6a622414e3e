"""``mediamix report``: success rate, attempts per success, latency and cost, grouped."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from runner.cli.commands.log import log_option, runlog_for
from runner.cli.output import emit, latency_formatters, percent, render, usd
from runner.errors import UsageError
from runner.runlog.queries import REPORT_BY
from runner.runlog.since import parse_since


def _score(value: object) -> str:
    return "-" if not isinstance(value, int | float) else f"{value:.2f}"


_FORMATTERS = {
    "success_rate": percent,
    "cost_usd": usd,
    **latency_formatters(("p50_latency_ms", "p95_latency_ms")),
    "mean_score": _score,
    "rejection_rate": percent,
    "judge_cost_usd": usd,
}


@click.command("report")
@click.option("--by", type=click.Choice(REPORT_BY), default="preset", show_default=True)
@click.option("--since", default=None, help="24h, 7d, 2w, or a UTC date such as 2026-11-01.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "markdown", "html"]),
    default="table",
    show_default=True,
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to FILE instead of standard output.",
)
@click.option(
    "--skipped",
    is_flag=True,
    help="Instead: the candidates jobs skipped (no key, inactive, no account) and what "
    "would enable each.",
)
@log_option
@click.pass_context
def report_cmd(
    ctx: click.Context,
    by: str,
    since: str | None,
    fmt: str,
    output: Path | None,
    skipped: bool,
    log_dir: Path | None,
) -> None:
    """Success rate, attempts per success, p50/p95 latency and cost, grouped --by one column;
    where a judge scored artifacts, their mean score, the share it rejected and its cost.

    preset, media_type and day count jobs; provider, model and account count the jobs
    that tried them (a fallback that rescued a job counts as that provider's success).
    With --skipped: each candidate jobs could not use, how many jobs skipped it, why,
    and what would enable it (e.g. "set OPENAI_API_KEY to use openai/gpt-4.1").
    """
    start = parse_since(since) if since else None
    log = runlog_for(ctx, log_dir)
    if skipped:
        if fmt == "html":
            raise UsageError("--skipped prints a table, JSON or Markdown, not HTML")
        with log.queries() as queries:
            found = queries.skipped_candidates(start)
        columns = ("candidate", "jobs", "runs", "enable", "last_seen")
        emit(render(found, fmt, columns=None if fmt == "json" else columns))
        return
    with log.queries() as queries:
        rows = queries.report(by, start)
        series = queries.timeseries(start) if fmt == "html" else []
    if fmt == "html":
        from runner.runlog.html_report import render_report_html  # only HTML needs it

        text = render_report_html(
            by=by,
            rows=rows,
            timeseries=series,
            generated_at=datetime.now(UTC),
            since=start,
            source=str(log.db_path),
        )
    else:
        text = render(rows, fmt, formatters=_FORMATTERS)
    emit(text, output)
