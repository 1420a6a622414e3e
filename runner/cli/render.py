"""Human-readable output for plans and run results."""

from __future__ import annotations

import click

from runner.engine.plan import Plan
from runner.engine.results import RunResult


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


def print_result(result: RunResult) -> None:
    for step_id, artifact in result.artifacts:
        click.echo(
            f"{step_id}: {artifact.path if artifact.uri.startswith('file:') else artifact.url}"
        )
    failed = [j for j in result.jobs if j.status == "failed"]
    for job in failed:
        click.echo(f"{job.step_id}: FAILED: {job.error}", err=True)
    cost = f", cost ${result.cost_usd:.4f}" if result.cost_usd else ""
    click.echo(
        f"run {result.run_id}: {result.status} ({result.succeeded} job(s) succeeded, "
        f"{result.failed} failed{cost})",
        err=True,
    )


def exit_code_for(status: str, stopped_code: int) -> int:
    """0 succeeded, 1 failed, 130/143 interrupted (by Ctrl-C / SIGTERM)."""
    if status == "succeeded":
        return 0
    return stopped_code if status == "interrupted" else 1
