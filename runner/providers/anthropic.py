"""Anthropic Messages API (``POST /v1/messages``): text, reading image inputs too.

Structured output (a judge's score): the Messages API has no JSON response format, so a
request with ``response_schema`` offers one tool whose ``input_schema`` is the schema and
forces the model to call it; the tool call's input is the answer.

Errors beyond the generic status mapping:
- 529 ``overloaded_error`` is capacity across all users: rate-limited, retry later.
- A 429 caused by the organisation's spend limit carries the same ``rate_limit_error``
  type, no ``retry-after`` and ``error.details.error_code`` ``enforced_spend_limit_reached``:
  waiting does not help, so it is a CredentialsError (code ``spend_limit``): this account
  is unusable until someone raises the limit, another account may work.
- "Your credit balance is too low" arrives as a 400 ``invalid_request_error``; it is the
  account, not the request, so it is a CredentialsError (code ``insufficient_quota``).
- ``stop_reason: "refusal"`` on a 200 is the model declining: PermanentError
  ``content_policy``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from runner.errors import ArtifactInvalid, CredentialsError, PermanentError, ProviderError
from runner.providers._vendor_util import (
    as_dict,
    exchange_classified,
    int_param,
    with_class,
)
from runner.providers.base import CallContext, GenerationRequest, GenerationResult, Usage
from runner.providers.http_common import (
    Deadline,
    api_key,
    base_url,
    check_media_type,
    decode_json,
    require_client,
)

VENDOR = "Anthropic"
API_VERSION = "2023-06-01"
#: ``max_tokens`` is required by the API; this is used when params do not set it.
DEFAULT_MAX_TOKENS = 1024
#: Request fields a preset's ``params`` may set, passed through unchanged.
PASSTHROUGH_PARAMS = ("temperature", "top_p", "top_k", "stop_sequences", "metadata")


#: Image types the Messages API reads.
IMAGE_MIMES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def message_body(request: GenerationRequest) -> dict[str, Any]:
    params = request.params
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": int_param(params, "max_tokens", DEFAULT_MAX_TOKENS, VENDOR),
        "messages": [{"role": "user", "content": _user_content(request)}],
    }
    if params.get("system"):
        body["system"] = str(params["system"])
    body.update({name: params[name] for name in PASSTHROUGH_PARAMS if name in params})
    if request.response_schema is not None:
        name = answer_tool_name(request.response_schema)
        schema = {k: v for k, v in request.response_schema.items() if k != "title"}
        body["tools"] = [
            {"name": name, "description": "Record your answer.", "input_schema": schema}
        ]
        body["tool_choice"] = {"type": "tool", "name": name}
    return body


def answer_tool_name(schema: Mapping[str, Any]) -> str:
    return str(schema.get("title") or "answer")


def _user_content(request: GenerationRequest) -> str | list[dict[str, Any]]:
    """Images handed in as inputs (content blocks), earlier steps' text, then the prompt."""
    texts = [asset.text for asset in request.inputs if asset.text]
    text = "\n\n".join([*texts, request.prompt])
    images = [
        asset
        for asset in request.inputs
        if asset.media_type == "image" and asset.path is not None and asset.mime in IMAGE_MIMES
    ]
    if not images:
        return text
    blocks: list[dict[str, Any]] = []
    for asset in images:
        try:
            data = base64.b64encode(asset.read_bytes()).decode()
        except OSError as exc:
            raise PermanentError(
                f"{VENDOR}: cannot read the input image from step {asset.step!r}: {exc}",
                code="input_unreadable",
            ) from exc
        blocks.append(
            {"type": "image", "source": {"type": "base64", "media_type": asset.mime, "data": data}}
        )
    return [*blocks, {"type": "text", "text": text}]


def reclassify_error(error: ProviderError, payload: Any) -> ProviderError:
    inner = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(inner, dict):
        return error
    details = as_dict(inner.get("details"))
    message = str(inner.get("message") or "").lower()
    if error.http_status == 429 and (
        details.get("error_code") == "enforced_spend_limit_reached" or "spend limit" in message
    ):
        return with_class(error, CredentialsError, code="spend_limit")
    if error.http_status == 400 and "credit balance" in message:
        return with_class(error, CredentialsError, code="insufficient_quota")
    return error


def message_result(
    payload: Mapping[str, Any], status: int, *, answer_tool: str | None = None
) -> GenerationResult:
    stop_reason = payload.get("stop_reason")
    raw_blocks = payload.get("content")
    blocks = [
        b for b in (raw_blocks if isinstance(raw_blocks, list) else []) if isinstance(b, dict)
    ]
    text = "".join(str(block.get("text") or "") for block in blocks if block.get("type") == "text")
    if answer_tool is not None:
        called = [b for b in blocks if b.get("type") == "tool_use" and b.get("name") == answer_tool]
        if called:
            # The forced tool call's input is the structured answer, as JSON text.
            text = json.dumps(called[0].get("input"), ensure_ascii=False)
    if stop_reason == "refusal":
        raise PermanentError(
            f"{VENDOR}: the model declined to answer (stop_reason refusal)",
            http_status=status,
            code="content_policy",
        )
    if not text.strip():
        raise ArtifactInvalid(f"{VENDOR}: the message has no text (stop_reason {stop_reason})")
    usage = as_dict(payload.get("usage"))
    return GenerationResult(
        media_type="text",
        mime="text/plain",
        text=text,
        usage=Usage(
            input_tokens=usage.get("input_tokens"), output_tokens=usage.get("output_tokens")
        ),
        task_id=payload.get("id"),
        metadata={"stop_reason": stop_reason, "model": payload.get("model")},
        http_status=status,
    )


class AnthropicProvider:
    name: ClassVar[str] = "anthropic"
    media_types: ClassVar[frozenset[str]] = frozenset({"text"})
    needs_key: ClassVar[bool] = True
    uses_http: ClassVar[bool] = True
    default_base_url: ClassVar[str | None] = "https://api.anthropic.com"

    async def generate(self, request: GenerationRequest, ctx: CallContext) -> GenerationResult:
        check_media_type(request, self.media_types, VENDOR)
        key = api_key(ctx, VENDOR)
        client = require_client(ctx, VENDOR)
        deadline = Deadline(request.timeout)
        headers = {
            "x-api-key": key,
            "anthropic-version": str(ctx.options.get("anthropic_version", API_VERSION)),
            "Accept": "application/json",
        }
        if ctx.options.get("anthropic_beta"):
            headers["anthropic-beta"] = str(ctx.options["anthropic_beta"])
        response = await exchange_classified(
            client,
            f"{base_url(ctx, self.default_base_url or '', VENDOR)}/v1/messages",
            json_body=message_body(request),
            headers=headers,
            deadline=deadline,
            vendor=VENDOR,
            secrets=[key],
            reclassify=reclassify_error,
        )
        payload = decode_json(response, vendor=VENDOR)
        if not isinstance(payload, dict):
            raise ArtifactInvalid(f"{VENDOR}: the answer is not a JSON object")
        answer_tool = (
            answer_tool_name(request.response_schema)
            if request.response_schema is not None
            else None
        )
        return message_result(payload, response.status_code, answer_tool=answer_tool)
