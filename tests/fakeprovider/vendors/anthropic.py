"""Anthropic's wire format: the Messages API under ``/anthropic/v1``.

Faults this handler answers itself: ``content_policy`` (a 200 whose ``stop_reason`` is
``refusal``, as the real API declines) and ``empty_data`` (a message with no content).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from tests.fakeprovider import judging, wire
from tests.fakeprovider.state import FakeState

PREFIX = "/anthropic/v1"
API_VERSION = "2023-06-01"
HANDLES_CONTENT_POLICY = True

#: kind -> ``error.type``, as docs.claude.com/en/api/errors names them.
_ERROR_TYPES: dict[str, str] = {
    "auth": "authentication_error",
    "invalid_request": "invalid_request_error",
    "not_found": "not_found_error",
    "rate_limit": "rate_limit_error",
    "quota": "rate_limit_error",
    "server": "api_error",
    "unavailable": "api_error",
    "overloaded": "overloaded_error",
    "content_policy": "invalid_request_error",
}


def error_body(status: int, message: str, *, kind: str) -> tuple[dict[str, Any], dict[str, str]]:
    request_id = f"req_fake{uuid.uuid4().hex[:16]}"
    error: dict[str, Any] = {
        "type": _ERROR_TYPES.get(kind, "invalid_request_error"),
        "message": message,
    }
    if kind == "quota":
        # A spend-limit 429: same type as a rate limit, told apart by this code.
        error["details"] = {"error_code": "enforced_spend_limit_reached"}
    headers = {"request-id": request_id}
    if kind == "rate_limit":
        headers["anthropic-ratelimit-requests-remaining"] = "0"
    return {"type": "error", "error": error, "request_id": request_id}, headers


def api_key(request: web.Request) -> str | None:
    return request.headers.get("x-api-key") or None


def _invalid(request: web.Request, message: str) -> web.Response:
    return wire.error_response(request, 400, message, kind="invalid_request")


def _prompt_text(messages: list[Any]) -> str:
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    content = last.get("content", "")
    if isinstance(content, list):
        return " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return str(content)


async def messages(request: web.Request) -> web.Response:
    if request.headers.get("anthropic-version") != API_VERSION:
        return _invalid(request, "anthropic-version: header is required")
    body = wire.json_body(request)
    absent = wire.missing(body, "model", "max_tokens", "messages")
    if absent:
        return _invalid(request, f"{absent}: Field required")
    if not isinstance(body["messages"], list):
        return _invalid(request, "messages: Input should be a valid list")
    if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
        return _invalid(request, "max_tokens: Input should be a valid integer greater than 0")
    prompt = _prompt_text(body["messages"])
    reply = f"Fake reply from {body['model']}: {prompt[:200]}"
    content: list[dict[str, Any]] = [{"type": "text", "text": reply}]
    stop_reason = "end_turn"
    tool = judging.anthropic_judge_tool(body)
    if tool is not None:
        # A forced tool: the judge answers by calling it, as the real API does.
        answer = judging.verdict(
            wire.state_of(request), judging.seen_anthropic(body["model"], body)
        )
        try:
            arguments: Any = json.loads(answer)
        except ValueError:
            arguments = None
        if isinstance(arguments, dict):
            content = [{"type": "tool_use", "id": "toolu_fake", "name": tool, "input": arguments}]
            stop_reason = "tool_use"
        else:
            content = [{"type": "text", "text": answer}]
    fault = wire.fault_of(request)
    if fault == "content_policy":
        content, stop_reason = [], "refusal"
    elif fault == "empty_data":
        content = []
    return web.json_response(
        {
            "id": f"msg_fake{uuid.uuid4().hex[:20]}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": wire.usage(
                request,
                {
                    "input_tokens": len(prompt) // 4 + 1,
                    "output_tokens": len(reply) // 4 + 1 if content else 0,
                },
            ),
        },
        headers={"request-id": f"req_fake{uuid.uuid4().hex[:16]}"},
    )


def register(app: web.Application, state: FakeState) -> None:
    app.router.add_post(f"{PREFIX}/messages", messages)
