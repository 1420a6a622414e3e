"""OpenAI: chat completions (text), images, speech (audio) and Sora (video).

Azure OpenAI and OpenAI-compatible servers speak the same bodies; they subclass
:class:`OpenAIProvider` and override only where the URL, auth or model naming differ.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from runner.errors import (
    ArtifactInvalid,
    PermanentError,
    ProviderError,
    TransientError,
)
from runner.providers.base import (
    CallContext,
    GenerationRequest,
    GenerationResult,
    InputAsset,
    Usage,
)
from runner.providers.http_common import (
    Deadline,
    api_key,
    base_url,
    check_media_type,
    decode_base64,
    decode_json,
    error_detail_from_json,
    exchange_json,
    is_content_policy,
    iter_body,
    parsed_url,
    poll_until_done,
    require_client,
    response_mime,
    send,
)
from runner.providers.openai_transcribe import transcribe

if TYPE_CHECKING:
    from runner.transport import Reply

#: Our own keys in ``params``: read by the adapter, never sent as body fields.
ADAPTER_PARAMS = frozenset({"system"})

SPEECH_MIME = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}

IMAGE_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}

#: Sora's accepted clip lengths (a string enum on the wire).
SORA_SECONDS = ("4", "8", "12")


def _body_params(
    params: Mapping[str, Any], *, drop: frozenset[str] = frozenset()
) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k not in ADAPTER_PARAMS and k not in drop}


def _image_part(asset: InputAsset) -> dict[str, Any] | None:
    """An input image as a chat content part: a data URI from disk, else its http(s) URL."""
    if asset.media_type != "image":
        return None
    if asset.path is not None:
        data = base64.b64encode(asset.read_bytes()).decode()
        return {"type": "image_url", "image_url": {"url": f"data:{asset.mime};base64,{data}"}}
    if asset.url and asset.url.startswith(("http://", "https://")):
        return {"type": "image_url", "image_url": {"url": asset.url}}
    return None


def chat_messages(request: GenerationRequest) -> list[dict[str, Any]]:
    """System prompt (``params.system``), earlier text outputs, images, then the prompt."""
    messages: list[dict[str, Any]] = []
    system = request.params.get("system")
    if system:
        messages.append({"role": "system", "content": str(system)})
    parts: list[dict[str, Any]] = []
    for asset in request.inputs:
        if asset.text is not None:
            parts.append({"type": "text", "text": asset.text})
        elif (part := _image_part(asset)) is not None:
            parts.append(part)
    if parts:
        parts.append({"type": "text", "text": request.prompt})
        messages.append({"role": "user", "content": parts})
    else:
        messages.append({"role": "user", "content": request.prompt})
    return messages


def json_schema_format(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Structured output: the answer must be JSON that fits ``schema`` (strict mode needs
    every property required and no others, which the caller's schema says)."""
    name = str(schema.get("title") or "answer")
    body = {k: v for k, v in schema.items() if k != "title"}
    return {"type": "json_schema", "json_schema": {"name": name, "schema": body, "strict": True}}


