"""Human-readable output for plans and run results."""

from __future__ import annotations

from typing import Any

import click

from runner.engine import offline
from runner.engine.results import JobResult, RunResult


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def print_plan(info: dict[str, Any]) -> None:
    """A dry run (``runner.engine.dryrun.describe_plan``) as people read it."""
    click.echo(f"pipeline {info['pipeline']} (workflow: {info['workflow']})")
    for name, value in info["inputs"].items():
        click.echo(f"  input {name} = {value!r}")
    for step in info["steps"]:
        deps = f" after {', '.join(step['depends_on'])}" if step["depends_on"] else ""
        extra = f" for each of {step['for_each']}" if step["for_each"] else ""
        count = f" ({step['jobs']} jobs)" if step["for_each"] and step["jobs"] is not None else ""
        click.echo(
            f"step {step['id']}: {step['media_type']} via {step['preset'] or 'inline models'}"
            f" [{step['strategy']}]{deps}{extra}{count}"
        )
        for n, cand in enumerate(step["candidates"], 1):
            label = f"{cand['provider']}/{cand['model']}"
            account = f" ({cand['account']})" if cand["account"] else ""
            if not cand["available"]:
                hint = cand["enable"] or cand["unavailable"]
                click.echo(f"    {n}. {label}{account}: UNAVAILABLE, skipped: {hint}")
                continue
            each = cand["cost_per_attempt_usd"]
            cost = "price unknown" if each is None else f"~{_usd(each)} each"
            if cand["provider"] == "local":
                cost = "free, offline"
            click.echo(
                f"    {n}. {label}{account}: up to {cand['max_attempts']} attempts, "
                f"{cand['timeout_s']:.0f}s each, {cost}"
            )
        if not step["available_candidates"]:
            click.echo("    no candidate can run here: this step will fail")
        else:
            click.echo(
                f"    worst case {_duration(step['worst_case_s'])} and "
                f"{_usd(step['worst_case_cost_usd'])} per job"
            )
    jobs = sum(s["jobs"] or 1 for s in info["steps"])
    unknown = "" if info["jobs_known"] else " (some for_each counts known only at run time)"
    click.echo(
        f"worst case for the whole run: {_duration(info['worst_case_s'])} (critical path), "
        f"{_usd(info['worst_case_cost_usd'])} over {jobs} job(s){unknown}"
    )
    if info["unpriced_candidates"]:
        click.echo(
            "  cost is a lower bound: no price known for " + ", ".join(info["unpriced_candidates"])
        )
    hints = {
        cand["enable"]
        for step in info["steps"]
        for cand in step["candidates"]
        if not cand["available"] and cand["enable"]
    }
    if hints:
        skipped = sum(not c["available"] for s in info["steps"] for c in s["candidates"])
        click.echo(f"{skipped} candidate(s) unavailable here and left out of these figures:")
        for hint in sorted(hints):
            click.echo(f"  {hint}")


def _where(job: JobResult) -> str:
    """A job as progress names it: the step, and its for_each item counted from 1."""
    return job.step_id + (f" #{job.item_number}" if job.item_number is not None else "")


def print_result(result: RunResult) -> None:
    for step_id, artifact in result.artifacts:
        click.echo(
            f"{step_id}: {artifact.path if artifact.uri.startswith('file:') else artifact.url}"
        )
    failed = [j for j in result.jobs if j.status == "failed"]
    for job in failed:
        click.echo(f"{_where(job)}: FAILED: {job.error}", err=True)
    for job, warning in result.warnings:
        click.echo(f"{_where(job)}: warning: {warning}", err=True)
    cost = f", cost ${result.cost_usd:.4f}" if result.cost_usd else ""
    reused = f", {result.reused} reused" if result.reused else ""
    click.echo(
        f"run {result.run_id}: {result.status} ({result.succeeded} job(s) succeeded{reused}, "
        f"{result.failed} failed{cost})",
        err=True,
    )
    if result.reused:
        click.echo(
            f"reused {result.reused} earlier identical job(s) whose files still exist: "
            "nothing called, nothing paid (--no-reuse makes new ones)",
            err=True,
        )
    print_offline(result)


def print_offline(result: RunResult) -> None:
    """Which steps local generators served, what they stood in for, and what to set."""
    steps = offline.offline_steps(result.jobs)
    if not steps:
        return
    made = result.succeeded
    click.echo(
        f"served offline: {result.offline_jobs} of {made} job(s) made by mediamix's local "
        "generators, not by a vendor:",
        err=True,
    )
    rows = []
    for step in steps:
        jobs = [j for j in result.jobs if j.step_id == step["step_id"] and j.offline]
        name = step["step_id"] + (f" ×{step['jobs']}" if step["jobs"] > 1 else "")
        rows.append((name, ", ".join(step["served_by"]), offline.why_offline(jobs[0])))
    width = max(len(r[0]) for r in rows)
    by_width = max(len(r[1]) for r in rows)
    for name, by, why in rows:
        click.echo(f"  {name:<{width}}  {by:<{by_width}}  {why}", err=True)
    for missing in offline.missing_keys(result.jobs):
        click.echo(f"set {missing['env']} to use {', '.join(missing['candidates'])}", err=True)
    for hint in offline.other_hints(result.jobs):
        click.echo(hint, err=True)


def exit_code_for(status: str, stopped_code: int) -> int:
    """0 succeeded, 1 failed, 130/143 interrupted (by Ctrl-C / SIGTERM)."""
    if status == "succeeded":
        return 0
    return stopped_code if status == "interrupted" else 1
