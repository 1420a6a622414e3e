"""``GET /api/media/events``: Server-Sent Events of job, attempt, event and artifact changes.

Each message is ``event: job|attempt|event|artifact|run`` with the record as JSON data,
plus ``sent`` (the server's time.time()) so a client can measure delivery. ``?job=ID`` or
``?run=ID`` narrows the stream. A client that falls far behind gets ``event: resync``
(re-read the lists) instead of unbounded memory; an idle stream gets a comment every
15 s so proxies keep it open. The dashboard falls back to polling when the stream fails.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from runner.server.errors import ApiError, dumps
from runner.server.state import SETTINGS, service_of
from runner.service.board import Subscriber

KEEPALIVE_S = 15.0
STREAMS: web.AppKey[set[Subscriber]] = web.AppKey("event_streams")
_BYE: dict[str, Any] = {"type": "bye"}


def _wanted(message: dict[str, Any], job: str | None, run: str | None) -> bool:
    data = message.get("data") or {}
    if job is not None and data.get("job_id") != job:
        return False
    return not (run is not None and data.get("run_id") != run)


async def events(request: web.Request) -> web.StreamResponse:
    streams: set[Subscriber] = request.app[STREAMS]
    if len(streams) >= request.app[SETTINGS].max_event_clients:
        raise ApiError(503, "too many event streams are open; try again later")
    job = request.query.get("job")
    run = request.query.get("run")
    board = service_of(request).board
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    subscriber = board.subscribe()
    streams.add(subscriber)
    try:
        await response.write(b"retry: 3000\n: mediamix events\n\n")
        while True:
            try:
                message = await asyncio.wait_for(subscriber.queue.get(), KEEPALIVE_S)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if message is _BYE:
                break
            if message is Subscriber.RESYNC:
                await response.write(b"event: resync\ndata: {}\n\n")
                continue
            if not _wanted(message, job, run):
                continue
            payload = dumps({"sent": message["sent"], **message["data"]})
            await response.write(f"event: {message['type']}\ndata: {payload}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        board.unsubscribe(subscriber)
        streams.discard(subscriber)
    return response


async def close_streams(app: web.Application) -> None:
    """On shutdown: end every stream now rather than wait for its clients to leave."""
    streams: set[Subscriber] = app[STREAMS]
    for subscriber in list(streams):
        subscriber.close(_BYE)


def routes() -> list[web.AbstractRouteDef]:
    return [web.get("/api/media/events", events)]
