"""``mediamix serve``: the HTTP API and dashboard."""

from __future__ import annotations

import click


@click.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind. There is no authentication: keep it on loopback or "
    "put it behind a proxy that authenticates.",
)
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535))
@click.pass_context
def serve_cmd(ctx: click.Context, host: str, port: int) -> None:
    """Serve the dashboard (GET /) and the JSON API over this project.

    \b
    GET  /api/jobs, /api/jobs/ID, /api/report?by=provider
    POST /api/generate {"media_type": "image", "prompt": "..."}
    POST /api/runs {"pipeline": "explainer", "inputs": {"topic": "..."}}
    """
    from aiohttp import web

    from runner.server.app import make_app

    app = make_app(ctx.obj.get("project"))
    click.echo(f"mediamix serving on http://{host}:{port}/ (Ctrl-C to stop)", err=True)
    web.run_app(app, host=host, port=port, print=None)
