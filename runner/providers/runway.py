"""Runway API: video from text or from an image, as a long-running task.

``POST /v1/image_to_video`` when the request has an image input (``promptImage``: its
public https URL when it has one, else a ``data:`` URI), else ``POST /v1/text_to_video``
-> ``{id}`` -> ``GET /v1/tasks/{id}`` until it leaves PENDING / THROTTLED / RUNNING ->
download ``output[0]`` (a signed link: no auth header goes there).

Every call carries ``X-Runway-Version: 2024-11-06``; bodies are camelCase.

A FAILED task is classified by its ``failureCode`` (docs.dev.runwayml.com task failures):
``SAFETY.*`` is content moderation (PermanentError ``content_policy``, never retry),
``INTERNAL.*`` is Runway's side (TransientError: asking again may work), anything else
is a PermanentError carrying the code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from runner.errors import ArtifactInvalid, PermanentError, ProviderError, TransientError
from runner.providers._vendor_util import (
    data_uri,
    first_image_input,
    int_param,
    reject_empty_stream,
)
from runner.providers.base import CallContext, GenerationRequest, GenerationResult, Usage
from runner.providers.http_common import (
    Deadline,
    api_key,
    base_url,
    check_media_type,
    decode_json,
    exchange_json,
    iter_body,
    poll_until_done,
    require_client,
    response_mime,
    send,
)

VENDOR = "Runway"
API_VERSION = "2024-11-06"
DEFAULT_RATIO = "1280:720"
DEFAULT_DURATION_S = 5
#: Task statuses that mean "ask again later".
RUNNING = frozenset({"PENDING", "THROTTLED", "RUNNING"})
#: ``params`` key -> body field (besides ratio and duration).
PASSTHROUGH_PARAMS = {
    "seed": "seed",
    "negative_prompt": "negativePrompt",
    "content_moderation": "contentModeration",
}


def task_failure(task_id: str, task: Mapping[str, Any]) -> ProviderError:
    status = task.get("status")
    if status == "CANCELLED":
        return PermanentError(f"{VENDOR}: task {task_id} was cancelled", code="cancelled")
    if status != "FAILED":
        return TransientError(f"{VENDOR}: task {task_id} ended in unknown status {status!r}")
    code = str(task.get("failureCode") or "")
    text = f"{VENDOR}: task {task_id} failed ({code or 'no code'}): {task.get('failure') or ''}"
    if code.startswith("SAFETY"):
        return PermanentError(text[:600], code="content_policy")
    if code.startswith("INTERNAL"):
        return TransientError(text[:600], code=code)
    return PermanentError(text[:600], code=code or "task_failed")


class RunwayProvider:
    name: ClassVar[str] = "runway"
    media_types: ClassVar[frozenset[str]] = frozenset({"video"})
    needs_key: ClassVar[bool] = True
    uses_http: ClassVar[bool] = True
    default_base_url: ClassVar[str | None] = "https://api.dev.runwayml.com"

    async def generate(self, request: GenerationRequest, ctx: CallContext) -> GenerationResult:
        check_media_type(request, self.media_types, VENDOR)
        deadline = Deadline(request.timeout)
        task_id = request.resume_task_id
        if task_id is None:
            task_id = await self._create(request, ctx, deadline)
            ctx.on_task_created(task_id)
        created = task_id

        async def fetch() -> dict[str, Any]:
            return await self._call(ctx, "GET", f"v1/tasks/{created}", deadline)

        task = await poll_until_done(
            fetch,
            lambda polled: polled.get("status") not in RUNNING,
            ctx=ctx,
            deadline=deadline,
            vendor=VENDOR,
            task_id=created,
            # DELETE cancels a pending or running task (and deletes a finished one).
            cancel=lambda: self._cancel(ctx, created),
        )
        if task.get("status") != "SUCCEEDED":
            raise task_failure(created, task)
        output = task.get("output")
        if not isinstance(output, list) or not output or not isinstance(output[0], str):
            raise ArtifactInvalid(f"{VENDOR}: task {created} succeeded without an output URL")
        return await self._download(ctx, output[0], deadline, created, request)

    async def _call(
        self,
        ctx: CallContext,
        method: str,
        path: str,
        deadline: Deadline,
        *,
        json: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        key = api_key(ctx, VENDOR)
        # Runway's statuses mean what the generic mapping says (400 bad input, 401 bad
        # key, 429 rate limit, 502/503/504 shedding load).
        response = await exchange_json(
            require_client(ctx, VENDOR),
            method,
            f"{base_url(ctx, self.default_base_url or '', VENDOR)}/{path}",
            headers={
                "Authorization": f"Bearer {key}",
                "X-Runway-Version": str(ctx.options.get("runway_version", API_VERSION)),
                "Accept": "application/json",
            },
            json_body=json,
            deadline=deadline,
            vendor=VENDOR,
            secrets=[key],
        )
        payload = decode_json(response, vendor=VENDOR)
        if not isinstance(payload, dict):
            raise ArtifactInvalid(f"{VENDOR}: {path} answered with a non-object JSON body")
        return payload

    async def _cancel(self, ctx: CallContext, task_id: str) -> None:
        """``DELETE /v1/tasks/{id}``: cancels a pending or running task (204, no body)."""
        key = api_key(ctx, VENDOR)
        client = require_client(ctx, VENDOR)
        http_request = client.build_request(
            "DELETE",
            f"{base_url(ctx, self.default_base_url or '', VENDOR)}/v1/tasks/{task_id}",
            headers={
                "Authorization": f"Bearer {key}",
                "X-Runway-Version": str(ctx.options.get("runway_version", API_VERSION)),
            },
            timeout=10.0,
        )
        await send(client, http_request, vendor=VENDOR, secrets=[key])

    async def _create(
        self, request: GenerationRequest, ctx: CallContext, deadline: Deadline
    ) -> str:
        params = request.params
        body: dict[str, Any] = {
            "model": request.model,
            "promptText": request.prompt,
            "ratio": str(params.get("ratio", DEFAULT_RATIO)),
            "duration": int_param(params, "duration", DEFAULT_DURATION_S, VENDOR),
        }
        body.update(
            {field: params[key] for key, field in PASSTHROUGH_PARAMS.items() if key in params}
        )
        prompt_image = await self._prompt_image(request, ctx, deadline)
        if prompt_image is not None:
            body["promptImage"] = prompt_image
        operation = "v1/image_to_video" if prompt_image is not None else "v1/text_to_video"
        created = await self._call(ctx, "POST", operation, deadline, json=body)
        if not created.get("id"):
            raise TransientError(f"{VENDOR}: the task create answer has no id")
        return str(created["id"])

    async def _prompt_image(
        self, request: GenerationRequest, ctx: CallContext, deadline: Deadline
    ) -> str | None:
        """A public https URL Runway can fetch itself, else the image inlined as a data URI."""
        for asset in request.inputs:
            if asset.media_type == "image" and asset.url and asset.url.startswith("https://"):
                return asset.url
        image = await first_image_input(request, ctx, deadline, VENDOR)
        return data_uri(*image) if image is not None else None

    async def _download(
        self,
        ctx: CallContext,
        url: str,
        deadline: Deadline,
        task_id: str,
        request: GenerationRequest,
    ) -> GenerationResult:
        client = require_client(ctx, VENDOR)
        http_request = client.build_request("GET", url, timeout=deadline.http_timeout())
        response: httpx.Response = await send(
            client, http_request, vendor=VENDOR, secrets=[ctx.api_key], stream=True
        )
        await reject_empty_stream(response, VENDOR, "video download")
        mime = response_mime(response)
        return GenerationResult(
            media_type="video",
            mime=mime if mime and mime.startswith("video/") else "video/mp4",
            stream=iter_body(response, vendor=VENDOR, secrets=[ctx.api_key]),
            usage=Usage(
                seconds=float(int_param(request.params, "duration", DEFAULT_DURATION_S, VENDOR))
            ),
            task_id=task_id,
            http_status=response.status_code,
        )
