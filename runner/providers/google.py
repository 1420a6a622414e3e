"""Google Gemini API (generativelanguage ``v1beta``): text, speech, images and Veo video.

- text: ``models/{model}:generateContent``.
- audio: the same call with ``responseModalities: ["AUDIO"]`` and a prebuilt voice
  (``params.voice``, else the account option ``voice``, else "Kore"); the answer is raw
  16-bit mono PCM (24 kHz), wrapped here into a WAV file.
- image: Imagen models (``imagen-*``) through ``models/{model}:predict``; any other model
  (``gemini-2.5-flash-image``, ...) through ``generateContent`` with image output.
- video: Veo through ``models/{model}:predictLongRunning`` -> poll ``GET /{operation}``
  until ``done`` -> download ``video.uri`` with the same key header (streamed).

Errors beyond the generic status mapping: a bad key is a 400 ``INVALID_ARGUMENT`` whose
``google.rpc.ErrorInfo`` reason is ``API_KEY_INVALID`` (credentials, not a bad request);
429 ``RESOURCE_EXHAUSTED`` carries its wait in ``google.rpc.RetryInfo.retryDelay`` ("23s")
in the body, not in a header. Blocked prompts and outputs (``promptFeedback.blockReason``,
safety finish reasons, ``raiFilteredReason``) are PermanentError ``content_policy``.
"""

from __future__ import annotations

import base64
import io
import re
import wave
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import urlsplit

from runner.errors import (
    ArtifactInvalid,
    CredentialsError,
    PermanentError,
    ProviderError,
    RateLimitedError,
    TransientError,
)
from runner.providers._vendor_util import (
    exchange_classified,
    first_image_input,
    int_param,
    reject_empty_stream,
    send_classified,
    with_class,
)
from runner.providers.base import CallContext, GenerationRequest, GenerationResult, Usage
from runner.providers.google_parts import gemini_schema, media_parts
from runner.providers.http_common import (
    Deadline,
    api_key,
    base_url,
    check_media_type,
    decode_base64,
    decode_json,
    iter_body,
    poll_until_done,
    require_client,
    response_mime,
)