def sniff_image_mime(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _poll_after_s(response: Reply) -> float | None:
    """Sora's ``openai-poll-after-ms`` hint, in seconds."""
    raw = response.headers.get("openai-poll-after-ms")
    try:
        return float(raw) / 1000.0 if raw else None
    except ValueError:
        return None


class OpenAIProvider:
    name: ClassVar[str] = "openai"
    #: Shown in error messages.
    vendor: ClassVar[str] = "OpenAI"
    media_types: ClassVar[frozenset[str]] = frozenset({"text", "image", "audio", "video"})
    needs_key: ClassVar[bool] = True
    uses_http: ClassVar[bool] = True
    default_base_url: ClassVar[str | None] = "https://api.openai.com/v1"
    #: Whether the body names the model (Azure puts the deployment in the path instead).
    model_in_body: ClassVar[bool] = True

    # -- what subclasses change -----------------------------------------------------------

    def base_url(self, ctx: CallContext) -> str:
        return base_url(ctx, self.default_base_url or "", self.vendor)

    def endpoint(self, ctx: CallContext, model: str, operation: str) -> tuple[str, dict[str, str]]:
        """URL and query parameters of ``operation`` (``chat/completions``, ``videos/ID``)."""
        return f"{self.base_url(ctx)}/{operation}", {}

    def auth_headers(self, ctx: CallContext) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._key(ctx)}"}
        for option, header in (
            ("organization", "OpenAI-Organization"),
            ("project", "OpenAI-Project"),
        ):
            if ctx.options.get(option):
                headers[header] = str(ctx.options[option])
        return headers

    # -- the Provider interface -----------------------------------------------------------

    async def generate(self, request: GenerationRequest, ctx: CallContext) -> GenerationResult:
        check_media_type(request, self.media_types, self.vendor)
        deadline = Deadline(request.timeout)
        if request.media_type == "text":
            return await self.chat(request, ctx, deadline)
        if request.media_type == "image":
            return await self.image(request, ctx, deadline)
        if request.media_type == "audio":
            return await self.speech(request, ctx, deadline)
        return await self.video(request, ctx, deadline)

    # -- plumbing -------------------------------------------------------------------------

    def _key(self, ctx: CallContext) -> str:
        return api_key(ctx, self.vendor)

    def _request(
        self,
        ctx: CallContext,
        method: str,
        model: str,
        operation: str,
        deadline: Deadline,
        *,
        json: Mapping[str, Any] | None = None,
        accept: str = "application/json",
    ) -> httpx.Request:
        url, query = self.endpoint(ctx, model, operation)
        client = require_client(ctx, self.vendor)
        return client.build_request(
            method,
            parsed_url(url),
            params=query or None,
            json=json,
            headers={**self.auth_headers(ctx), "Accept": accept},
            timeout=deadline.http_timeout(),
        )

    async def _call_json(
        self,
        ctx: CallContext,
        method: str,
        model: str,
        operation: str,
        deadline: Deadline,
        *,
        json: Mapping[str, Any] | None = None,
    ) -> tuple[Any, Reply]:
        url, query = self.endpoint(ctx, model, operation)
        response = await exchange_json(
            require_client(ctx, self.vendor),
            method,
            url,
            headers={**self.auth_headers(ctx), "Accept": "application/json"},
            json_body=json,
            params=query,
            deadline=deadline,
            vendor=self.vendor,
            secrets=[ctx.api_key],
        )
        payload = decode_json(response, vendor=self.vendor)
        if not isinstance(payload, dict):
            raise ArtifactInvalid(
                f"{self.vendor}: {operation} answered with a non-object JSON body"
            )
        return payload, response

    def _model_field(self, model: str) -> dict[str, Any]:
        return {"model": model} if self.model_in_body else {}

    # -- text -----------------------------------------------------------------------------

    async def chat(
        self, request: GenerationRequest, ctx: CallContext, deadline: Deadline
    ) -> GenerationResult:
        body = {
            **self._model_field(request.model),
            "messages": chat_messages(request),
            **_body_params(request.params),
        }
        if request.response_schema is not None:
            body["response_format"] = json_schema_format(request.response_schema)
        payload, response = await self._call_json(
            ctx, "POST", request.model, "chat/completions", deadline, json=body
        )
        return self.chat_result(payload, response.status_code)

    def chat_result(self, payload: Mapping[str, Any], status: int) -> GenerationResult:
        choices = payload.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ArtifactInvalid(f"{self.vendor}: chat answer has no choices")
        choice = choices[0]
        message = choice.get("message") or {}
        content = message.get("content") if isinstance(message, dict) else None
        finish = choice.get("finish_reason")
        refusal = message.get("refusal") if isinstance(message, dict) else None
        if refusal or (finish == "content_filter" and not content):
            raise PermanentError(
                f"{self.vendor}: the model declined: {refusal or 'content filter'}"[:500],
                http_status=status,
                code="content_policy",
            )
        if not isinstance(content, str) or not content.strip():
            raise ArtifactInvalid(f"{self.vendor}: chat answer is empty (finish_reason {finish})")
        usage = payload.get("usage") or {}
        return GenerationResult(
            media_type="text",
            mime="text/plain",
            text=content,
            usage=Usage(
                input_tokens=usage.get("prompt_tokens"),
                output_tokens=usage.get("completion_tokens"),
            ),
            task_id=payload.get("id"),
            metadata={"finish_reason": finish, "model": payload.get("model")},
            http_status=status,
        )

    # -- images ---------------------------------------------------------------------------

    def image_body(self, request: GenerationRequest) -> dict[str, Any]:
        body = {
            **self._model_field(request.model),
            "prompt": request.prompt,
            **_body_params(request.params),
        }
        if request.model.startswith("gpt-image"):
            # GPT image models always answer base64 and reject the parameter.
            body.pop("response_format", None)
        else:
            body.setdefault("response_format", "b64_json")
        return body

    async def image(
        self, request: GenerationRequest, ctx: CallContext, deadline: Deadline
    ) -> GenerationResult:
        body = self.image_body(request)
        payload, response = await self._call_json(
            ctx, "POST", request.model, "images/generations", deadline, json=body
        )
        data = payload.get("data")
        if not isinstance(data, list) or not data or not isinstance(data[0], dict):
            raise ArtifactInvalid(f"{self.vendor}: image answer has no data")
        first = data[0]
        fmt = str(payload.get("output_format") or body.get("output_format") or "png")
        # With n > 1 every picture was paid for: each becomes an artifact of the job.
        images = [await self._image_bytes(ctx, item, deadline) for item in data]
        usage = payload.get("usage") or {}
        return GenerationResult(
            media_type="image",
            mime=sniff_image_mime(images[0]) or IMAGE_MIME.get(fmt, "image/png"),
            data=images[0],
            more=tuple(
                GenerationResult(
                    media_type="image",
                    mime=sniff_image_mime(image) or IMAGE_MIME.get(fmt, "image/png"),
                    data=image,
                )
                for image in images[1:]
            ),
            usage=Usage(
                images=len(data),
                input_tokens=usage.get("input_tokens"),
                output_tokens=usage.get("output_tokens"),
            ),
            metadata={
                k: v
                for k, v in {
                    "revised_prompt": first.get("revised_prompt"),
                    "size": payload.get("size") or body.get("size"),
                    "quality": payload.get("quality") or body.get("quality"),
                }.items()
                if v is not None
            },
            http_status=response.status_code,
        )

    async def _image_bytes(self, ctx: CallContext, item: Any, deadline: Deadline) -> bytes:
        if not isinstance(item, dict):
            raise ArtifactInvalid(f"{self.vendor}: image answer has a malformed data item")
        if item.get("b64_json"):
            image = decode_base64(str(item["b64_json"]), vendor=self.vendor)
        elif item.get("url"):
            image = await self._download(ctx, str(item["url"]), deadline)
        else:
            raise ArtifactInvalid(f"{self.vendor}: image answer has neither b64_json nor url")
        if not image:
            raise ArtifactInvalid(f"{self.vendor}: image answer is empty")
        return image

    async def _download(self, ctx: CallContext, url: str, deadline: Deadline) -> bytes:
        """Fetch a result URL. No auth header: these are signed links on another host."""
        client = require_client(ctx, self.vendor)
        request = client.build_request("GET", url, timeout=deadline.http_timeout())
        try:
            response = await send(client, request, vendor=self.vendor, secrets=[ctx.api_key])
        except ProviderError as exc:
            # Never a key problem (the link is signed; no key goes there). A 4xx such as
            # 404 or 403 (gone or expired) will not change on a retry, and a retry would
            # pay for the picture again: permanent, so the next candidate is tried. A 5xx
            # or a network failure on the way may pass: transient.
            status = exc.http_status or 0
            gone = 400 <= status < 500 and status not in (408, 429)
            kind = PermanentError if gone else TransientError
            raise kind(
                f"{self.vendor}: downloading the generated image failed: {exc.message}",
                http_status=exc.http_status,
                code="download_failed",
            ) from exc
        return response.content

    # -- speech ---------------------------------------------------------------------------

    async def speech(
        self, request: GenerationRequest, ctx: CallContext, deadline: Deadline
    ) -> GenerationResult:
        params = _body_params(request.params)
        params.setdefault("voice", ctx.options.get("voice", "alloy"))
        params.setdefault("response_format", "mp3")
        fmt = str(params["response_format"])
        body = {**self._model_field(request.model), "input": request.prompt, **params}
        http_request = self._request(
            ctx,
            "POST",
            request.model,
            "audio/speech",
            deadline,
            json=body,
            accept="application/octet-stream",
        )
        client = require_client(ctx, self.vendor)
        response = await send(
            client, http_request, vendor=self.vendor, secrets=[ctx.api_key], stream=True
        )
        mime = response_mime(response)
        if mime is not None and (mime.startswith("application/json") or mime.startswith("text/")):
            await response.aclose()
            raise ArtifactInvalid(f"{self.vendor}: speech answered with {mime}, not audio")
        return GenerationResult(
            media_type="audio",
            mime=SPEECH_MIME.get(fmt, mime or "application/octet-stream"),
            stream=iter_body(response, vendor=self.vendor, secrets=[ctx.api_key]),
            usage=Usage(characters=len(request.prompt)),
            metadata={"voice": params["voice"], "format": fmt},
            http_status=response.status_code,
        )

    # -- speech to text -------------------------------------------------------------------

    async def transcribe(self, request: GenerationRequest, ctx: CallContext) -> GenerationResult:
        """The first audio input as text (``POST /audio/transcriptions``)."""
        return await transcribe(self, request, ctx)

    # -- video (Sora) ---------------------------------------------------------------------

    async def video(
        self, request: GenerationRequest, ctx: CallContext, deadline: Deadline
    ) -> GenerationResult:
        task_id = request.resume_task_id
        if task_id is None:
            params = _body_params(request.params)
            seconds = str(params.pop("seconds", "4"))
            if seconds not in SORA_SECONDS:
                raise PermanentError(
                    f"{self.vendor}: Sora clips are 4, 8 or 12 seconds, not {seconds!r}",
                    code="invalid_params",
                )
            body = {"model": request.model, "prompt": request.prompt, "seconds": seconds, **params}
            created, _ = await self._call_json(
                ctx, "POST", request.model, "videos", deadline, json=body
            )
            if not created.get("id"):
                raise TransientError(f"{self.vendor}: video create answer has no id")
            task_id = str(created["id"])
            ctx.on_task_created(task_id)

        async def fetch() -> tuple[dict[str, Any], float | None]:
            payload, response = await self._call_json(
                ctx, "GET", request.model, f"videos/{task_id}", deadline
            )
            return dict(payload), _poll_after_s(response)

        resource, _ = await poll_until_done(
            fetch,
            lambda polled: polled[0].get("status") not in ("queued", "in_progress"),
            ctx=ctx,
            deadline=deadline,
            vendor=self.vendor,
            task_id=task_id,
            hint_s=lambda polled: polled[1],
        )
        if resource.get("status") != "completed":
            raise self._video_failure(task_id, resource)

        http_request = self._request(
            ctx,
            "GET",
            request.model,
            f"videos/{task_id}/content",
            deadline,
            accept="application/binary",
        )
        response = await send(
            require_client(ctx, self.vendor),
            http_request,
            vendor=self.vendor,
            secrets=[ctx.api_key],
            stream=True,
        )
        return GenerationResult(
            media_type="video",
            mime=response_mime(response) or "video/mp4",
            stream=iter_body(response, vendor=self.vendor, secrets=[ctx.api_key]),
            usage=Usage(seconds=_clip_seconds(resource.get("seconds"))),
            task_id=task_id,
            metadata={"size": resource.get("size"), "model": resource.get("model")},
            http_status=response.status_code,
        )

    def _video_failure(self, task_id: str, resource: Mapping[str, Any]) -> Exception:
        detail = error_detail_from_json({"error": resource.get("error") or {}})
        text = f"{self.vendor}: video {task_id} {resource.get('status')}: {detail.message}"
        if is_content_policy(detail):
            return PermanentError(text, code="content_policy")
        # A failed render may well succeed when asked again.
        return TransientError(text, code=detail.code or "task_failed")


_DECIMAL = re.compile(r"\d{1,9}(?:\.\d{1,9})?")


def _clip_seconds(value: Any) -> Any:
    """Sora reports a clip's length as a decimal string ("8"): that form is parsed
    strictly here; anything else goes to Usage as sent, which drops what is not a count."""
    if isinstance(value, str):
        return float(value) if _DECIMAL.fullmatch(value) else value
    return value or None
