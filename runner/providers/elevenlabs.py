"""ElevenLabs text to speech (``POST /v1/text-to-speech/{voice_id}``): audio, streamed.

The voice comes from ``params.voice_id``, else the account option ``voice_id``, else
Rachel (``21m00Tcm4TlvDq8ikWAM``, one of the premade voices every account has).

ElevenLabs sends two different 429s: ``too_many_concurrent_requests`` (the plan's
concurrency cap: a slot frees within about a second, so rate-limited with a short wait)
and ``system_busy`` (their side is overloaded: transient, back off).
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from runner.errors import ArtifactInvalid, ProviderError, RateLimitedError, TransientError
from runner.providers._vendor_util import (
    reject_empty_stream,
    send_classified,
    with_class,
)
from runner.providers.base import CallContext, GenerationRequest, GenerationResult, Usage
from runner.providers.http_common import (
    Deadline,
    api_key,
    base_url,
    check_media_type,
    error_detail_from_json,
    iter_body,
    require_client,
    response_mime,
)

VENDOR = "ElevenLabs"
DEFAULT_VOICE_ID = "21m00Tcm4TlvDq8ikWAM"
DEFAULT_OUTPUT_FORMAT = "mp3_44100_128"
#: Wait after ``too_many_concurrent_requests`` when the answer gives no Retry-After.
CONCURRENCY_RETRY_S = 1.0
PASSTHROUGH_PARAMS = (
    "voice_settings",
    "language_code",
    "seed",
    "apply_text_normalization",
    "previous_text",
    "next_text",
    "pronunciation_dictionary_locators",
)
#: ``output_format`` codec prefix -> MIME type of the bytes.
CODEC_MIME = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
    "ulaw": "audio/basic",
    "alaw": "audio/x-alaw-basic",
}


def voice_id(request: GenerationRequest, ctx: CallContext) -> str:
    return str(request.params.get("voice_id") or ctx.options.get("voice_id") or DEFAULT_VOICE_ID)


def speech_body(request: GenerationRequest) -> dict[str, Any]:
    body: dict[str, Any] = {"text": request.prompt, "model_id": request.model}
    body.update(
        {name: request.params[name] for name in PASSTHROUGH_PARAMS if name in request.params}
    )
    return body


def reclassify_error(error: ProviderError, payload: Any) -> ProviderError:
    status = (error_detail_from_json(payload).code or "").lower()
    if status == "too_many_concurrent_requests":
        return with_class(
            error,
            RateLimitedError,
            code=status,
            retry_after=error.retry_after if error.retry_after is not None else CONCURRENCY_RETRY_S,
        )
    if status == "system_busy":
        return with_class(error, TransientError, code=status)
    return error


def _character_cost(raw: str | None, fallback: int) -> int:
    try:
        return int(raw) if raw is not None else fallback
    except ValueError:
        return fallback


class ElevenLabsProvider:
    name: ClassVar[str] = "elevenlabs"
    media_types: ClassVar[frozenset[str]] = frozenset({"audio"})
    needs_key: ClassVar[bool] = True
    uses_http: ClassVar[bool] = True
    default_base_url: ClassVar[str | None] = "https://api.elevenlabs.io"

    async def generate(self, request: GenerationRequest, ctx: CallContext) -> GenerationResult:
        check_media_type(request, self.media_types, VENDOR)
        key = api_key(ctx, VENDOR)
        client = require_client(ctx, VENDOR)
        deadline = Deadline(request.timeout)
        voice = voice_id(request, ctx)
        output_format = str(request.params.get("output_format", DEFAULT_OUTPUT_FORMAT))
        expected_mime = CODEC_MIME.get(output_format.split("_", 1)[0])
        http_request = client.build_request(
            "POST",
            f"{base_url(ctx, self.default_base_url or '', VENDOR)}/v1/text-to-speech/"
            + quote(voice, safe=""),
            params={"output_format": output_format},
            json=speech_body(request),
            headers={"xi-api-key": key, "Accept": expected_mime or "*/*"},
            timeout=deadline.http_timeout(),
        )
        response = await send_classified(
            client,
            http_request,
            vendor=VENDOR,
            secrets=[key],
            reclassify=reclassify_error,
            stream=True,
        )
        mime = response_mime(response)
        if mime is not None and (mime.startswith("application/json") or mime.startswith("text/")):
            await response.aclose()
            raise ArtifactInvalid(f"{VENDOR}: text to speech answered with {mime}, not audio")
        await reject_empty_stream(response, VENDOR, "text to speech")
        return GenerationResult(
            media_type="audio",
            mime=expected_mime or mime or "application/octet-stream",
            stream=iter_body(response, vendor=VENDOR, secrets=[key]),
            usage=Usage(
                characters=_character_cost(
                    response.headers.get("character-cost"), len(request.prompt)
                )
            ),
            task_id=response.headers.get("request-id"),
            metadata={"voice_id": voice, "output_format": output_format},
            http_status=response.status_code,
        )
