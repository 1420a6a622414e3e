"""``GET /metrics``: Prometheus text format (what LiteLLM's proxy and Dask's scheduler
expose): jobs and attempts by status, media type, provider and model, latency histograms,
cost, and what is queued and running now."""

from __future__ import annotations

from aiohttp import web

from runner import __version__
from runner.server.events import STREAMS
from runner.server.state import service_of

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def metrics(request: web.Request) -> web.Response:
    service = service_of(request)
    now = service.in_progress()
    text = service.metrics.exposition(
        [
            (
                "mediamix_jobs_in_progress",
                "gauge",
                "Jobs queued or running in this server.",
                {(("state", state),): float(n) for state, n in now.items()},
            ),
            (
                "mediamix_event_stream_clients",
                "gauge",
                "Open /api/media/events streams.",
                {(): float(len(request.app[STREAMS]))},
            ),
            (
                "mediamix_build_info",
                "gauge",
                "The mediamix version serving.",
                {(("version", __version__),): 1.0},
            ),
        ]
    )
    return web.Response(text=text, headers={"Content-Type": CONTENT_TYPE})


def routes() -> list[web.AbstractRouteDef]:
    return [web.get("/metrics", metrics)]
