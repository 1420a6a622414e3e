"""The Gemini API's wire format under ``/google/v1beta``: generateContent (text, native
images, TTS), Imagen ``:predict``, Veo ``:predictLongRunning`` with operations, and Files
API downloads that need the key.

Two things the generic middleware does differently from Gemini are put right by an
outer middleware of this module: a bad key is answered 400 ``INVALID_ARGUMENT`` (not
401), and a retry hint travels in the body as ``google.rpc.RetryInfo`` (not as a
Retry-After header).
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from aiohttp import web

from tests.fakeprovider import judging, media, wire
from tests.fakeprovider.state import FakeState, TaskInfo

PREFIX = "/google/v1beta"
HANDLES_CONTENT_POLICY = True
PCM_MIME = "audio/L16;codec=pcm;rate=24000"

_TYPE = "type.googleapis.com/google.rpc."
_LRO_RESPONSE = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"

#: kind -> (google.rpc status name, HTTP code the body states).
_STATUSES: dict[str, tuple[str, int | None]] = {
    "auth": ("INVALID_ARGUMENT", 400),
    "invalid_request": ("INVALID_ARGUMENT", None),
    "not_found": ("NOT_FOUND", None),
    "rate_limit": ("RESOURCE_EXHAUSTED", None),
    "quota": ("RESOURCE_EXHAUSTED", None),
    "server": ("INTERNAL", None),
    "unavailable": ("UNAVAILABLE", None),
    "overloaded": ("UNAVAILABLE", None),
    "content_policy": ("INVALID_ARGUMENT", None),
}


def error_body(status: int, message: str, *, kind: str) -> tuple[dict[str, Any], dict[str, str]]:
    name, code = _STATUSES.get(kind, ("INVALID_ARGUMENT", None))
    details: list[dict[str, Any]] = []
    if kind == "auth":
        message = "API key not valid. Please pass a valid API key."
        details.append(
            {
                "@type": _TYPE + "ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        )
    if kind in ("rate_limit", "quota"):
        quota_id = (
            "GenerateRequestsPerDayPerProjectPerModel"
            if kind == "quota"
            else "GenerateRequestsPerMinutePerProjectPerModel"
        )
        details.append(
            {
                "@type": _TYPE + "QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/generate_requests",
                        "quotaId": quota_id,
                    }
                ],
            }
        )
    error: dict[str, Any] = {"code": code or status, "message": message, "status": name}
    if details:
        error["details"] = details
    return {"error": error}, {}


def api_key(request: web.Request) -> str | None:
    return request.headers.get("x-goog-api-key") or request.query.get("key") or None


def _seconds(raw: str | None) -> float | None:
    try:
        return float(raw) if raw is not None else None
    except ValueError:  # an HTTP-date: Gemini has no way to say that
        return None


@web.middleware
async def _as_gemini_answers(request: web.Request, handler: Any) -> web.StreamResponse:
    """Re-send the generic middleware's auth and rate-limit answers the way Gemini does."""
    response: web.StreamResponse = await handler(request)
    if not request.path.startswith(PREFIX) or not isinstance(response, web.Response):
        return response
    delay = _seconds(response.headers.get("Retry-After"))
    rate_hint = response.status == 429 and delay is not None
    if response.status != 401 and not rate_hint:
        return response
    assert isinstance(response.body, bytes)
    body = json.loads(response.body)
    if rate_hint:
        body["error"].setdefault("details", []).append(
            {"@type": _TYPE + "RetryInfo", "retryDelay": f"{delay:g}s"}
        )
    kept = {
        name: value
        for name, value in response.headers.items()
        if name.lower() not in ("retry-after", "content-type", "content-length")
    }
    return web.json_response(body, status=400 if response.status == 401 else 429, headers=kept)


def _invalid(request: web.Request, message: str) -> web.Response:
    return wire.error_response(request, 400, message, kind="invalid_request")


def _not_found(request: web.Request, message: str) -> web.Response:
    return wire.error_response(request, 404, message, kind="not_found")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- generateContent ------------------------------------------------------------------------


