"""A loopback fake of every provider API mediamix speaks, for tests and by-hand runs.

One aiohttp app on 127.0.0.1 serves all vendors under per-vendor path prefixes
(:mod:`tests.fakeprovider.vendors`). A generic middleware records each request, applies
injected faults and per-key rate limits, checks auth the vendor's way, and only then calls
the vendor handler. The server runs in a background thread with its own event loop, so
synchronous and asynchronous tests can both talk to it over real HTTP.

By-hand control over HTTP: ``POST /_fake/faults`` ({fault, path_contains, times,
retry_after, delay_s, retry_after_format, probability, seed}: with ``probability`` each
matching request gets the fault with that seeded chance, see ``FakeState.inject``),
``POST /_fake/config`` ({latency_s, polls_until_done, rate_limit_rpm, rate_window_s, usage,
reply, video_bytes}), ``POST /_fake/judge`` ({scores: [[marker, score], ...], default,
reply}; see tests.fakeprovider.judging),
``GET /_fake/requests``, ``POST /_fake/reset``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import asdict
from email.utils import formatdate
from types import ModuleType, TracebackType
from typing import Any

from aiohttp import web

from tests.fakeprovider import wire
from tests.fakeprovider.state import (
    CONTENT_FAULTS,
    FakeState,
    Fault,
    RecordedRequest,
)
from tests.fakeprovider.vendors import BASE_PATHS, load_vendors, vendor_for_path

#: How an injected HTTP fault is answered: (status, error kind for the vendor's body).
HTTP_FAULT_ANSWERS: dict[str, tuple[int, str]] = {
    "400": (400, "invalid_request"),
    "401": (401, "auth"),
    "404": (404, "not_found"),
    "429": (429, "rate_limit"),
    "insufficient_quota": (429, "quota"),
    "500": (500, "server"),
    "503": (503, "unavailable"),
    "529": (529, "overloaded"),
}

#: Stalls default to longer than any client timeout a test uses.
DEFAULT_STALL_S = 30.0

#: A JSON body cut off mid-object, served with status 200.
MALFORMED_JSON = b'{"id": "broken", "object": "chat.completion", "choices": [{"index": 0, "mess'


def _retry_after_headers(fault: Fault) -> dict[str, str]:
    if fault.retry_after is None:
        return {}
    if fault.retry_after_format == "http-date":
        return {"Retry-After": formatdate(time.time() + fault.retry_after, usegmt=True)}
    if fault.retry_after_format == "ms":
        return {"retry-after-ms": str(int(fault.retry_after * 1000))}
    seconds = fault.retry_after
    return {"Retry-After": str(int(seconds)) if seconds == int(seconds) else str(seconds)}


async def _parse_and_record(request: web.Request, vendor: str, state: FakeState) -> None:
    body_json: Any = None
    fields: dict[str, str] = {}
    uploads: dict[str, bytes] = {}
    if request.content_type == "application/json":
        raw = await request.read()
        try:
            body_json = json.loads(raw) if raw else None
        except ValueError:
            body_json = None
    elif request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        posted = await request.post()
        for name, value in posted.items():
            if isinstance(value, web.FileField):
                uploads[name] = value.file.read()
            else:
                fields[name] = str(value)
    request[wire.JSON_BODY] = body_json
    request[wire.FORM] = fields
    request[wire.FILES] = uploads
    state.record(
        RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            json=body_json,
            form=fields,
            files=uploads,
            api_key=request.get(wire.API_KEY, ""),
            vendor=vendor,
            timestamp=time.time(),
        )
    )


async def _drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without answering."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    # The handler must return something; nothing reaches the client any more.
    raise asyncio.CancelledError


async def _truncate(request: web.Request, answer: web.StreamResponse) -> web.StreamResponse:
    """Promise the full body in Content-Length, send half of it, then close."""
    body = answer.body if isinstance(answer, web.Response) else None
    data = body if isinstance(body, bytes) and body else b'{"data": [{"b64_json": "AAAA"}]}'
    cut = web.StreamResponse(status=answer.status, headers=answer.headers)
    cut.content_length = len(data) + 1024
    await cut.prepare(request)
    await cut.write(data[: max(1, len(data) // 2)])
    transport = request.transport
    if transport is not None:
        transport.abort()
    raise asyncio.CancelledError


def _make_middleware(state: FakeState, modules: dict[str, ModuleType]) -> Any:
    @web.middleware
    async def fake_provider_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        vendor = vendor_for_path(request.path)
        if vendor is None or vendor not in modules:
            return await handler(request)
        module = modules[vendor]
        public = "/_files/" in request.path
        key: str | None = None
        if not public and hasattr(module, "api_key"):
            key = module.api_key(request)
        request[wire.API_KEY] = key or ""
        await _parse_and_record(request, vendor, state)

        fault = state.take_fault(request.path)
        if fault is not None and fault.kind in HTTP_FAULT_ANSWERS:
            status, kind = HTTP_FAULT_ANSWERS[fault.kind]
            return wire.error_response(
                request,
                status,
                f"Injected fault {fault.kind}.",
                kind=kind,
                headers=_retry_after_headers(fault),
            )
        if fault is not None and fault.kind == "drop":
            return await _drop(request)
        if fault is not None and fault.kind == "stall":
            await asyncio.sleep(fault.delay_s if fault.delay_s is not None else DEFAULT_STALL_S)

        if not public and hasattr(module, "api_key"):
            if key is None and getattr(module, "KEY_REQUIRED", True):
                return wire.error_response(request, 401, "No API key provided.", kind="auth")
            if key is not None and key.startswith("bad-"):
                # Echoes the whole key, worse than any real vendor: clients must redact it.
                message = f"Incorrect API key provided: {key}."
                return wire.error_response(request, 401, message, kind="auth")
        if not public:
            wait = state.admit(key or "")
            if wait is not None:
                return wire.error_response(
                    request,
                    429,
                    "Rate limit reached for requests.",
                    kind="rate_limit",
                    headers={"Retry-After": str(wait)},
                )
        if state.latency_s > 0:
            await asyncio.sleep(state.latency_s)

        if fault is not None and fault.kind == "malformed_json":
            return web.Response(status=200, body=MALFORMED_JSON, content_type="application/json")
        if fault is not None and fault.kind in CONTENT_FAULTS:
            if fault.kind == "content_policy" and not getattr(
                module, "HANDLES_CONTENT_POLICY", False
            ):
                return wire.error_response(
                    request,
                    getattr(module, "CONTENT_POLICY_STATUS", 400),
                    "Your request was rejected as a result of our safety system.",
                    kind="content_policy",
                )
            request[wire.FAULT] = fault.kind
        answer: web.StreamResponse = await handler(request)
        if fault is not None and fault.kind == "truncate":
            return await _truncate(request, answer)
        return answer

    return fake_provider_middleware


# -- control routes (by-hand mode) --------------------------------------------------------


async def _inject_fault(request: web.Request) -> web.Response:
    body = await request.json()
    try:
        wire.state_of(request).inject(
            str(body["fault"]),
            path_contains=str(body.get("path_contains", "")),
            times=int(body["times"]) if "times" in body else None,
            retry_after=body.get("retry_after"),
            delay_s=body.get("delay_s"),
            retry_after_format=body.get("retry_after_format", "seconds"),
            probability=float(body["probability"]) if "probability" in body else None,
            seed=int(body["seed"]) if "seed" in body else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response({"ok": True})


async def _configure(request: web.Request) -> web.Response:
    body = await request.json()
    state = wire.state_of(request)
    if "latency_s" in body:
        state.latency_s = float(body["latency_s"])
    if "polls_until_done" in body:
        state.polls_until_done = int(body["polls_until_done"])
    if "video_bytes" in body:
        size = body["video_bytes"]
        state.video_bytes = None if size is None else int(size)
    if "usage" in body:
        state.usage = dict(body["usage"])
    if "reply" in body:
        state.reply = body["reply"]
    if "rate_limit_rpm" in body:
        state.set_rate_limit(body["rate_limit_rpm"], window_s=float(body.get("rate_window_s", 60)))
    return web.json_response({"ok": True})


async def _script_judge(request: web.Request) -> web.Response:
    body = await request.json()
    try:
        scores = [(str(marker), float(score)) for marker, score in body.get("scores", [])]
        wire.state_of(request).script_judge(
            scores, default=float(body.get("default", 0.9)), reply=body.get("reply")
        )
    except (TypeError, ValueError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response({"ok": True})


async def _list_requests(request: web.Request) -> web.Response:
    rows = []
    for recorded in list(wire.state_of(request).requests):
        row = asdict(recorded)
        row["files"] = {name: len(data) for name, data in recorded.files.items()}
        rows.append(row)
    return web.json_response(rows)


async def _reset(request: web.Request) -> web.Response:
    wire.state_of(request).reset()
    return web.json_response({"ok": True})


async def _download(request: web.Request) -> web.StreamResponse:
    found = wire.state_of(request).files.get(request.match_info["file_id"])
    if found is None:
        return web.json_response({"error": "not found"}, status=404)
    data, content_type = found
    if isinstance(data, bytes):
        return web.Response(body=data, content_type=content_type)
    return await wire.send_media(request, data, content_type)


def build_app(state: FakeState) -> web.Application:
    modules = load_vendors()
    app = web.Application(middlewares=[_make_middleware(state, modules)])
    app[wire.STATE] = state
    app[wire.VENDOR_MODULES] = modules
    app.router.add_post("/_fake/faults", _inject_fault)
    app.router.add_post("/_fake/config", _configure)
    app.router.add_post("/_fake/judge", _script_judge)
    app.router.add_get("/_fake/requests", _list_requests)
    app.router.add_post("/_fake/reset", _reset)
    app.router.add_get("/{vendor}/_files/{file_id}", _download)
    for module in modules.values():
        module.register(app, state)
    return app


class FakeProviderServer:
    """The fake server on 127.0.0.1 in a background thread. ``port=0`` picks a free port."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.state = FakeState()
        self._port = port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    @property
    def port(self) -> int:
        if not self._ready.is_set():
            raise RuntimeError("the fake provider server is not running")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def base_url(self, vendor: str) -> str:
        """The base_url an account of ``vendor`` uses against this server."""
        return self.url + BASE_PATHS[vendor]

    def start(self) -> FakeProviderServer:
        self._thread = threading.Thread(target=self._serve, name="fake-provider", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._startup_error is not None:
            raise RuntimeError("fake provider server failed to start") from self._startup_error
        if not self._ready.is_set():
            raise RuntimeError("fake provider server did not start within 30 s")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
        self._thread = None
        self._loop = None
        self._ready.clear()

    def __enter__(self) -> FakeProviderServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        runner = web.AppRunner(
            build_app(self.state),
            access_log=None,
            # A client that gave up (timeout, reset) cancels its handler: stalls end early.
            handler_cancellation=True,
            shutdown_timeout=0.5,
        )
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, self.host, self._port)
            loop.run_until_complete(site.start())
            self._port = runner.addresses[0][1]
        except BaseException as exc:  # handed to start(), which raises it in the caller
            self._startup_error = exc
            self._ready.set()
            loop.close()
            return
        self._loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()
