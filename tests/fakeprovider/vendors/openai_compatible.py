"""A self-hosted OpenAI-compatible server (vLLM, Ollama, llama.cpp) under ``/compat/v1``.

Chat and images only. The key is optional (a server started without ``--api-key``);
``bad-`` keys are still refused. Errors use vLLM's int ``code``: nested
``{"error": {...}}`` below 500 (newer vLLM), flat ``{"object": "error", ...}`` from 500 up
(older vLLM), so clients meet both shapes.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakeprovider import wire
from tests.fakeprovider.state import FakeState
from tests.fakeprovider.vendors import openai

PREFIX = "/compat/v1"
KEY_REQUIRED = False

_TYPES = {
    "auth": "AuthenticationError",
    "invalid_request": "BadRequestError",
    "not_found": "NotFoundError",
    "rate_limit": "RateLimitError",
    "quota": "RateLimitError",
    "content_policy": "BadRequestError",
}


def error_body(status: int, message: str, *, kind: str) -> tuple[dict[str, Any], dict[str, str]]:
    error = {
        "message": message,
        "type": _TYPES.get(kind, "InternalServerError"),
        "param": None,
        "code": status,
    }
    if status >= 500:
        return {"object": "error", **error}, {}
    return {"error": error}, {}


def api_key(request: web.Request) -> str | None:
    return openai.api_key(request)


def register(app: web.Application, state: FakeState) -> None:
    async def chat(request: web.Request) -> web.Response:
        return await openai.chat(request, wire.json_body(request).get("model"))

    async def images(request: web.Request) -> web.Response:
        body = wire.json_body(request)
        if body.get("response_format", "b64_json") != "b64_json":
            # Ollama's experimental endpoint answers base64 only.
            return wire.error_response(
                request, 400, "response_format must be b64_json", kind="invalid_request"
            )
        return await openai.images(request, body.get("model"))

    app.router.add_post(f"{PREFIX}/chat/completions", chat)
    app.router.add_post(f"{PREFIX}/images/generations", images)
