"""Shared pieces of the HTTP adapters: sending, error mapping, bodies, streams and polling.

Every foreign exception (httpx, JSON, base64) stops here and leaves as a
:mod:`runner.errors` class. Error messages carry the vendor, the HTTP status, the vendor's
error type/code and message, and never the API key, the auth headers or the URL's query.

Status mapping (see providers.md): 401/403 -> credentials; 402 and quota 429s -> credentials
("insufficient_quota": the account cannot be used); other 429 -> rate limited; 529 ->
rate limited ("overloaded"); 408/409/5xx -> transient; other 4xx -> permanent, with code
"content_policy" when the vendor says the prompt or output was blocked.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import json
import math
import time
from base64 import b64decode
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import orjson

from runner.errors import (
    REDACTOR,
    CredentialsError,
    PermanentError,
    ProviderError,
    RateLimitedError,
    TransientError,
    UnavailableError,
)
from runner.providers.base import CallContext, GenerationRequest

if TYPE_CHECKING:
    from runner.transport import Reply

T = TypeVar("T")

#: Vendor error codes/types meaning "blocked by a safety system", across vendors.
CONTENT_POLICY_CODES = frozenset(
    {
        "content_policy_violation",
        "content_filter",
        "moderation_blocked",
        "responsibleaipolicyviolation",
        "content_filtered",
        "safety",
        "prohibited_content",
    }
)

#: Codes meaning "this account has no money or quota left": retrying cannot help.
QUOTA_CODES = frozenset(
    {
        "insufficient_quota",
        "billing_hard_limit_reached",
        "credit_balance_exhausted",
        "project_spend_limit_exceeded",
        "payment_required",
        "quota_exceeded",
    }
)

#: Longest piece of a vendor's error message kept in ours.
MAX_MESSAGE_CHARS = 500
#: Error bodies larger than this are not read whole.
MAX_ERROR_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class ErrorDetail:
    """What a vendor's error body says, whatever its shape."""

    message: str = ""
    type: str | None = None
    code: str | None = None


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _code(value: Any) -> str | None:
    """A vendor error code; numeric ones (vLLM's int, Azure's "429") only repeat the status."""
    text = _text(value)
    return None if text is None or text.isdigit() else text


def error_detail_from_json(payload: Any) -> ErrorDetail:
    """Read the error shapes of the vendors we speak.

    OpenAI/Azure/Gemini/vLLM ``{"error": {message, type|status, code}}``; flat vLLM
    ``{"object": "error", message, type, code: int}``; Anthropic ``{"type": "error",
    "error": {type, message}}``; Cohere ``{"message"}``; ElevenLabs ``{"detail": {status,
    message}}`` or ``{"detail": [{msg, type}]}``; Stability ``{"name", "errors": [...]}``.
    """
    if not isinstance(payload, dict):
        return ErrorDetail(message=_text(payload) or "")
    inner = payload.get("error")
    if isinstance(inner, dict):
        nested = inner.get("innererror")
        code = _code(inner.get("code"))
        if isinstance(nested, dict):
            # Azure's content filter: code "content_filter", innererror names the policy.
            code = code or _code(nested.get("code"))
        return ErrorDetail(
            message=_text(inner.get("message")) or "",
            type=_text(inner.get("type")) or _text(inner.get("status")),
            code=code,
        )
    if isinstance(inner, str):
        return ErrorDetail(message=inner, type=_text(payload.get("type")))
    detail = payload.get("detail")
    if isinstance(detail, dict):
        return ErrorDetail(
            message=_text(detail.get("message")) or "",
            code=_text(detail.get("status")) or _text(detail.get("code")),
        )
    if isinstance(detail, list) and detail:
        first = detail[0] if isinstance(detail[0], dict) else {}
        location = ".".join(str(part) for part in first.get("loc", []))
        message = _text(first.get("msg")) or str(detail[0])
        return ErrorDetail(
            message=f"{location}: {message}" if location else message,
            type=_text(first.get("type")),
        )
    if isinstance(detail, str):
        return ErrorDetail(message=detail)
    errors = payload.get("errors")
    if isinstance(errors, list) and errors:
        return ErrorDetail(
            message="; ".join(str(e) for e in errors), code=_text(payload.get("name"))
        )
    return ErrorDetail(
        message=_text(payload.get("message")) or "",
        type=_text(payload.get("type")),
        code=_code(payload.get("code")),
    )


