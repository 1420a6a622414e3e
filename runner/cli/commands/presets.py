"""``mediamix presets``: list presets, or show one."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import click

from runner.config.project import load_workspace
from runner.config.schema_check import did_you_mean
from runner.errors import UsageError


def _summary(preset: Any) -> dict[str, Any]:
    return {
        "name": preset.name,
        "media_type": preset.media_type,
        "strategy": preset.strategy,
        "priority": preset.priority,
        "models": [m.label for m in preset.models],
        "source": "built-in" if preset.builtin else str(preset.source),
        "description": preset.description.strip(),
    }


@click.command("presets")
@click.argument("name", required=False)
@click.option("--media-type", help="Only presets of this media type.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def presets_cmd(
    ctx: click.Context, name: str | None, media_type: str | None, as_json: bool
) -> None:
    """List the presets a project can use (built-in and its own), or show NAME in full.

    A project's presets/NAME.yaml overrides a built-in preset of the same name.
    """
    ws = load_workspace(ctx.obj.get("project"))
    if name is not None:
        preset = ws.presets.get(name)
        if preset is None:
            raise UsageError(f"no preset named {name!r}{did_you_mean(name, ws.presets)}")
        data = asdict(preset)
        data["source"] = "built-in" if preset.builtin else str(preset.source)
        if as_json:
            click.echo(json.dumps(data, indent=2, default=str))
            return
        click.echo(f"{preset.name}  ({preset.media_type}, {preset.strategy}, {data['source']})")
        if preset.description:
            click.echo(f"  {preset.description.strip()}")
        click.echo("  candidates, in order:")
        for i, spec in enumerate(preset.models, 1):
            extra = f" account={spec.account}" if spec.account else ""
            params = f" params={spec.params}" if spec.params else ""
            click.echo(f"    {i}. {spec.label}{extra}{params}")
        click.echo(f"  retry: up to {preset.retry.max_attempts} attempts per candidate")
        if preset.validate:
            click.echo(f"  validate: {preset.validate}")
        judge = preset.judge.resolve() if preset.judge else None
        if judge is not None:
            click.echo(
                f"  judge: {judge.label}, min_score {judge.min_score:g}, "
                f"on_judge_error {judge.on_judge_error}"
            )
        return
    rows = [
        _summary(p)
        for p in sorted(ws.presets.values(), key=lambda p: (p.media_type, -p.priority, p.name))
        if media_type is None or p.media_type == media_type
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max((len(r["name"]) for r in rows), default=10)
    for row in rows:
        click.echo(
            f"{row['name']:<{width}}  {row['media_type']:<8}  {row['strategy']:<10}  "
            f"{' > '.join(row['models'])}"
        )
