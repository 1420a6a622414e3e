"""The HTTP API and dashboard of the original system, on aiohttp.

Reads go to the run log in a worker thread (DuckDB is blocking); generation runs through
the same engine as the CLI, so everything it does is in the run log too. It binds to
127.0.0.1 by default: there is no authentication, so expose it only behind one.

    GET  /                  dashboard: the HTML report (success rate and cost over time)
    GET  /healthz           {"ok": true, "version": ...}
    GET  /api/jobs          ?status=&media_type=&preset=&run=&since=&limit=
    GET  /api/jobs/{id}     one job with its attempts, events and artifacts
    GET  /api/report        ?by=preset|provider|model|account|media_type|day&since=
    POST /api/generate      {"media_type", "prompt", "preset"?, "workflow"?, "max_attempts"?}
    POST /api/runs          {"pipeline": NAME or path, "inputs": {...}}
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from runner import __version__
from runner.config.project import Workspace, load_workspace
from runner.engine.api import one_shot_plan, plan_pipeline, run_plan
from runner.errors import ConfigError, MediamixError, UsageError, redact
from runner.runlog.html_report import render_report_html
from runner.runlog.queries import JobFilter
from runner.runlog.since import parse_since
from runner.runlog.store import RunLog

REPORT_BY = ("preset", "provider", "model", "account", "media_type", "day")
WORKSPACE = web.AppKey("workspace", Workspace)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=str))


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return _json({"error": redact(message), **extra}, status=status)


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Our errors become JSON with a fitting status; nothing leaks a traceback."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException:
        raise
    except ConfigError as exc:
        return _error(400, "invalid configuration", problems=[str(d) for d in exc.diagnostics])
    except UsageError as exc:
        return _error(400, str(exc))
    except MediamixError as exc:
        return _error(500, str(exc))


def _runlog(request: web.Request) -> RunLog:
    return RunLog(request.app[WORKSPACE].project.runlog_dir)


def _since(request: web.Request) -> datetime | None:
    text = request.query.get("since")
    return parse_since(text) if text else None


async def dashboard(request: web.Request) -> web.Response:
    log = _runlog(request)
    by = request.query.get("by", "provider")
    if by not in REPORT_BY:
        raise UsageError(f"by must be one of {', '.join(REPORT_BY)}")
    since = _since(request)

    def build() -> str:
        if not log.exists() and not log.pending_files():
            rows: list[dict[str, Any]] = []
            series: list[dict[str, Any]] = []
        else:
            with log.queries() as q:
                rows, series = q.report(by, since), q.timeseries(since)
        return render_report_html(
            by=by,
            rows=rows,
            timeseries=series,
            generated_at=datetime.now(UTC),
            since=since,
            source=str(log.db_path),
        )

    return web.Response(text=await asyncio.to_thread(build), content_type="text/html")


async def healthz(request: web.Request) -> web.Response:
    return _json({"ok": True, "version": __version__})


async def list_jobs(request: web.Request) -> web.Response:
    q = request.query
    try:
        limit = int(q.get("limit", "50"))
    except ValueError as exc:
        raise UsageError("limit must be a whole number") from exc
    filters = JobFilter(
        status=q.get("status"),
        media_type=q.get("media_type"),
        preset=q.get("preset"),
        run=q.get("run"),
        since=_since(request),
        limit=limit,
    )
    log = _runlog(request)

    def read() -> list[dict[str, Any]]:
        if not log.exists() and not log.pending_files():
            return []
        with log.queries() as queries:
            return queries.list_jobs(filters)

    return _json({"jobs": await asyncio.to_thread(read)})


async def show_job(request: web.Request) -> web.Response:
    log = _runlog(request)
    ref = request.match_info["job_id"]

    def read() -> dict[str, Any]:
        with log.queries() as queries:
            return queries.job_detail(ref)

    try:
        return _json(await asyncio.to_thread(read))
    except MediamixError as exc:
        return _error(404, str(exc))


async def report(request: web.Request) -> web.Response:
    by = request.query.get("by", "preset")
    if by not in REPORT_BY:
        raise UsageError(f"by must be one of {', '.join(REPORT_BY)}")
    log = _runlog(request)
    since = _since(request)

    def read() -> list[dict[str, Any]]:
        if not log.exists() and not log.pending_files():
            return []
        with log.queries() as queries:
            return queries.report(by, since)

    return _json({"by": by, "rows": await asyncio.to_thread(read)})


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError("the request body must be JSON") from exc
    if not isinstance(body, dict):
        raise UsageError("the request body must be a JSON object")
    return body


async def generate(request: web.Request) -> web.Response:
    body = await _body(request)
    for name in ("media_type", "prompt"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise UsageError(f"{name!r} is required (a string)")
    ws = request.app[WORKSPACE]
    plan = one_shot_plan(
        ws,
        media_type=body["media_type"],
        prompt=body["prompt"],
        preset=body.get("preset"),
        workflow=body.get("workflow", "simple"),
        max_attempts=body.get("max_attempts"),
    )
    result = await run_plan(plan, ws)
    return _json(result.as_dict(), status=200 if result.status == "succeeded" else 502)


async def start_run(request: web.Request) -> web.Response:
    body = await _body(request)
    pipeline = body.get("pipeline")
    inputs = body.get("inputs", {})
    if not isinstance(pipeline, str) or not isinstance(inputs, dict):
        raise UsageError("'pipeline' (a name or path) and 'inputs' (an object) are required")
    ws = request.app[WORKSPACE]
    plan = plan_pipeline(pipeline, ws, inputs)
    result = await run_plan(plan, ws)
    return _json(result.as_dict(), status=200 if result.status == "succeeded" else 502)


def make_app(project: str | None = None) -> web.Application:
    app = web.Application(middlewares=[errors_middleware])
    app[WORKSPACE] = load_workspace(project)
    app.router.add_get("/", dashboard)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/jobs", list_jobs)
    app.router.add_get("/api/jobs/{job_id}", show_job)
    app.router.add_get("/api/report", report)
    app.router.add_post("/api/generate", generate)
    app.router.add_post("/api/runs", start_run)
    return app
