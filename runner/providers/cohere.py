"""Cohere Chat v2 (``POST /v2/chat``): text only.

Cohere's own statuses beyond the generic mapping: 498 (invalid token) is a bad key, 499
(request cancelled) is worth retrying. ``finish_reason`` ERROR or TIMEOUT on a 200 is a
failed generation that a retry may fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from runner.errors import (
    ArtifactInvalid,
    CredentialsError,
    ProviderError,
    TransientError,
)
from runner.providers._vendor_util import (
    as_dict,
    exchange_classified,
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

VENDOR = "Cohere"
PASSTHROUGH_PARAMS = (
    "max_tokens",
    "temperature",
    "seed",
    "stop_sequences",
    "frequency_penalty",
    "presence_penalty",
    "k",
    "p",
    "safety_mode",
    "response_format",
)
#: ``finish_reason`` values meaning the generation itself failed.
FAILED_FINISH = frozenset({"ERROR", "TIMEOUT"})


def chat_body(request: GenerationRequest) -> dict[str, Any]:
    params = request.params
    messages: list[dict[str, Any]] = []
    if params.get("system"):
        messages.append({"role": "system", "content": str(params["system"])})
    texts = [asset.text for asset in request.inputs if asset.text]
    messages.append({"role": "user", "content": "\n\n".join([*texts, request.prompt])})
    body: dict[str, Any] = {"model": request.model, "messages": messages, "stream": False}
    body.update({name: params[name] for name in PASSTHROUGH_PARAMS if name in params})
    if request.response_schema is not None:
        schema = {k: v for k, v in request.response_schema.items() if k != "title"}
        body["response_format"] = {"type": "json_object", "json_schema": schema}
    return body


def reclassify_error(error: ProviderError, payload: Any) -> ProviderError:
    if error.http_status == 498:
        return with_class(error, CredentialsError, code="invalid_token")
    if error.http_status == 499:
        return with_class(error, TransientError, code="request_cancelled")
    return error


def _usage(payload: Mapping[str, Any]) -> Usage:
    usage = as_dict(payload.get("usage"))
    # ``tokens`` counts what the model saw and wrote; ``billed_units`` what was charged.
    counts = as_dict(usage.get("tokens")) or as_dict(usage.get("billed_units"))
    # As sent: Usage keeps sane counts and drops (and reports) anything else.
    return Usage(input_tokens=counts.get("input_tokens"), output_tokens=counts.get("output_tokens"))


def chat_result(payload: Mapping[str, Any], status: int) -> GenerationResult:
    finish = payload.get("finish_reason")
    if finish in FAILED_FINISH:
        raise TransientError(
            f"{VENDOR}: generation ended with finish_reason {finish}",
            http_status=status,
            code=str(finish).lower(),
        )
    content = as_dict(payload.get("message")).get("content")
    text = "".join(
        str(part.get("text") or "")
        for part in (content if isinstance(content, list) else [])
        if isinstance(part, dict) and part.get("type") == "text"
    )
    if not text.strip():
        raise ArtifactInvalid(f"{VENDOR}: the answer has no text (finish_reason {finish})")
    return GenerationResult(
        media_type="text",
        mime="text/plain",
        text=text,
        usage=_usage(payload),
        task_id=payload.get("id"),
        metadata={"finish_reason": finish},
        http_status=status,
    )


class CohereProvider:
    name: ClassVar[str] = "cohere"
    media_types: ClassVar[frozenset[str]] = frozenset({"text"})
    needs_key: ClassVar[bool] = True
    uses_http: ClassVar[bool] = True
    default_base_url: ClassVar[str | None] = "https://api.cohere.com"

    async def generate(self, request: GenerationRequest, ctx: CallContext) -> GenerationResult:
        check_media_type(request, self.media_types, VENDOR)
        key = api_key(ctx, VENDOR)
        client = require_client(ctx, VENDOR)
        deadline = Deadline(request.timeout)
        headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
        if ctx.options.get("client_name"):
            headers["X-Client-Name"] = str(ctx.options["client_name"])
        response = await exchange_classified(
            client,
            f"{base_url(ctx, self.default_base_url or '', VENDOR)}/v2/chat",
            json_body=chat_body(request),
            headers=headers,
            deadline=deadline,
            vendor=VENDOR,
            secrets=[key],
            reclassify=reclassify_error,
        )
        payload = decode_json(response, vendor=VENDOR)
        if not isinstance(payload, dict):
            raise ArtifactInvalid(f"{VENDOR}: the answer is not a JSON object")
        return chat_result(payload, response.status_code)
