"""``GET /api/media/stats``: success rate, latency and cost grouped one way, plus the HTML
report's two charts (success rate and cost per provider per day) as SVG."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from aiohttp import web

from runner.runlog.html_report import report_charts
from runner.runlog.queries import REPORT_BY
from runner.runlog.since import parse_since
from runner.runlog.store import RunLog
from runner.server.bodies import query_value
from runner.server.errors import field_error, json_response
from runner.server.state import service_of


def _read(log: RunLog | None, by: str, since: datetime | None) -> dict[str, Any]:
    if log is None or (not log.exists() and not log.pending_files()):
        rows: list[dict[str, Any]] = []
        series: list[dict[str, Any]] = []
    else:
        with log.queries() as q:
            rows, series = q.report(by, since), q.timeseries(since)
    return {"by": by, "rows": rows, "charts": report_charts(series)}


async def stats(request: web.Request) -> web.Response:
    by = "preset"
    if (given := query_value(request.query, "by")) is not None:
        if given[1] not in REPORT_BY:
            raise field_error(given[0], f"must be one of {', '.join(REPORT_BY)}")
        by = given[1]
    since = None
    if (given := query_value(request.query, "since")) is not None and given[1]:
        try:
            since = parse_since(given[1])
        except Exception:
            raise field_error(
                given[0], "expected a duration like 24h or 7d, or a UTC date"
            ) from None
    data = await asyncio.to_thread(_read, service_of(request).runlog, by, since)
    data["since"] = since
    return json_response(data)


def routes() -> list[web.AbstractRouteDef]:
    return [web.get("/api/media/stats", stats)]
