"""What the Anthropic, Gemini, Cohere, ElevenLabs, Stability and Runway adapters share on
top of :mod:`runner.providers.http_common`: param checks, error answers a vendor classifies
from its own body, task polling, and image inputs as bytes.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from runner.errors import (
    ArtifactInvalid,
    PermanentError,
    ProviderError,
)
from runner.providers.base import CallContext, GenerationRequest
from runner.providers.http_common import (
    Deadline,
    ErrorDetail,
    exchange_json,
    parse_error_body,
    require_client,
    send,
)

if TYPE_CHECKING:
    from runner.transport import Reply

#: Turns the generic classification of an error answer into the vendor's own, given the
#: answer's JSON body (None when it was not JSON). Returns the error unchanged when the
#: generic reading is right.
Reclassify = Callable[[ProviderError, Any], ProviderError]


def int_param(params: Mapping[str, Any], name: str, default: int, vendor: str) -> int:
    """``params[name]`` as an int (``default`` when absent); anything else is a bad preset."""
    value = params.get(name, default)
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise TypeError(type(value).__name__)
        return int(value)
    except (TypeError, ValueError) as exc:
        raise PermanentError(
            f"{vendor}: params.{name} must be a whole number, not {value!r}",
            code="invalid_params",
        ) from exc


def with_class(
    error: ProviderError,
    cls: type[ProviderError],
    *,
    code: str | None = None,
    retry_after: float | None = None,
) -> ProviderError:
    """``error``'s message and status under another class (and code / retry hint)."""
    return cls(
        error.message,
        http_status=error.http_status,
        retry_after=retry_after if retry_after is not None else error.retry_after,
        code=code if code is not None else error.code,
    )


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


async def send_classified(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    vendor: str,
    secrets: Iterable[str | None],
    reclassify: Reclassify,
    stream: bool = False,
) -> httpx.Response:
    """:func:`http_common.send`, with the vendor's say on how an error answer is classified.

    The generic status mapping is right for most answers; where a vendor's body says more
    (Gemini's 400 for a bad key, Anthropic's spend-limit 429, Stability's moderation 403),
    ``reclassify`` corrects it. The error body is captured through ``send``'s parser hook
    so that sending, capping and closing stay in one place.
    """
    with _reclassified(reclassify) as parse:
        return await send(
            client, request, vendor=vendor, secrets=secrets, stream=stream, parse_error=parse
        )


async def exchange_classified(
    client: httpx.AsyncClient,
    url: str,
    *,
    headers: Mapping[str, str],
    json_body: Any,
    deadline: Deadline,
    vendor: str,
    secrets: Iterable[str | None],
    reclassify: Reclassify,
    method: str = "POST",
) -> Reply:
    """:func:`http_common.exchange_json` (a JSON call, answered whole), with the vendor's
    say on how an error answer is classified, as in :func:`send_classified`."""
    with _reclassified(reclassify) as parse:
        return await exchange_json(
            client,
            method,
            url,
            headers=headers,
            json_body=json_body,
            deadline=deadline,
            vendor=vendor,
            secrets=secrets,
            parse_error=parse,
        )


@contextlib.contextmanager
def _reclassified(reclassify: Reclassify) -> Iterator[Callable[[bytes], ErrorDetail]]:
    """An error-body parser that keeps the body, and the vendor's correction of the
    ProviderError raised inside the block."""
    captured: list[bytes] = []

    def parse(body: bytes) -> ErrorDetail:
        captured.append(body)
        return parse_error_body(body)

    try:
        yield parse
    except ProviderError as exc:
        if not captured:
            raise  # a transport failure: nothing for the vendor to add
        corrected = reclassify(exc, _json_or_none(captured[0]))
        if corrected is exc:
            raise
        raise corrected from exc


async def reject_empty_stream(response: httpx.Response, vendor: str, what: str) -> None:
    """Fail fast on a streamed answer that announces an empty body (``Content-Length: 0``).

    Chunked answers cannot be judged before they are read; artifact validation catches
    those.
    """
    if response.headers.get("content-length", "").strip() == "0":
        await response.aclose()
        raise ArtifactInvalid(f"{vendor}: the {what} answer is empty")


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (vendors omit or null fields)."""
    return value if isinstance(value, dict) else {}


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


async def first_image_input(
    request: GenerationRequest, ctx: CallContext, deadline: Deadline, vendor: str
) -> tuple[bytes, str] | None:
    """The bytes and MIME type of the request's first image input, or None when it has none.

    A local file is read; an artifact only known by its http(s) URL (a public bucket) is
    fetched without credentials.
    """
    for asset in request.inputs:
        if asset.media_type != "image":
            continue
        if asset.path is not None:
            try:
                return asset.read_bytes(), asset.mime
            except OSError as exc:
                raise PermanentError(
                    f"{vendor}: cannot read the input image from step {asset.step!r}: "
                    f"{exc.strerror or exc}",
                    code="input_unreadable",
                ) from exc
        if asset.url and asset.url.startswith(("http://", "https://")):
            client = require_client(ctx, vendor)
            fetch = client.build_request("GET", asset.url, timeout=deadline.http_timeout())
            response = await send(client, fetch, vendor=vendor, secrets=[ctx.api_key])
            mime = response.headers.get("content-type", asset.mime).split(";", 1)[0].strip()
            return response.content, mime or asset.mime
        raise PermanentError(
            f"{vendor}: the input image from step {asset.step!r} has no local file or URL",
            code="input_unreadable",
        )
    return None