def parse_error_body(body: bytes) -> ErrorDetail:
    """The error detail of a non-2xx body; a non-JSON body becomes its first line of text."""
    try:
        return error_detail_from_json(json.loads(body))
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return ErrorDetail(message=text.splitlines()[0] if text else "")


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` / ``x-ms-retry-after-ms`` or ``Retry-After``.

    ``Retry-After`` may be seconds or an HTTP-date; a date in the past means 0.
    Unparseable values count as absent.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        raw = lowered.get(name)
        if raw is not None:
            try:
                millis = float(raw)
            except ValueError:
                continue
            if math.isfinite(millis) and millis >= 0:
                return millis / 1000.0
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        current = time.time() if now is None else now
        return max(0.0, when.timestamp() - current)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def clean(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every known secret blanked out."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[REDACTED]")
    return REDACTOR.redact(text)


def is_content_policy(detail: ErrorDetail) -> bool:
    return any(
        (value or "").lower() in CONTENT_POLICY_CODES for value in (detail.code, detail.type)
    )


def error_for_status(
    vendor: str,
    status: int,
    detail: ErrorDetail,
    headers: Mapping[str, str],
    *,
    secrets: Iterable[str | None] = (),
) -> ProviderError:
    """The classified error for a non-2xx answer."""
    label = "/".join(part for part in (detail.type, detail.code) if part)
    message = detail.message[:MAX_MESSAGE_CHARS]
    text = clean(
        f"{vendor}: HTTP {status}"
        + (f" {label}" if label else "")
        + (f": {message}" if message else ""),
        secrets,
    )
    code = detail.code or detail.type
    codes = {(detail.code or "").lower(), (detail.type or "").lower()}
    retry_after = parse_retry_after(headers)
    if status in (401, 403):
        return CredentialsError(text, http_status=status, code=code)
    if status == 402 or codes & QUOTA_CODES:
        return CredentialsError(text, http_status=status, code="insufficient_quota")
    if status == 429:
        return RateLimitedError(text, http_status=status, retry_after=retry_after, code=code)
    if status == 529:
        return RateLimitedError(
            text, http_status=status, retry_after=retry_after, code="overloaded"
        )
    if status in (408, 409) or status >= 500:
        return TransientError(text, http_status=status, retry_after=retry_after, code=code)
    if is_content_policy(detail):
        return PermanentError(text, http_status=status, code="content_policy")
    return PermanentError(text, http_status=status, code=code)


def transport_error(
    vendor: str, exc: httpx.HTTPError, *, secrets: Iterable[str | None] = ()
) -> ProviderError:
    """A failure below HTTP (timeout, reset, truncated body) as one of our errors."""
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return PermanentError(clean(f"{vendor}: bad base_url: {exc}", secrets), code="bad_url")
    if isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout):
        what = "timed out waiting for the server"
    elif isinstance(exc, httpx.PoolTimeout):
        what = "timed out waiting for a free connection"
    elif isinstance(exc, httpx.ConnectTimeout):
        what = "timed out connecting"
    elif isinstance(exc, httpx.ConnectError):
        what = "could not connect"
    elif isinstance(exc, httpx.ReadError | httpx.RemoteProtocolError):
        what = "the response was cut off"
    else:
        what = "the request failed"
    detail = str(exc)[:MAX_MESSAGE_CHARS]
    text = clean(f"{vendor}: {what} ({type(exc).__name__}: {detail})", secrets)
    return TransientError(text, code="network")


@lru_cache(maxsize=512)
def parsed_url(url: str) -> httpx.URL:
    """Parse each endpoint URL once: httpx's URL parsing is a visible share of a request's
    client CPU, and a batch calls the same few endpoints thousands of times."""
    return httpx.URL(url)


def base_url(ctx: CallContext, default: str, vendor: str) -> str:
    base = ctx.base_url or default
    if not base:
        raise UnavailableError(
            f"{vendor}: account {ctx.account or '?'} has no base_url", code="no_base_url"
        )
    return base.rstrip("/")


def api_key(ctx: CallContext, vendor: str) -> str:
    """The account's key, registered with the redactor before any request carries it."""
    if not ctx.api_key:
        raise UnavailableError(
            f"{vendor}: no API key for account {ctx.account or '?'}", code="no_key"
        )
    REDACTOR.add(ctx.api_key)
    return ctx.api_key


def check_media_type(request: GenerationRequest, media_types: frozenset[str], vendor: str) -> None:
    if request.media_type not in media_types:
        raise PermanentError(
            f"{vendor} does not generate {request.media_type}", code="unsupported_media"
        )


def require_client(ctx: CallContext, vendor: str) -> httpx.AsyncClient:
    if ctx.http is None:
        raise UnavailableError(f"{vendor}: no HTTP client was given to the provider")
    return ctx.http


async def send(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    vendor: str,
    secrets: Iterable[str | None] = (),
    stream: bool = False,
    parse_error: Callable[[bytes], ErrorDetail] = parse_error_body,
) -> httpx.Response:
    """Send ``request``; return the 2xx response or raise the classified error.

    With ``stream=True`` the body is left unread: pass the response to
    :func:`iter_body`, which closes it.
    """
    secrets = tuple(secrets)
    try:
        response = await client.send(request, stream=stream)
    except httpx.HTTPError as exc:
        raise transport_error(vendor, exc, secrets=secrets) from exc
    if response.is_success:
        return response
    try:
        body = await _read_capped(response)
    except httpx.HTTPError as exc:
        raise transport_error(vendor, exc, secrets=secrets) from exc
    finally:
        await response.aclose()
    raise error_for_status(
        vendor, response.status_code, parse_error(body), response.headers, secrets=secrets
    )


#: For what orjson refuses: compact, no NaN, and ASCII, so that a lone surrogate becomes
#: its escape instead of text UTF-8 cannot hold.
_JSON_BODY = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=False)


def encode_json_body(value: Any) -> bytes:
    """``value`` as a request body, compact and UTF-8 as httpx (0.28+) encodes JSON:
    orjson's bytes (a tenth of the json module's cost), or the json module's for what
    orjson refuses (integers beyond 64 bits, lone surrogates). Keys that are not strings
    become their text (a YAML ``logit_bias: {50256: -100}``)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return _JSON_BODY.encode(value).encode()


async def exchange_json(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    json_body: Any = None,
    params: Mapping[str, str] | None = None,
    deadline: Deadline,
    vendor: str,
    secrets: Iterable[str | None] = (),
    parse_error: Callable[[bytes], ErrorDetail] = parse_error_body,
) -> Reply:
    """Send a request with a JSON body (or none); return the 2xx answer read whole, or
    raise the classified error, as :func:`send` does.

    On mediamix's own client this skips httpx's Request and Response objects
    (:meth:`MediamixClient.exchange`): the calls a batch makes thousands of times are
    JSON calls. Any other httpx client takes the ordinary path.
    """
    # Imported here: aiohttp, under the transport, takes a tenth of a second to import,
    # and commands that only validate or plan load the providers too.
    from runner.transport import MediamixClient, Reply

    secrets = tuple(secrets)
    if params:
        url = _with_query(url, tuple(params.items()))
    body = None
    if json_body is not None:
        body = encode_json_body(json_body)
        headers = {**headers, "Content-Type": "application/json"}
    if not isinstance(client, MediamixClient):
        request = client.build_request(
            method, parsed_url(url), headers=headers, content=body, timeout=deadline.http_timeout()
        )
        response = await send(
            client, request, vendor=vendor, secrets=secrets, parse_error=parse_error
        )
        return Reply(response.status_code, response.headers, response.content)
    try:
        reply = await client.exchange(
            method,
            url,
            headers=headers,
            content=body,
            timeout=max(0.001, deadline.remaining()),
            error_body_cap=MAX_ERROR_BODY_BYTES,
        )
    except httpx.HTTPError as exc:
        raise transport_error(vendor, exc, secrets=secrets) from exc
    if not reply.is_success:
        raise error_for_status(
            vendor, reply.status_code, parse_error(reply.content), reply.headers, secrets=secrets
        )
    return reply


@lru_cache(maxsize=512)
def _with_query(url: str, query: tuple[tuple[str, str], ...]) -> str:
    return str(httpx.URL(url, params=query))


async def _read_capped(response: httpx.Response) -> bytes:
    if not response.is_stream_consumed:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= MAX_ERROR_BODY_BYTES:
                break
        return b"".join(chunks)
    return response.content


def decode_json(response: httpx.Response | Reply, *, vendor: str) -> Any:
    """The JSON of a 2xx body; malformed or cut-off JSON is transient (a retry may work)."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        pass  # the json module takes what orjson refuses: NaN, a lone surrogate's escape
    try:
        return json.loads(response.content)
    except ValueError as exc:
        raise TransientError(
            f"{vendor}: HTTP {response.status_code} body is not valid JSON "
            f"({len(response.content)} bytes)",
            http_status=response.status_code,
            code="malformed_body",
        ) from exc


def decode_base64(data: str, *, vendor: str) -> bytes:
    try:
        return b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TransientError(
            f"{vendor}: base64 media in the response is corrupt", code="malformed_body"
        ) from exc


async def iter_body(
    response: httpx.Response, *, vendor: str, secrets: Iterable[str | None] = ()
) -> AsyncIterator[bytes]:
    """Stream a response body; a cut-off stream raises TransientError. Closes the response.

    Consumers must iterate to the end or ``aclose()`` the iterator.
    """
    secrets = tuple(secrets)
    try:
        async for chunk in response.aiter_bytes():
            if chunk:
                yield chunk
    except httpx.HTTPError as exc:
        raise transport_error(vendor, exc, secrets=secrets) from exc
    finally:
        await response.aclose()


def response_mime(response: httpx.Response) -> str | None:
    content_type = response.headers.get("content-type")
    return content_type.split(";", 1)[0].strip().lower() if content_type else None


class Deadline:
    """The end of one attempt's time budget (``GenerationRequest.timeout``)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._ends = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._ends - time.monotonic())

    def http_timeout(self, *, at_least: float = 0.001) -> httpx.Timeout:
        """An httpx timeout that ends no later than the deadline."""
        return httpx.Timeout(max(at_least, self.remaining()))


async def poll_until_done(
    fetch: Callable[[], Awaitable[T]],
    is_done: Callable[[T], bool],
    *,
    ctx: CallContext,
    deadline: Deadline,
    vendor: str,
    task_id: str,
    hint_s: Callable[[T], float | None] | None = None,
    cancel: Callable[[], Awaitable[object]] | None = None,
) -> T:
    """Call ``fetch`` until ``is_done`` says so; sleep between polls with ``ctx.sleep``.

    The pause is ``ctx.poll_interval`` or the server's hint, whichever is longer, cut
    to what is left of the deadline. Past the deadline — between polls, or with the last
    poll cut off by it (its HTTP timeout is what was left) — TransientError("poll_timeout")
    naming the task; the task id stays known (``on_task_created``), so a retry can resume it.

    ``cancel`` stops the task at the vendor; it is called only when the caller is cancelled
    because a person cancelled the job (``ctx.cancel_requested``), never on a shutdown.
    """
    try:
        return await _poll(fetch, is_done, ctx, deadline, vendor, task_id, hint_s)
    except asyncio.CancelledError:
        if cancel is not None and ctx.cancel_requested():
            # Shielded and bounded: the job is going away either way; a vendor that does
            # not answer in time only means the task runs out on its own.
            with contextlib.suppress(Exception):
                await asyncio.shield(asyncio.wait_for(cancel(), timeout=10))
        raise


async def _poll(
    fetch: Callable[[], Awaitable[T]],
    is_done: Callable[[T], bool],
    ctx: CallContext,
    deadline: Deadline,
    vendor: str,
    task_id: str,
    hint_s: Callable[[T], float | None] | None,
) -> T:
    polls = 0
    while True:
        try:
            state = await fetch()
        except TransientError as exc:
            if exc.code == "poll_timeout" or deadline.remaining() > 0:
                raise
            raise TransientError(
                f"{vendor}: task {task_id} not finished after {deadline.seconds:g} s "
                "(the last poll ran out of time)",
                code="poll_timeout",
            ) from exc
        polls += 1
        if is_done(state):
            return state
        remaining = deadline.remaining()
        if remaining <= 0:
            raise TransientError(
                f"{vendor}: task {task_id} not finished after {deadline.seconds:g} s "
                f"({polls} polls)",
                code="poll_timeout",
            )
        hinted = hint_s(state) if hint_s is not None else None
        pause = max(ctx.poll_interval, hinted or 0.0)
        await ctx.sleep(min(pause, remaining))
