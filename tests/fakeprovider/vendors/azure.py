"""Azure OpenAI's classic wire format: ``/azure/openai/deployments/{deployment}/...``.

OpenAI's bodies (the handlers are shared), an ``api-key`` header, a required
``api-version`` query parameter, and Azure's error bodies, including the content-filter
400 with its ``innererror``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tests.fakeprovider import wire
from tests.fakeprovider.state import FakeState
from tests.fakeprovider.vendors import openai

PREFIX = "/azure/openai/deployments"

_FILTERED = {"filtered": True, "severity": "high"}
_SAFE = {"filtered": False, "severity": "safe"}


def error_body(status: int, message: str, *, kind: str) -> tuple[dict[str, Any], dict[str, str]]:
    headers = {"apim-request-id": f"fake-{status}"}
    if kind == "content_policy":
        error: dict[str, Any] = {
            "code": "content_filter",
            "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
            "content management policy.",
            "param": "prompt",
            "status": 400,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": {
                    "hate": _SAFE,
                    "self_harm": _SAFE,
                    "sexual": _SAFE,
                    "violence": _FILTERED,
                },
            },
        }
        return {"error": error}, headers
    if kind == "auth":
        message = (
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
            "provide a valid key for an active subscription and use a correct regional API "
            "endpoint for your resource."
        )
    code = "insufficient_quota" if kind == "quota" else str(status)
    return {"error": {"code": code, "message": message}}, headers


def api_key(request: web.Request) -> str | None:
    return request.headers.get("api-key") or None


Handler = Callable[[web.Request, str | None], Awaitable[web.Response]]


def _deployment_route(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def route(request: web.Request) -> web.Response:
        if not request.query.get("api-version"):
            return wire.error_response(
                request, 404, "Resource not found (api-version is required).", kind="not_found"
            )
        return await handler(request, request.match_info["deployment"])

    return route


def register(app: web.Application, state: FakeState) -> None:
    app.router.add_post(f"{PREFIX}/{{deployment}}/chat/completions", _deployment_route(openai.chat))
    app.router.add_post(
        f"{PREFIX}/{{deployment}}/images/generations", _deployment_route(openai.images)
    )
    app.router.add_post(f"{PREFIX}/{{deployment}}/audio/speech", _deployment_route(openai.speech))
    app.router.add_post(
        f"{PREFIX}/{{deployment}}/audio/transcriptions", _deployment_route(openai.transcriptions)
    )