def _prompt(body: dict[str, Any]) -> str:
    contents = body.get("contents")
    last = contents[-1] if isinstance(contents, list) and contents else {}
    parts = last.get("parts", []) if isinstance(last, dict) else []
    return " ".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))


async def generate_content(request: web.Request, model: str) -> web.Response:
    body = wire.json_body(request)
    if not body.get("contents"):
        return _invalid(request, "* GenerateContentRequest.contents: contents is not specified")
    config = body.get("generationConfig") or {}
    modalities = [str(m).upper() for m in config.get("responseModalities") or ["TEXT"]]
    prompt = _prompt(body)
    fault = wire.fault_of(request)
    if "AUDIO" in modalities:
        if "tts" not in model:
            return _invalid(
                request,
                "The requested combination of response modalities is not supported by the model.",
            )
        voice = config.get("speechConfig", {}).get("voiceConfig", {}).get("prebuiltVoiceConfig", {})
        if not voice.get("voiceName"):
            return _invalid(request, "speechConfig.voiceConfig: voice name is required")
        pcm = media.silent_pcm16(0.5) if fault == "silence" else media.pcm16(0.5)
        wire.state_of(request).label_media(pcm, f"{model} said: {prompt}")
        parts: list[dict[str, Any]] = [{"inlineData": {"mimeType": PCM_MIME, "data": _b64(pcm)}}]
    elif "IMAGE" in modalities:
        if "image" not in model:
            return _invalid(request, "Multi-modal output is not supported.")
        picture = media.blank_png(128, 128) if fault == "blank_image" else media.png(128, 128, 3)
        parts = [
            {"text": "Here is the picture you asked for."},
            {"inlineData": {"mimeType": "image/png", "data": _b64(picture)}},
        ]
    elif judging.gemini_judge_request(body):
        seen = judging.seen_gemini(model, body)
        parts = [{"text": judging.verdict(wire.state_of(request), seen)}]
    elif heard := judging.seen_gemini(model, body, kind="audio/").images:
        # Audio inline with an instruction: speech to text.
        parts = [{"text": judging.transcript(wire.state_of(request), heard[0])}]
    else:
        parts = [{"text": f"Fake reply from {model}: {prompt[:200]}"}]
    answer: dict[str, Any] = {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": wire.usage(
            request,
            {
                "promptTokenCount": len(prompt) // 4 + 1,
                "candidatesTokenCount": 12,
                "totalTokenCount": len(prompt) // 4 + 13,
            },
        ),
        "modelVersion": model,
        "responseId": uuid.uuid4().hex[:22],
    }
    if fault == "content_policy" and "IMAGE" in modalities:
        answer["candidates"] = [{"content": {"parts": []}, "finishReason": "IMAGE_SAFETY"}]
    elif fault == "content_policy":
        answer["candidates"] = []
        answer["promptFeedback"] = {"blockReason": "PROHIBITED_CONTENT"}
    elif fault == "empty_data":
        answer["candidates"] = []
    return web.json_response(answer)


# -- Imagen ---------------------------------------------------------------------------------


async def predict(request: web.Request, model: str) -> web.Response:
    if not model.startswith("imagen"):
        return _not_found(
            request,
            f"models/{model} is not found for API version v1beta, or is not supported for predict.",
        )
    body = wire.json_body(request)
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances or not instances[0].get("prompt"):
        return _invalid(request, "instances[0].prompt: prompt is required")
    parameters = body.get("parameters") or {}
    fault = wire.fault_of(request)
    if fault == "content_policy":
        filtered = {"raiFilteredReason": "The image was filtered by the safety filter."}
        return web.json_response(
            {"predictions": [filtered]} if parameters.get("includeRaiReason") else {}
        )
    if fault == "empty_data":
        return web.json_response({})
    count = parameters.get("sampleCount", 4)  # Imagen's default is 4 images
    if not isinstance(count, int) or not 1 <= count <= 4:
        return _invalid(request, "parameters.sampleCount: must be between 1 and 4")
    # Seeded by model: two Imagen models draw different pictures.
    seed = 5 + sum(model.encode()) % 11
    picture = media.blank_png(128, 128) if fault == "blank_image" else media.png(128, 128, seed)
    wire.state_of(request).label_media(picture, model)
    one = {"bytesBase64Encoded": _b64(picture), "mimeType": "image/png"}
    return web.json_response({"predictions": [one] * count})


