"""OpenAI's wire format: chat completions, images, speech and Sora video under ``/openai/v1``.

The handlers take the model as an argument so Azure (model from the deployment path) and
OpenAI-compatible servers reuse them with their own routes and error bodies.
"""

from __future__ import annotations

import base64
import time
import zlib
from typing import Any

from aiohttp import web

from tests.fakeprovider import judging, media, wire
from tests.fakeprovider.state import FakeState, TaskInfo

PREFIX = "/openai/v1"

#: kind -> (error.type, error.code), as the real API names them.
_ERRORS: dict[str, tuple[str, str | None]] = {
    "auth": ("invalid_request_error", "invalid_api_key"),
    "invalid_request": ("invalid_request_error", None),
    "not_found": ("invalid_request_error", "not_found"),
    "rate_limit": ("requests", "rate_limit_exceeded"),
    "quota": ("insufficient_quota", "insufficient_quota"),
    "server": ("server_error", None),
    "unavailable": ("server_error", "service_unavailable"),
    "overloaded": ("server_error", "overloaded"),
    "content_policy": ("invalid_request_error", "content_policy_violation"),
}

SPEECH_FORMATS = {"mp3": "audio/mpeg", "wav": "audio/wav", "pcm": "audio/pcm"}


def error_body(status: int, message: str, *, kind: str) -> tuple[dict[str, Any], dict[str, str]]:
    error_type, code = _ERRORS.get(kind, ("invalid_request_error", None))
    body = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    headers = {"x-request-id": f"req_fake_{status}"}
    if kind == "rate_limit":
        headers |= {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s"}
    return body, headers


def api_key(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _seed(text: str) -> int:
    return zlib.crc32(text.encode()) % 16


# -- chat ---------------------------------------------------------------------------------


async def chat(request: web.Request, model: str | None) -> web.Response:
    body = wire.json_body(request)
    absent = "model" if not model else wire.missing(body, "messages")
    if absent:
        return wire.missing_field(request, absent)
    messages = body["messages"]
    last = messages[-1].get("content", "") if isinstance(messages[-1], dict) else ""
    prompt = last if isinstance(last, str) else str(last)
    configured = wire.state_of(request).reply
    reply = configured if configured is not None else f"Fake reply from {model}: {prompt[:200]}"
    prompt_tokens = sum(len(str(m.get("content", ""))) for m in messages) // 4 + 1
    completion_tokens = len(reply) // 4 + 1
    if judging.openai_judge_request(body):
        vendor = wire.vendor_for(request)
        seen = judging.seen_openai(vendor, str(model), body)
        reply = judging.verdict(wire.state_of(request), seen)
        prompt_tokens, completion_tokens = judging.judge_usage(seen)
    choices: list[dict[str, Any]] = [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": reply, "refusal": None},
            "logprobs": None,
        }
    ]
    if wire.fault_of(request) == "empty_data":
        choices = []
    return web.json_response(
        {
            "id": f"chatcmpl-fake{int(time.time() * 1000)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": choices,
            "usage": wire.usage(
                request,
                {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            ),
        }
    )


# -- images -------------------------------------------------------------------------------


def _image_size(size: Any) -> tuple[int, int]:
    """Answer at a quarter of the asked size: real pictures, small enough for tests."""
    if isinstance(size, str) and "x" in size:
        width, _, height = size.partition("x")
        if width.isdigit() and height.isdigit():
            return max(16, int(width) // 4), max(16, int(height) // 4)
    return 256, 256


async def images(request: web.Request, model: str | None) -> web.Response:
    body = wire.json_body(request)
    absent = wire.missing(body, "prompt")
    if absent:
        return wire.missing_field(request, absent)
    model = model or "dall-e-2"
    gpt_image = model.startswith("gpt-image")
    if gpt_image and "response_format" in body:
        return wire.error_response(
            request, 400, "Unknown parameter: 'response_format'.", kind="invalid_request"
        )
    n = int(body.get("n", 1))
    if model == "dall-e-3" and n != 1:
        return wire.error_response(
            request, 400, "dall-e-3 only supports n=1.", kind="invalid_request"
        )
    width, height = _image_size(body.get("size"))
    fault = wire.fault_of(request)
    # Seeded by model and prompt: two models asked the same thing draw different pictures.
    picture = (
        media.blank_png(width, height)
        if fault == "blank_image"
        else media.png(width, height, _seed(f"{model}:{body['prompt']}"))
    )
    wire.state_of(request).label_media(picture, model)
    as_url = not gpt_image and body.get("response_format", "url") == "url"
    data: list[dict[str, Any]] = []
    for _ in range(n):
        item: dict[str, Any] = (
            {"url": wire.publish(request, picture, "image/png")}
            if as_url
            else {"b64_json": base64.b64encode(picture).decode()}
        )
        if model == "dall-e-3":
            item["revised_prompt"] = f"A picture of {body['prompt']}"
        data.append(item)
    if fault == "empty_data":
        data = []
    elif fault == "fewer_outputs":
        data = data[:1]  # asked for n, answered with one (and billed for one)
    answer: dict[str, Any] = {"created": int(time.time()), "data": data}
    if gpt_image:
        answer["usage"] = {
            "input_tokens": len(body["prompt"]) // 4 + 1,
            "output_tokens": 1056 * n,
            "total_tokens": len(body["prompt"]) // 4 + 1 + 1056 * n,
            "input_tokens_details": {
                "text_tokens": len(body["prompt"]) // 4 + 1,
                "image_tokens": 0,
            },
        }
    return web.json_response(answer)


# -- speech -------------------------------------------------------------------------------


async def speech(request: web.Request, model: str | None) -> web.Response:
    body = wire.json_body(request)
    absent = "model" if not model else wire.missing(body, "input", "voice")
    if absent:
        return wire.missing_field(request, absent)
    fmt = body.get("response_format", "mp3")
    if fmt not in SPEECH_FORMATS:
        return wire.error_response(
            request, 400, f"The fake server cannot make {fmt!r} audio.", kind="invalid_request"
        )
    silent = wire.fault_of(request) == "silence"
    audio = {
        "mp3": media.silent_mp3 if silent else media.mp3,
        "wav": media.silent_wav if silent else media.wav,
        "pcm": media.silent_pcm16 if silent else media.pcm16,
    }[fmt]()
    wire.state_of(request).label_media(audio, f"{model} said: {body['input']}")
    answer = web.Response(body=audio, content_type=SPEECH_FORMATS[fmt])
    answer.enable_chunked_encoding()
    return answer


# -- speech to text -------------------------------------------------------------------------


async def transcriptions(request: web.Request, model: str | None) -> web.Response:
    fields, uploads = wire.form(request), wire.files(request)
    model = model or fields.get("model")
    if not model:
        return wire.missing_field(request, "model")
    audio = uploads.get("file")
    if not audio:
        return wire.missing_field(request, "file")
    text = judging.transcript(wire.state_of(request), audio)
    usage: dict[str, Any] = (
        {"type": "duration", "seconds": 1}
        if model.startswith("whisper")
        else {
            "type": "tokens",
            "input_tokens": len(audio) // 100 + 1,
            "output_tokens": len(text) // 4 + 1,
            "total_tokens": len(audio) // 100 + len(text) // 4 + 2,
        }
    )
    return web.json_response({"text": text, "usage": usage})


# -- video (Sora) -------------------------------------------------------------------------


def _video_resource(task: TaskInfo) -> dict[str, Any]:
    failed = task.status == "failed"
    return {
        "id": task.id,
        "object": "video",
        "model": task.payload["model"],
        "status": task.status,
        "progress": 100 if task.status == "completed" else 50 * min(task.polls, 1),
        "created_at": int(task.created_at),
        "completed_at": int(time.time()) if task.status == "completed" else None,
        "expires_at": None,
        "prompt": task.payload["prompt"],
        "size": task.payload["size"],
        "seconds": task.payload["seconds"],
        "remixed_from_video_id": None,
        "error": {"code": "moderation_blocked", "message": "Video failed moderation."}
        if failed
        else None,
    }


def _owned_task(request: web.Request, state: FakeState) -> TaskInfo | None:
    task = state.tasks.get(request.match_info["video_id"])
    if task is None or task.api_key != wire.api_key_of(request):
        return None
    return task


def register(app: web.Application, state: FakeState) -> None:
    async def chat_route(request: web.Request) -> web.Response:
        return await chat(request, wire.json_body(request).get("model"))

    async def images_route(request: web.Request) -> web.Response:
        return await images(request, wire.json_body(request).get("model"))

    async def speech_route(request: web.Request) -> web.Response:
        return await speech(request, wire.json_body(request).get("model"))

    async def transcriptions_route(request: web.Request) -> web.Response:
        return await transcriptions(request, None)

    async def create_video(request: web.Request) -> web.Response:
        fields: dict[str, Any] = {**wire.form(request), **wire.json_body(request)}
        if not fields.get("prompt"):
            return wire.missing_field(request, "prompt")
        seconds = str(fields.get("seconds", "4"))
        if seconds not in ("4", "8", "12"):
            return wire.error_response(
                request,
                400,
                "Invalid 'seconds': expected '4', '8' or '12'.",
                kind="invalid_request",
            )
        payload = {
            "model": fields.get("model", "sora-2"),
            "prompt": fields["prompt"],
            "seconds": seconds,
            "size": fields.get("size", "720x1280"),
        }
        task = state.create_task(
            "openai",
            wire.api_key_of(request),
            payload,
            fail=wire.fault_of(request) == "task_failed",
        )
        return web.json_response(_video_resource(task))

    async def get_video(request: web.Request) -> web.Response:
        task = _owned_task(request, state)
        if task is None:
            return wire.error_response(request, 404, "Video not found.", kind="not_found")
        task = state.poll_task(task.id) or task
        return web.json_response(_video_resource(task), headers={"openai-poll-after-ms": "10"})

    async def video_content(request: web.Request) -> web.StreamResponse:
        task = _owned_task(request, state)
        if task is None:
            return wire.error_response(request, 404, "Video not found.", kind="not_found")
        if task.status != "completed":
            return wire.error_response(
                request,
                400,
                f"Video is not ready (status {task.status}).",
                kind="invalid_request",
            )
        clip = wire.video(request, float(task.payload["seconds"]) / 4)
        return await wire.send_media(request, clip, "video/mp4")

    app.router.add_post(f"{PREFIX}/chat/completions", chat_route)
    app.router.add_post(f"{PREFIX}/images/generations", images_route)
    app.router.add_post(f"{PREFIX}/audio/speech", speech_route)
    app.router.add_post(f"{PREFIX}/audio/transcriptions", transcriptions_route)
    app.router.add_post(f"{PREFIX}/videos", create_video)
    app.router.add_get(f"{PREFIX}/videos/{{video_id}}", get_video)
    app.router.add_get(f"{PREFIX}/videos/{{video_id}}/content", video_content)
