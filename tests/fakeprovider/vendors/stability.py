"""Stability AI's REST v2beta wire format under ``/stability/v2beta``: Stable Image
generate (ultra, core, sd3) and image-to-video with its result polling.

Requests must be multipart/form-data. Errors are ``{"id", "name", "errors": [...]}``.
``content_policy`` is answered per route, as Stability does: an image comes back 200 with
``finish-reason: CONTENT_FILTERED``; a video request is refused 403 ``content_moderation``.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

from aiohttp import web
from PIL import Image, UnidentifiedImageError

from tests.fakeprovider import media, wire
from tests.fakeprovider.state import FakeState

PREFIX = "/stability/v2beta"
HANDLES_CONTENT_POLICY = True
SD3_MODELS = frozenset(
    {"sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium", "sd3.5-flash", "sd3-large", "sd3-medium"}
)
IMAGE_FORMATS = {
    "png": (media.png, "image/png"),
    "jpeg": (media.jpeg, "image/jpeg"),
    "webp": (media.webp, "image/webp"),
}

#: kind -> error ``name``.
_NAMES: dict[str, str] = {
    "auth": "unauthorized",
    "invalid_request": "bad_request",
    "not_found": "not_found",
    "rate_limit": "rate_limit_exceeded",
    "quota": "payment_required",
    "server": "internal_error",
    "unavailable": "service_unavailable",
    "overloaded": "service_unavailable",
    "content_policy": "content_moderation",
}


def error_body(status: int, message: str, *, kind: str) -> tuple[dict[str, Any], dict[str, str]]:
    return {
        "id": uuid.uuid4().hex,
        "name": _NAMES.get(kind, "bad_request"),
        "errors": [message],
    }, {}


def api_key(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _bad_request(request: web.Request, message: str) -> web.Response:
    return wire.error_response(request, 400, message, kind="invalid_request")


def _not_multipart(request: web.Request) -> web.Response | None:
    if request.content_type != "multipart/form-data":
        return _bad_request(request, "content-type: must be multipart/form-data")
    return None


async def generate_image(request: web.Request) -> web.Response:
    endpoint = request.match_info["endpoint"]
    if endpoint not in ("ultra", "core", "sd3"):
        return wire.error_response(request, 404, f"no such endpoint: {endpoint}", kind="not_found")
    refused = _not_multipart(request)
    if refused is not None:
        return refused
    accept = request.headers.get("Accept", "image/*")
    if accept not in ("image/*", "application/json"):
        return _bad_request(request, "accept: must be image/* or application/json")
    fields = wire.form(request)
    if not fields.get("prompt"):
        return _bad_request(request, "prompt: cannot be empty")
    model = fields.get("model")
    if endpoint == "sd3" and model is not None and model not in SD3_MODELS:
        return _bad_request(request, f"model: must be one of {', '.join(sorted(SD3_MODELS))}")
    output_format = fields.get("output_format", "png")
    if output_format not in IMAGE_FORMATS:
        return _bad_request(request, "output_format: must be one of png, jpeg, webp")
    make, content_type = IMAGE_FORMATS[output_format]
    fault = wire.fault_of(request)
    picture = media.blank_png() if fault in ("blank_image", "content_policy") else make()
    finish = "CONTENT_FILTERED" if fault == "content_policy" else "SUCCESS"
    if fault == "blank_image":
        content_type = "image/png"
    headers = {"finish-reason": finish, "seed": "1234"}
    if fault == "empty_data":
        return web.Response(body=b"", content_type=content_type, headers=headers)
    return web.Response(body=picture, content_type=content_type, headers=headers)


def register(app: web.Application, state: FakeState) -> None:
    async def image_to_video(request: web.Request) -> web.Response:
        refused = _not_multipart(request)
        if refused is not None:
            return refused
        image = wire.files(request).get("image")
        if not image:
            return _bad_request(request, "image: is required")
        try:
            Image.open(io.BytesIO(image)).verify()
        except (UnidentifiedImageError, OSError):
            return _bad_request(request, "image: is not a valid image")
        fault = wire.fault_of(request)
        if fault == "content_policy":
            return wire.error_response(
                request,
                403,
                "Your request was flagged by our content moderation system.",
                kind="content_policy",
            )
        task = state.create_task(
            "stability", wire.api_key_of(request), {}, fail=fault == "task_failed"
        )
        return web.json_response({"id": task.id})

    async def video_result(request: web.Request) -> web.Response:
        generation = request.match_info["generation_id"]
        task = state.tasks.get(generation)
        # Another key's generation is as unknown as a made-up id.
        if task is None or task.api_key != wire.api_key_of(request):
            return wire.error_response(
                request, 404, f"generation {generation} was not found", kind="not_found"
            )
        task = state.poll_task(task.id) or task
        if task.status == "failed":
            return wire.error_response(
                request, 500, "the generation failed on the server", kind="server"
            )
        if task.status != "completed":
            return web.json_response({"id": task.id, "status": "in-progress"}, status=202)
        answer = web.Response(
            body=media.mp4(1.0),
            content_type="video/mp4",
            headers={"finish-reason": "SUCCESS", "seed": "42"},
        )
        answer.enable_chunked_encoding()
        return answer

    app.router.add_post(f"{PREFIX}/stable-image/generate/{{endpoint}}", generate_image)
    app.router.add_post(f"{PREFIX}/image-to-video", image_to_video)
    app.router.add_get(f"{PREFIX}/image-to-video/result/{{generation_id}}", video_result)
