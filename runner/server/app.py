"""The aiohttp application: routes from one module per resource, middlewares, life cycle.

GET  /                              dashboard (login page without the cookie)
GET  /healthz                       liveness, the only route without a token
GET  /metrics                       Prometheus text format
GET  /api/openapi.json              OpenAPI 3.1 of all of this
POST /api/media/generate            one artifact, 202 at once        generate.py
POST /api/media/runs                a project pipeline by name, 202  generate.py
GET  /api/media/runs/{id}  POST .../cancel                           generate.py
GET  /api/media/jobs[/{id}]  POST /api/media/jobs/{id}/cancel         jobs.py
GET  /api/media/events              Server-Sent Events               events.py
GET  /api/media/stats               report rows and charts           stats.py
GET/POST /api/media/accounts                                         accounts.py
GET/POST /api/media/presets  GET/PUT /api/media/presets/{name}       presets.py
POST /api/media/init                default presets into the project presets.py
GET  /api/media/{path}              an artifact's bytes              media.py
"""

from __future__ import annotations

import asyncio
import signal
from collections import OrderedDict
from collections.abc import Callable

from aiohttp import web

from runner import __version__
from runner.engine.services import EngineOptions
from runner.server import (
    accounts,
    dashboard,
    events,
    generate,
    jobs,
    logs,
    media,
    metrics,
    openapi,
    presets,
    stats,
)
from runner.server.errors import errors_middleware, json_response
from runner.server.security import security_middleware
from runner.server.settings import ServeSettings, check_bind
from runner.server.state import SERVICE, SETTINGS
from runner.service.jobs import JobService
from runner.service.workspace import WorkspaceSource


async def healthz(request: web.Request) -> web.Response:
    return json_response({"ok": True, "version": __version__})


def make_app(settings: ServeSettings, *, options: EngineOptions | None = None) -> web.Application:
    app = web.Application(
        middlewares=[errors_middleware, security_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[SERVICE] = JobService(
        WorkspaceSource(settings.project), concurrency=settings.concurrency, options=options
    )
    app[media.STORES] = {}
    app[media.KNOWN] = OrderedDict()
    app[events.STREAMS] = set()
    app[accounts.WRITE_LOCK] = asyncio.Lock()
    app[presets.WRITE_LOCK] = asyncio.Lock()
    app.router.add_get("/healthz", healthz)
    for module in (dashboard, metrics, openapi, generate, jobs, events, stats, accounts, presets):
        app.router.add_routes(module.routes())
    app.router.add_routes(media.routes())  # last: its {path} would match the others
    app.on_startup.append(_start_service)
    app.on_shutdown.append(events.close_streams)
    app.on_cleanup.append(_stop_service)
    return app


async def _start_service(app: web.Application) -> None:
    await app[SERVICE].start()


async def _stop_service(app: web.Application) -> None:
    await app[SERVICE].close()


async def serve(
    settings: ServeSettings,
    *,
    on_ready: Callable[[str], None],
    report: logs.Report,
    options: EngineOptions | None = None,
) -> None:
    """Listen until SIGINT/SIGTERM; ``on_ready(base_url)`` once the socket is bound."""
    check_bind(settings.host, settings.token_from_env)
    logs.install(report)
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(logs.loop_exception_handler(report))
    app = make_app(settings, options=options)
    runner = web.AppRunner(
        app,
        access_log=None,  # request lines would carry ?token=...; nothing is logged per request
        handle_signals=False,
        # A connection must send a whole request head within this time (slow clients).
        keepalive_timeout=settings.header_timeout_s,
        handler_cancellation=True,
        shutdown_timeout=5.0,
    )
    await runner.setup()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(runner, settings.host, settings.port, backlog=512)
        try:
            await site.start()
        except OSError as exc:
            from runner.errors import UsageError

            raise UsageError(
                f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}"
            ) from exc
        on_ready(settings.base_url())
        await stop.wait()
    finally:
        await runner.cleanup()
