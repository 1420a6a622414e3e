"""OpenAI speech to text: ``POST /audio/transcriptions`` (multipart), for a judge that
reads what an audio artifact says.

Azure (deployment URLs) and OpenAI-compatible servers (vLLM serves the same route) come
through the provider's own ``endpoint`` and ``auth_headers``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runner.errors import ArtifactInvalid, PermanentError
from runner.providers.base import CallContext, GenerationRequest, GenerationResult, Usage
from runner.providers.http_common import (
    Deadline,
    decode_json,
    parsed_url,
    require_client,
    send,
)

if TYPE_CHECKING:
    from runner.providers.openai import OpenAIProvider


def transcription_usage(usage: Mapping[str, Any]) -> Usage:
    """gpt-4o-*-transcribe bill tokens; whisper-1 bills the seconds of audio."""
    if usage.get("type") == "duration" and isinstance(usage.get("seconds"), int | float):
        return Usage(seconds=float(usage["seconds"]))
    inp, out = usage.get("input_tokens"), usage.get("output_tokens")
    if isinstance(inp, int) or isinstance(out, int):
        return Usage(
            input_tokens=inp if isinstance(inp, int) else None,
            output_tokens=out if isinstance(out, int) else None,
        )
    return Usage()


async def transcribe(
    provider: OpenAIProvider, request: GenerationRequest, ctx: CallContext
) -> GenerationResult:
    vendor = provider.vendor
    audio = next((a for a in request.inputs if a.media_type == "audio"), None)
    if audio is None or audio.path is None:
        raise PermanentError(f"{vendor}: nothing to transcribe (no local audio file)")
    try:
        data = audio.read_bytes()
    except OSError as exc:
        raise PermanentError(f"{vendor}: cannot read the audio to transcribe: {exc}") from exc
    deadline = Deadline(request.timeout)
    url, query = provider.endpoint(ctx, request.model, "audio/transcriptions")
    client = require_client(ctx, vendor)
    subtype = audio.mime.split("/", 1)[-1].split(";", 1)[0] or "wav"
    fields: dict[str, str] = {"response_format": "json"}
    if provider.model_in_body:
        fields["model"] = request.model
    if request.prompt:
        fields["prompt"] = request.prompt  # a hint: names and spellings to expect
    http_request = client.build_request(
        "POST",
        parsed_url(url),
        params=query or None,
        files=[
            ("file", (f"audio.{subtype}", data, audio.mime)),
            *((name, (None, value)) for name, value in fields.items()),
        ],
        headers={**provider.auth_headers(ctx), "Accept": "application/json"},
        timeout=deadline.http_timeout(),
    )
    response = await send(client, http_request, vendor=vendor, secrets=[ctx.api_key])
    payload = decode_json(response, vendor=vendor)
    text = payload.get("text") if isinstance(payload, dict) else None
    if not isinstance(text, str):
        raise ArtifactInvalid(f"{vendor}: the transcription answer has no text")
    usage = payload.get("usage")
    return GenerationResult(
        media_type="text",
        mime="text/plain",
        text=text,
        usage=transcription_usage(usage if isinstance(usage, dict) else {}),
        http_status=response.status_code,
    )
