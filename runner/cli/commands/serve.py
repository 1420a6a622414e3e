"""``mediamix serve``: the HTTP API and dashboard, safe by default."""

from __future__ import annotations

import asyncio

import click

from runner.config.limits import MAX_CONCURRENCY


@click.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Beyond loopback, MEDIAMIX_API_TOKEN must be set.",
)
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    metavar="NAME",
    help="Another name clients reach the server by (checked against Host; repeat).",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    metavar="ORIGIN",
    help="Let pages from ORIGIN (https://app.example.com) call the API with a token.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, MAX_CONCURRENCY),
    help="Jobs running at once (default: mediamix.yaml's concurrency).",
)
@click.option(
    "--max-body",
    type=click.IntRange(1024, 64 << 20),
    default=1 << 20,
    show_default=True,
    help="Largest request body, in bytes.",
)
@click.option(
    "--header-timeout",
    type=click.FloatRange(0.5, 600),
    default=15.0,
    show_default=True,
    help="Seconds a client has to send a request's headers.",
)
@click.option(
    "--body-timeout",
    type=click.FloatRange(0.5, 3600),
    default=30.0,
    show_default=True,
    help="Seconds a client has to send a request's body.",
)
@click.pass_context
def serve_cmd(
    ctx: click.Context,
    host: str,
    port: int,
    allow_hosts: tuple[str, ...],
    cors_origins: tuple[str, ...],
    concurrency: int | None,
    max_body: int,
    header_timeout: float,
    body_timeout: float,
) -> None:
    """Serve the original system's HTTP API and a live dashboard over this project.

    Every route but /healthz needs the token: 'Authorization: Bearer TOKEN', or open the
    printed login URL once in a browser. The token is MEDIAMIX_API_TOKEN, or a new one
    each start. Without MEDIAMIX_API_TOKEN the server only listens on loopback.

    \b
    POST /api/media/generate {"mediaType": "image", "prompt": "..."}    -> 202 jobId
    GET  /api/media/jobs, /api/media/jobs/ID, /api/media/events (SSE), /metrics
    API description: /api/openapi.json
    """
    from runner.config.project import load_workspace
    from runner.server.app import serve
    from runner.server.settings import ServeSettings, check_bind, resolve_token

    token, from_env = resolve_token()
    check_bind(host, from_env)
    project = ctx.obj.get("project")
    if concurrency is None:
        concurrency = load_workspace(project).project.concurrency
    settings = ServeSettings(
        host=host,
        port=port,
        project=project,
        token=token,
        token_from_env=from_env,
        allow_hosts=allow_hosts,
        cors_origins=cors_origins,
        concurrency=concurrency,
        max_body_bytes=max_body,
        header_timeout_s=header_timeout,
        body_timeout_s=body_timeout,
    )

    def ready(base_url: str) -> None:
        click.echo(f"mediamix serving on {base_url}/ (Ctrl-C to stop)", err=True)
        if from_env:
            click.echo(
                f"log in at {base_url}/?token=... with the token in MEDIAMIX_API_TOKEN", err=True
            )
        else:
            click.echo(f"log in at {base_url}/?token={token}", err=True)

    def report(line: str) -> None:
        click.echo(line, err=True)

    asyncio.run(serve(settings, on_ready=ready, report=report))