# -- Veo ------------------------------------------------------------------------------------


def _operation_name(task: TaskInfo) -> str:
    return f"models/{task.payload['model']}/operations/{task.id}"


async def predict_long_running(request: web.Request, model: str, state: FakeState) -> web.Response:
    if not model.startswith("veo"):
        return _not_found(request, f"models/{model} is not found for predictLongRunning.")
    instances = wire.json_body(request).get("instances")
    if not isinstance(instances, list) or not instances or not instances[0].get("prompt"):
        return _invalid(request, "instances[0].prompt: prompt is required")
    image = instances[0].get("image")
    if image is not None and not (image.get("bytesBase64Encoded") and image.get("mimeType")):
        return _invalid(request, "instances[0].image: bytesBase64Encoded and mimeType are required")
    fault = wire.fault_of(request)
    task = state.create_task(
        "google",
        wire.api_key_of(request),
        {"model": model, "filtered": fault == "content_policy", "with_image": image is not None},
        fail=fault == "task_failed",
    )
    return web.json_response({"name": _operation_name(task)})


def _operation(request: web.Request, task: TaskInfo, state: FakeState) -> dict[str, Any]:
    answer: dict[str, Any] = {"name": _operation_name(task)}
    if task.status not in ("completed", "failed"):
        return answer  # proto3 JSON leaves out ``done: false``
    answer["done"] = True
    if task.status == "failed":
        answer["error"] = {"code": 13, "message": "Video generation failed on the server."}
        return answer
    video: dict[str, Any]
    if task.payload["filtered"]:
        video = {
            "raiMediaFilteredCount": 1,
            "raiMediaFilteredReasons": ["The video violated the usage guidelines."],
        }
    else:
        if "uri" not in task.payload:
            path = state.publish("/google", media.mp4(1.0), "video/mp4")
            file_id = path.rsplit("/", 1)[1]
            task.payload["uri"] = wire.absolute_url(
                request, f"{PREFIX}/files/{file_id}:download?alt=media"
            )
        video = {"generatedSamples": [{"video": {"uri": task.payload["uri"]}}]}
    answer["response"] = {
        "@type": _LRO_RESPONSE,
        "generateVideoResponse": video,
    }
    return answer


# -- routes ---------------------------------------------------------------------------------


def register(app: web.Application, state: FakeState) -> None:
    # Outermost, so that it sees the answers the generic middleware makes itself.
    app.middlewares.insert(0, _as_gemini_answers)

    async def model_call(request: web.Request) -> web.Response:
        model, _, method = request.match_info["call"].partition(":")
        if method == "generateContent":
            return await generate_content(request, model)
        if method == "predict":
            return await predict(request, model)
        if method == "predictLongRunning":
            return await predict_long_running(request, model, state)
        return _not_found(request, f"Method {method!r} not found.")

    async def get_operation(request: web.Request) -> web.Response:
        task = state.tasks.get(request.match_info["operation"])
        if task is None or task.api_key != wire.api_key_of(request):
            return _not_found(request, "Operation not found.")
        return web.json_response(_operation(request, state.poll_task(task.id) or task, state))

    async def download_file(request: web.Request) -> web.Response:
        file_id, _, method = request.match_info["call"].partition(":")
        found = state.files.get(file_id)
        if method != "download" or found is None:
            return _not_found(request, f"File files/{file_id} not found.")
        data, content_type = found
        answer = web.Response(body=data, content_type=content_type)
        answer.enable_chunked_encoding()
        return answer

    app.router.add_post(f"{PREFIX}/models/{{call}}", model_call)
    app.router.add_get(f"{PREFIX}/models/{{model}}/operations/{{operation}}", get_operation)
    app.router.add_get(f"{PREFIX}/files/{{call}}", download_file)
