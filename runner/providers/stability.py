"""Stability AI REST v2beta: Stable Image (image) and Stable Video Diffusion (video).

Requests are always ``multipart/form-data``; the ``Accept`` header picks raw bytes as the
answer. The model name picks the image endpoint: ``stable-image-ultra`` -> ``ultra``,
``stable-image-core`` -> ``core`` (the bare endpoint names work too), anything else
(``sd3.5-large``, ``sd3.5-medium``, ...) -> ``sd3`` with the name in the ``model`` field.

Video is image-to-video only: it needs an image input (an earlier step's picture).
``POST /v2beta/image-to-video`` -> ``{id}`` -> ``GET .../result/{id}``: 202 while rendering,
200 with the MP4 bytes when done.

Errors beyond the generic status mapping: 403 is Stability's content moderation (the
prompt or image was flagged), not a key problem: PermanentError ``content_policy``. A 200
whose ``finish-reason`` header is ``CONTENT_FILTERED`` is the same (the bytes are a
blurred placeholder).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from runner.errors import ArtifactInvalid, PermanentError, ProviderError, TransientError
from runner.providers._vendor_util import (
    first_image_input,
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
    decode_json,
    iter_body,
    poll_until_done,
    require_client,
    response_mime,
)

VENDOR = "Stability"
#: Model name -> the ``generate/{endpoint}`` it is served by; other names go to ``sd3``.
IMAGE_ENDPOINTS = {
    "stable-image-ultra": "ultra",
    "stable-image-core": "core",
    "ultra": "ultra",
    "core": "core",
}
IMAGE_PARAMS = (
    "aspect_ratio",
    "negative_prompt",
    "seed",
    "style_preset",
    "cfg_scale",
    "output_format",
)
VIDEO_PARAMS = ("seed", "cfg_scale", "motion_bucket_id")
FORMAT_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def image_endpoint(model: str) -> tuple[str, dict[str, str]]:
    """The generate endpoint for ``model`` and the extra form fields it needs."""
    if model in IMAGE_ENDPOINTS:
        return IMAGE_ENDPOINTS[model], {}
    return "sd3", {"model": model}


def _form(fields: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Text fields as multipart parts (no filename): Stability accepts nothing else."""
    return [(name, (None, str(value))) for name, value in fields.items() if value is not None]


def reclassify_error(error: ProviderError, payload: Any) -> ProviderError:
    name = payload.get("name") if isinstance(payload, dict) else None
    if error.http_status == 403 or name == "content_moderation":
        return with_class(error, PermanentError, code="content_policy")
    return error


def _filtered(response: httpx.Response) -> bool:
    return response.headers.get("finish-reason", "").upper() == "CONTENT_FILTERED"


