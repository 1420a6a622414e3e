"""Cohere's wire format: Chat v2 under ``/cohere/v2``.

Every error body is ``{"message", "id"}``. A key starting with ``expired-`` gets Cohere's
own 498 (invalid token), which no injectable fault produces.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from tests.fakeprovider import wire
from tests.fakeprovider.state import FakeState

PREFIX = "/cohere/v2"


def error_body(status: int, message: str, *, kind: str) -> tuple[dict[str, Any], dict[str, str]]:
    return {"message": message, "id": str(uuid.uuid4())}, {}


def api_key(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content", "")
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content)
    return ""


async def chat(request: web.Request) -> web.Response:
    if wire.api_key_of(request).startswith("expired-"):
        return web.json_response(
            {"message": "invalid api token", "id": str(uuid.uuid4())}, status=498
        )
    body = wire.json_body(request)
    absent = wire.missing(body, "model", "messages")
    if absent:
        return wire.error_response(
            request, 400, f"invalid request: {absent} must be specified", kind="invalid_request"
        )
    if not isinstance(body["messages"], list):
        return wire.error_response(
            request, 400, "invalid request: messages must be a list", kind="invalid_request"
        )
    prompt = _last_user_text(body["messages"])
    reply = f"Fake reply from {body['model']}: {prompt[:200]}"
    content: list[dict[str, Any]] = [{"type": "text", "text": reply}]
    if wire.fault_of(request) == "empty_data":
        content = []
    tokens = wire.usage(
        request, {"input_tokens": len(prompt) // 4 + 1, "output_tokens": len(reply) // 4 + 1}
    )
    return web.json_response(
        {
            "id": str(uuid.uuid4()),
            "finish_reason": "COMPLETE",
            "message": {"role": "assistant", "content": content},
            "usage": {"billed_units": dict(tokens), "tokens": tokens},
        }
    )


def register(app: web.Application, state: FakeState) -> None:
    app.router.add_post(f"{PREFIX}/chat", chat)
