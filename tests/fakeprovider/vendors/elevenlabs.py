"""ElevenLabs' wire format: text to speech under ``/elevenlabs/v1``.

Errors are ``{"detail": {"status", "message"}}``, except request validation (422), which
is FastAPI's ``{"detail": [{"loc", "msg", "type"}]}``. A 429 from the generic middleware
says ``too_many_concurrent_requests``; an injected 503 or 529 says ``system_busy``.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from tests.fakeprovider import media, wire
from tests.fakeprovider.state import FakeState

PREFIX = "/elevenlabs/v1"

#: kind -> ``detail.status``.
_STATUSES: dict[str, str] = {
    "auth": "invalid_api_key",
    "invalid_request": "invalid_request",
    "not_found": "voice_not_found",
    "rate_limit": "too_many_concurrent_requests",
    "quota": "quota_exceeded",
    "server": "internal_server_error",
    "unavailable": "system_busy",
    "overloaded": "system_busy",
    "content_policy": "invalid_request",
}


def error_body(status: int, message: str, *, kind: str) -> tuple[dict[str, Any], dict[str, str]]:
    detail = {"status": _STATUSES.get(kind, "invalid_request"), "message": message}
    return {"detail": detail}, {"request-id": uuid.uuid4().hex}


def api_key(request: web.Request) -> str | None:
    return request.headers.get("xi-api-key") or None


def _validation_error(field: str, message: str) -> web.Response:
    detail = [{"loc": ["body", field], "msg": message, "type": "missing"}]
    return web.json_response({"detail": detail}, status=422)


def _audio(output_format: str, silent: bool) -> tuple[bytes, str] | None:
    codec = output_format.split("_", 1)[0]
    if codec == "mp3":
        return (media.silent_mp3() if silent else media.mp3()), "audio/mpeg"
    if codec == "pcm":
        return (media.silent_pcm16() if silent else media.pcm16()), "audio/pcm"
    if codec == "wav":
        return (media.silent_wav() if silent else media.wav()), "audio/wav"
    return None


async def text_to_speech(request: web.Request) -> web.Response:
    body = wire.json_body(request)
    if not body.get("text"):
        return _validation_error("text", "Field required")
    output_format = request.query.get("output_format", "mp3_44100_128")
    fault = wire.fault_of(request)
    made = _audio(output_format, silent=fault == "silence")
    if made is None:
        return wire.error_response(
            request,
            400,
            f"output_format {output_format!r} is not supported by the fake server.",
            kind="invalid_request",
        )
    audio, content_type = made
    headers = {"character-cost": str(len(body["text"])), "request-id": uuid.uuid4().hex}
    if fault == "empty_data":
        return web.Response(body=b"", content_type=content_type, headers=headers)
    answer = web.Response(body=audio, content_type=content_type, headers=headers)
    answer.enable_chunked_encoding()
    return answer


def register(app: web.Application, state: FakeState) -> None:
    app.router.add_post(f"{PREFIX}/text-to-speech/{{voice_id}}", text_to_speech)