class StabilityProvider:
    name: ClassVar[str] = "stability"
    media_types: ClassVar[frozenset[str]] = frozenset({"image", "video"})
    needs_key: ClassVar[bool] = True
    uses_http: ClassVar[bool] = True
    default_base_url: ClassVar[str | None] = "https://api.stability.ai"

    async def generate(self, request: GenerationRequest, ctx: CallContext) -> GenerationResult:
        check_media_type(request, self.media_types, VENDOR)
        deadline = Deadline(request.timeout)
        if request.media_type == "image":
            return await self._image(request, ctx, deadline)
        return await self._video(request, ctx, deadline)

    async def _send(
        self,
        ctx: CallContext,
        method: str,
        path: str,
        deadline: Deadline,
        *,
        accept: str,
        files: list[tuple[str, Any]] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        key = api_key(ctx, VENDOR)
        client = require_client(ctx, VENDOR)
        http_request = client.build_request(
            method,
            f"{base_url(ctx, self.default_base_url or '', VENDOR)}/{path}",
            files=files,
            headers={"Authorization": f"Bearer {key}", "Accept": accept},
            timeout=deadline.http_timeout(),
        )
        return await send_classified(
            client,
            http_request,
            vendor=VENDOR,
            secrets=[key],
            reclassify=reclassify_error,
            stream=stream,
        )

    # -- image ----------------------------------------------------------------------------

    async def _image(
        self, request: GenerationRequest, ctx: CallContext, deadline: Deadline
    ) -> GenerationResult:
        endpoint, extra = image_endpoint(request.model)
        fields: dict[str, Any] = {"prompt": request.prompt, **extra, "output_format": "png"}
        fields.update({k: request.params[k] for k in IMAGE_PARAMS if k in request.params})
        response = await self._send(
            ctx,
            "POST",
            f"v2beta/stable-image/generate/{endpoint}",
            deadline,
            accept="image/*",
            files=_form(fields),
        )
        if _filtered(response):
            raise PermanentError(
                f"{VENDOR}: the image was content-filtered (finish-reason CONTENT_FILTERED)",
                http_status=response.status_code,
                code="content_policy",
            )
        mime = response_mime(response)
        if mime is not None and not mime.startswith("image/"):
            raise ArtifactInvalid(f"{VENDOR}: the image answer is {mime}, not an image")
        if not response.content:
            raise ArtifactInvalid(f"{VENDOR}: the image answer is empty")
        return GenerationResult(
            media_type="image",
            mime=mime or FORMAT_MIME.get(str(fields["output_format"]), "image/png"),
            data=response.content,
            usage=Usage(images=1),
            metadata={"seed": response.headers.get("seed"), "endpoint": endpoint},
            http_status=response.status_code,
        )

    # -- video ----------------------------------------------------------------------------

    async def _video(
        self, request: GenerationRequest, ctx: CallContext, deadline: Deadline
    ) -> GenerationResult:
        task_id = request.resume_task_id
        if task_id is None:
            task_id = await self._start_video(request, ctx, deadline)
            ctx.on_task_created(task_id)
        generation = task_id

        async def fetch() -> httpx.Response:
            response = await self._send(
                ctx,
                "GET",
                f"v2beta/image-to-video/result/{generation}",
                deadline,
                accept="video/*",
                stream=True,
            )
            if response.status_code != 200:
                await response.aclose()  # 202: still rendering; the body is a status blob
            return response

        done = await poll_until_done(
            fetch,
            lambda response: response.status_code == 200,
            ctx=ctx,
            deadline=deadline,
            vendor=VENDOR,
            task_id=generation,
        )
        if _filtered(done):
            await done.aclose()
            raise PermanentError(
                f"{VENDOR}: video {generation} was content-filtered",
                http_status=done.status_code,
                code="content_policy",
            )
        await reject_empty_stream(done, VENDOR, "video download")
        mime = response_mime(done)
        if mime is not None and not mime.startswith("video/"):
            await done.aclose()
            raise ArtifactInvalid(f"{VENDOR}: video {generation} came back as {mime}")
        return GenerationResult(
            media_type="video",
            mime=mime or "video/mp4",
            stream=iter_body(done, vendor=VENDOR, secrets=[ctx.api_key]),
            # Stability bills a clip per generation, like one image of output.
            usage=Usage(images=1),
            task_id=generation,
            metadata={"seed": done.headers.get("seed")},
            http_status=done.status_code,
        )

    async def _start_video(
        self, request: GenerationRequest, ctx: CallContext, deadline: Deadline
    ) -> str:
        image = await first_image_input(request, ctx, deadline, VENDOR)
        if image is None:
            raise PermanentError(
                f"{VENDOR}: image-to-video needs an image input (an earlier step's picture)",
                code="needs_image",
            )
        data, mime = image
        fields = {k: request.params[k] for k in VIDEO_PARAMS if k in request.params}
        extension = mime.rsplit("/", 1)[-1]
        response = await self._send(
            ctx,
            "POST",
            "v2beta/image-to-video",
            deadline,
            accept="application/json",
            files=[("image", (f"image.{extension}", data, mime)), *_form(fields)],
        )
        created = decode_json(response, vendor=VENDOR)
        if not isinstance(created, dict) or not created.get("id"):
            raise TransientError(f"{VENDOR}: the image-to-video answer has no id")
        return str(created["id"])