VENDOR = "Gemini"
DEFAULT_VOICE = "Kore"
#: What a transcription request asks (Gemini has no separate speech-to-text endpoint).
TRANSCRIBE_INSTRUCTION = (
    "Transcribe the speech in this audio word for word. Answer with the transcript only."
)
#: Veo 3's clip length when params set no ``duration`` (Veo bills per second).
DEFAULT_VEO_SECONDS = 8
#: Gemini TTS's PCM format when the MIME type names no rate.
PCM_RATE = 24_000
#: Finish reasons meaning a safety system stopped the answer.
BLOCKED_FINISH = frozenset(
    {
        "SAFETY",
        "PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)
#: ``params`` key -> ``generationConfig`` field.
GENERATION_PARAMS = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "max_tokens": "maxOutputTokens",
    "seed": "seed",
    "stop_sequences": "stopSequences",
}
#: ``params`` key -> Imagen ``parameters`` field.
IMAGEN_PARAMS = {
    "aspect_ratio": "aspectRatio",
    "person_generation": "personGeneration",
    "image_size": "sampleImageSize",
    "guidance_scale": "guidanceScale",
}


def _count(value: Any) -> int:
    """``n`` as Imagen's ``sampleCount`` (1 to 4 per call)."""
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise PermanentError(f"{VENDOR}: n must be a whole number, not {value!r}") from None
    if not 1 <= count <= 4:
        raise PermanentError(f"{VENDOR}: Imagen makes 1 to 4 images per call; n is {count}")
    return count


#: ``params`` key -> Veo ``parameters`` field.
VEO_PARAMS = {
    "aspect_ratio": "aspectRatio",
    "duration": "durationSeconds",
    "resolution": "resolution",
    "negative_prompt": "negativePrompt",
    "person_generation": "personGeneration",
}
#: google.rpc.Code of an operation error that asking again cannot fix: INVALID_ARGUMENT,
#: NOT_FOUND, PERMISSION_DENIED, FAILED_PRECONDITION, OUT_OF_RANGE, UNIMPLEMENTED.
PERMANENT_RPC_CODES = frozenset({3, 5, 7, 9, 11, 12})


# -- errors -------------------------------------------------------------------------------


def _details(payload: Any) -> list[dict[str, Any]]:
    error = payload.get("error") if isinstance(payload, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def parse_duration(raw: Any) -> float | None:
    """A protobuf JSON Duration ("23s", "0.5s") in seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s\s*", str(raw))
    return float(match.group(1)) if match else None


def reclassify_error(error: ProviderError, payload: Any) -> ProviderError:
    details = _details(payload)
    if any(d.get("reason") == "API_KEY_INVALID" for d in details):
        return with_class(error, CredentialsError, code="API_KEY_INVALID")
    if isinstance(error, RateLimitedError):
        for detail in details:
            if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
                delay = parse_duration(detail.get("retryDelay"))
                if delay is not None:
                    return with_class(error, RateLimitedError, retry_after=delay)
    return error


def _check_not_blocked(payload: Mapping[str, Any], status: int) -> dict[str, Any]:
    """The first candidate, unless a safety system blocked the prompt or the answer."""
    feedback = payload.get("promptFeedback")
    if isinstance(feedback, dict) and feedback.get("blockReason"):
        raise PermanentError(
            f"{VENDOR}: the prompt was blocked ({feedback['blockReason']})",
            http_status=status,
            code="content_policy",
        )
    candidates = payload.get("candidates")
    if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
        raise ArtifactInvalid(f"{VENDOR}: the answer has no candidates")
    candidate: dict[str, Any] = candidates[0]
    finish = candidate.get("finishReason")
    if finish in BLOCKED_FINISH:
        raise PermanentError(
            f"{VENDOR}: the answer was blocked (finishReason {finish})",
            http_status=status,
            code="content_policy",
        )
    return candidate


def _parts(candidate: Mapping[str, Any]) -> list[dict[str, Any]]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def _inline(candidate: Mapping[str, Any], mime_prefix: str) -> tuple[str, str] | None:
    """(mimeType, base64 data) of the first inline part whose type starts with the prefix."""
    for part in _parts(candidate):
        inline = part.get("inlineData")
        if isinstance(inline, dict) and str(inline.get("mimeType", "")).startswith(mime_prefix):
            return str(inline["mimeType"]), str(inline.get("data") or "")
    return None


def _token_usage(payload: Mapping[str, Any]) -> Usage:
    meta = payload.get("usageMetadata")
    if not isinstance(meta, dict):
        return Usage()
    output = meta.get("candidatesTokenCount")
    thoughts = meta.get("thoughtsTokenCount")
    # Thinking tokens are billed as output. Only plain ints are added up: anything else
    # goes to Usage as sent, which drops (and reports) what is not a count.
    if type(thoughts) is int and (output is None or type(output) is int):
        output = (output or 0) + thoughts
    return Usage(input_tokens=meta.get("promptTokenCount"), output_tokens=output)


# -- audio --------------------------------------------------------------------------------


def pcm_rate(mime: str) -> int:
    """The sample rate in ``audio/L16;codec=pcm;rate=24000``, else Gemini's 24 kHz."""
    match = re.search(r"rate=(\d+)", mime)
    return int(match.group(1)) if match else PCM_RATE


def wav_from_pcm16(pcm: bytes, rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(pcm)
    return out.getvalue()


# -- the provider -------------------------------------------------------------------------


class GoogleProvider:
    name: ClassVar[str] = "google"
    media_types: ClassVar[frozenset[str]] = frozenset({"text", "image", "audio", "video"})
    needs_key: ClassVar[bool] = True
    uses_http: ClassVar[bool] = True
    default_base_url: ClassVar[str | None] = "https://generativelanguage.googleapis.com/v1beta"

    async def generate(self, request: GenerationRequest, ctx: CallContext) -> GenerationResult:
        check_media_type(request, self.media_types, VENDOR)
        deadline = Deadline(request.timeout)
        if request.media_type == "text":
            return await self._text(request, ctx, deadline)
        if request.media_type == "audio":
            return await self._speech(request, ctx, deadline)
        if request.media_type == "image":
            if request.model.startswith("imagen"):
                return await self._imagen(request, ctx, deadline)
            return await self._native_image(request, ctx, deadline)
        return await self._veo(request, ctx, deadline)

    # -- plumbing -------------------------------------------------------------------------

    async def _call(
        self,
        ctx: CallContext,
        method: str,
        path: str,
        deadline: Deadline,
        *,
        json: Mapping[str, Any] | None = None,
    ) -> tuple[dict[str, Any], int]:
        key = api_key(ctx, VENDOR)
        client = require_client(ctx, VENDOR)
        response = await exchange_classified(
            client,
            f"{base_url(ctx, self.default_base_url or '', VENDOR)}/{path}",
            method=method,
            json_body=json,
            headers={"x-goog-api-key": key, "Accept": "application/json"},
            deadline=deadline,
            vendor=VENDOR,
            secrets=[key],
            reclassify=reclassify_error,
        )
        payload = decode_json(response, vendor=VENDOR)
        if not isinstance(payload, dict):
            raise ArtifactInvalid(f"{VENDOR}: {path} answered with a non-object JSON body")
        return payload, response.status_code

    def _contents_body(
        self,
        request: GenerationRequest,
        generation_config: Mapping[str, Any],
        *,
        media_inputs: bool = False,
    ) -> dict[str, Any]:
        params = request.params
        parts: list[dict[str, Any]] = media_parts(request, VENDOR) if media_inputs else []
        parts += [{"text": asset.text} for asset in request.inputs if asset.text]
        parts.append({"text": request.prompt})
        config = {field: params[key] for key, field in GENERATION_PARAMS.items() if key in params}
        body: dict[str, Any] = {
            "contents": [{"role": "user", "parts": parts}],
            "generationConfig": {**config, **generation_config},
        }
        if params.get("system"):
            body["systemInstruction"] = {"parts": [{"text": str(params["system"])}]}
        return body

    async def _generate_content(
        self,
        request: GenerationRequest,
        ctx: CallContext,
        deadline: Deadline,
        generation_config: Mapping[str, Any],
        *,
        media_inputs: bool = False,
    ) -> tuple[dict[str, Any], dict[str, Any], int]:
        """(whole answer, first candidate, status) of one ``generateContent`` call."""
        payload, status = await self._call(
            ctx,
            "POST",
            f"models/{request.model}:generateContent",
            deadline,
            json=self._contents_body(request, generation_config, media_inputs=media_inputs),
        )
        return payload, _check_not_blocked(payload, status), status

    # -- media types ----------------------------------------------------------------------

    async def _text(
        self, request: GenerationRequest, ctx: CallContext, deadline: Deadline
    ) -> GenerationResult:
        config: dict[str, Any] = {}
        if request.response_schema is not None:
            config = {
                "responseMimeType": "application/json",
                "responseSchema": gemini_schema(request.response_schema),
            }
        # A text request sees its image (and audio) inputs: vision, and speech to text.
        payload, candidate, status = await self._generate_content(
            request, ctx, deadline, config, media_inputs=True
        )
        text = "".join(
            str(part.get("text") or "") for part in _parts(candidate) if not part.get("thought")
        )
        if not text.strip():
            raise ArtifactInvalid(
                f"{VENDOR}: the answer has no text (finishReason {candidate.get('finishReason')})"
            )
        return GenerationResult(
            media_type="text",
            mime="text/plain",
            text=text,
            usage=_token_usage(payload),
            task_id=payload.get("responseId"),
            metadata={
                "finish_reason": candidate.get("finishReason"),
                "model": payload.get("modelVersion"),
            },
            http_status=status,
        )

    async def transcribe(self, request: GenerationRequest, ctx: CallContext) -> GenerationResult:
        """Speech to text: the audio input inline, and an instruction to write it down."""
        if not any(a.media_type == "audio" and a.path for a in request.inputs):
            raise PermanentError(f"{VENDOR}: nothing to transcribe (no local audio file)")
        hint = f" Expect words such as: {request.prompt}" if request.prompt else ""
        asked = replace(request, media_type="text", prompt=TRANSCRIBE_INSTRUCTION + hint)
        return await self._text(asked, ctx, Deadline(request.timeout))

    async def _speech(
        self, request: GenerationRequest, ctx: CallContext, deadline: Deadline
    ) -> GenerationResult:
        voice = str(request.params.get("voice") or ctx.options.get("voice") or DEFAULT_VOICE)
        speech_config: dict[str, Any] = {
            "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": voice}}
        }
        if request.params.get("language_code"):
            speech_config["languageCode"] = str(request.params["language_code"])
        payload, candidate, status = await self._generate_content(
            request,
            ctx,
            deadline,
            {"responseModalities": ["AUDIO"], "speechConfig": speech_config},
        )
        inline = _inline(candidate, "audio/")
        if inline is None or not inline[1]:
            raise ArtifactInvalid(f"{VENDOR}: the speech answer has no audio")
        mime, data = inline
        audio = decode_base64(data, vendor=VENDOR)
        if mime.startswith(("audio/wav", "audio/x-wav")):
            wav, seconds = audio, None
        else:
            rate = pcm_rate(mime)
            wav, seconds = wav_from_pcm16(audio, rate), len(audio) / (2 * rate)
        usage = _token_usage(payload)
        usage.seconds = seconds
        return GenerationResult(
            media_type="audio",
            mime="audio/wav",
            data=wav,
            usage=usage,
            task_id=payload.get("responseId"),
            metadata={"voice": voice, "source_mime": mime},
            http_status=status,
        )

    async def _native_image(
        self, request: GenerationRequest, ctx: CallContext, deadline: Deadline
    ) -> GenerationResult:
        payload, candidate, status = await self._generate_content(
            request, ctx, deadline, {"responseModalities": ["TEXT", "IMAGE"]}
        )
        inline = _inline(candidate, "image/")
        if inline is None or not inline[1]:
            raise ArtifactInvalid(
                f"{VENDOR}: the answer has no image (finishReason {candidate.get('finishReason')})"
            )
        mime, data = inline
        usage = _token_usage(payload)
        usage.images = 1
        return GenerationResult(
            media_type="image",
            mime=mime,
            data=decode_base64(data, vendor=VENDOR),
            usage=usage,
            task_id=payload.get("responseId"),
            metadata={"model": payload.get("modelVersion")},
            http_status=status,
        )

    async def _imagen(
        self, request: GenerationRequest, ctx: CallContext, deadline: Deadline
    ) -> GenerationResult:
        parameters: dict[str, Any] = {
            # Imagen would make 4 by default; ``n`` asks for more than one, all stored.
            "sampleCount": _count(request.params.get("n", 1)),
            # Without it a filtered image just vanishes; with it we can say why.
            "includeRaiReason": True,
            **{
                field: request.params[key]
                for key, field in IMAGEN_PARAMS.items()
                if key in request.params
            },
        }
        payload, status = await self._call(
            ctx,
            "POST",
            f"models/{request.model}:predict",
            deadline,
            json={"instances": [{"prompt": request.prompt}], "parameters": parameters},
        )
        predictions = payload.get("predictions")
        predictions = (
            [p for p in predictions if isinstance(p, dict)] if isinstance(predictions, list) else []
        )
        images = [p for p in predictions if p.get("bytesBase64Encoded")]
        if not images:
            reasons = [
                str(p["raiFilteredReason"]) for p in predictions if p.get("raiFilteredReason")
            ]
            if reasons:
                raise PermanentError(
                    f"{VENDOR}: the image was filtered: {'; '.join(reasons)}"[:500],
                    http_status=status,
                    code="content_policy",
                )
            raise ArtifactInvalid(f"{VENDOR}: the Imagen answer has no image")
        first, *others = [
            GenerationResult(
                media_type="image",
                mime=str(image.get("mimeType") or "image/png"),
                data=decode_base64(str(image["bytesBase64Encoded"]), vendor=VENDOR),
            )
            for image in images
        ]
        first.usage = Usage(images=len(images))
        first.http_status = status
        first.more = tuple(others)
        return first

    # -- video (Veo) ----------------------------------------------------------------------

    async def _veo(
        self, request: GenerationRequest, ctx: CallContext, deadline: Deadline
    ) -> GenerationResult:
        operation = request.resume_task_id
        if operation is None:
            operation = await self._start_veo(request, ctx, deadline)
            ctx.on_task_created(operation)
        task_id = operation

        async def fetch() -> dict[str, Any]:
            return (await self._call(ctx, "GET", task_id, deadline))[0]

        finished = await poll_until_done(
            fetch,
            lambda polled: polled.get("done") is True,
            ctx=ctx,
            deadline=deadline,
            vendor=VENDOR,
            task_id=task_id,
        )
        uri = self._video_uri(task_id, finished)
        return await self._download(ctx, uri, deadline, task_id, request)

    async def _start_veo(
        self, request: GenerationRequest, ctx: CallContext, deadline: Deadline
    ) -> str:
        instance: dict[str, Any] = {"prompt": request.prompt}
        image = await first_image_input(request, ctx, deadline, VENDOR)
        if image is not None:
            data, mime = image
            instance["image"] = {
                "bytesBase64Encoded": base64.b64encode(data).decode(),
                "mimeType": mime,
            }
        parameters = {
            field: request.params[key] for key, field in VEO_PARAMS.items() if key in request.params
        }
        created, _ = await self._call(
            ctx,
            "POST",
            f"models/{request.model}:predictLongRunning",
            deadline,
            json={"instances": [instance], "parameters": parameters},
        )
        name = created.get("name")
        if not name:
            raise TransientError(f"{VENDOR}: the video operation has no name")
        return str(name)

    def _video_uri(self, task_id: str, operation: Mapping[str, Any]) -> str:
        error = operation.get("error")
        if isinstance(error, dict):
            text = f"{VENDOR}: video operation {task_id} failed: {error.get('message', '')}"[:600]
            if error.get("code") in PERMANENT_RPC_CODES:
                raise PermanentError(text, code=str(error.get("code")))
            raise TransientError(text, code="task_failed")
        response = operation.get("response")
        video_response = (
            response.get("generateVideoResponse") if isinstance(response, dict) else None
        )
        if not isinstance(video_response, dict):
            raise ArtifactInvalid(f"{VENDOR}: video operation {task_id} finished without a video")
        samples = video_response.get("generatedSamples")
        for sample in samples if isinstance(samples, list) else []:
            video = sample.get("video") if isinstance(sample, dict) else None
            if isinstance(video, dict) and video.get("uri"):
                return str(video["uri"])
        reasons = video_response.get("raiMediaFilteredReasons")
        if video_response.get("raiMediaFilteredCount") or reasons:
            why = "; ".join(str(r) for r in reasons) if isinstance(reasons, list) else ""
            raise PermanentError(
                f"{VENDOR}: video {task_id} was filtered: {why or 'safety filter'}"[:600],
                code="content_policy",
            )
        raise ArtifactInvalid(f"{VENDOR}: video operation {task_id} finished without a video")

    async def _download(
        self,
        ctx: CallContext,
        uri: str,
        deadline: Deadline,
        task_id: str,
        request: GenerationRequest,
    ) -> GenerationResult:
        key = api_key(ctx, VENDOR)
        client = require_client(ctx, VENDOR)
        base = base_url(ctx, self.default_base_url or "", VENDOR)
        # Files API links need the key; never hand it to a host other than the API's own.
        same_host = urlsplit(uri).netloc == urlsplit(base).netloc
        http_request = client.build_request(
            "GET",
            uri,
            headers={"x-goog-api-key": key} if same_host else {},
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
        await reject_empty_stream(response, VENDOR, "video download")
        duration = int_param(request.params, "duration", DEFAULT_VEO_SECONDS, VENDOR)
        mime = response_mime(response)
        return GenerationResult(
            media_type="video",
            mime=mime if mime and mime.startswith("video/") else "video/mp4",
            stream=iter_body(response, vendor=VENDOR, secrets=[key]),
            usage=Usage(seconds=float(duration)),
            task_id=task_id,
            http_status=response.status_code,
        )
