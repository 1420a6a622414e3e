"""``mediamix validate``: check YAML files against their schemas and each other."""

from __future__ import annotations

import json

import click

from runner.config.validate import validate


@click.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (stable keys).")
@click.pass_context
def validate_cmd(ctx: click.Context, paths: tuple[str, ...], as_json: bool) -> int:
    """Check YAML files: schema, then cross-file checks (presets, steps, templates, accounts).

    With no PATHS, checks the whole project: mediamix.yaml, accounts.yaml, presets/ and
    pipelines/. Every problem is reported at once as FILE:LINE:COLUMN: where: what.

    Exit status: 0 valid (warnings allowed), 1 invalid, 2 usage error.
    """
    report = validate(paths, ctx.obj.get("project"))
    if as_json:
        payload = {
            "ok": report.ok,
            "files": [{"path": path, "kind": kind} for path, kind in report.files],
            "errors": [d.as_dict() for d in report.errors],
            "warnings": [d.as_dict() for d in report.warnings],
        }
        click.echo(json.dumps(payload, indent=2))
    else:
        for diagnostic in report.diagnostics:
            click.echo(str(diagnostic), err=True)
        n_files = len(report.files)
        if report.ok:
            extra = f", {len(report.warnings)} warning(s)" if report.warnings else ""
            click.echo(f"{n_files} file(s) valid{extra}")
        else:
            click.echo(f"{len(report.errors)} error(s) in {n_files} file(s)", err=True)
    ctx.exit(0 if report.ok else 1)
