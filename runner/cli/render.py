"""Human-readable output for plans and run results."""

from __future__ import annotations

import click

from runner.engine import offline
from runner.engine.plan import Plan
from runner.engine.results import JobResult, RunResult


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


def print_plan(plan: Plan) -> None:
    info = plan.describe()
    click.echo(f"pipeline {info['pipeline']} (workflow: {info['workflow']})")
    for name, value in info["inputs"].items():
        click.echo(f"  input {name} = {value!r}")
    for step in info["steps"]:
        deps = f" after {', '.join(step['depends_on'])}" if step["depends_on"] else ""
        extra = f" for each of {step['for_each']}" if step["for_each"] else ""
        click.echo(
            f"step {step['id']}: {step['media_type']} via {step['preset'] or 'inline models'}"
            f" [{step['strategy']}]{deps}{extra}"
        )
        for n, cand in enumerate(step["candidates"], 1):
            account = f" ({cand['account']})" if cand["account"] else ""
            click.echo(
                f"    {n}. {cand['provider']}/{cand['model']}{account}: up to "
                f"{cand['max_attempts']} attempts, {cand['timeout_s']:.0f}s each"
            )
        click.echo(f"    worst case {_duration(step['worst_case_s'])} per job")
    click.echo(f"worst case for the whole run (critical path): {_duration(info['worst_case_s'])}")


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
