"""The shared HTTP client every provider adapter uses.

Adapters speak the httpx API only; underneath, requests go through one aiohttp session.
Measured on a 2-core machine: httpx's own async pool spent 3.5 ms of CPU per request at
concurrency 64 and took 32 s for 2,000 requests of 100 ms latency at concurrency 200 (it
rescans every pooled connection per request). The ``httpx-aiohttp`` package's transport
brought that to ~0.35 ms; this module's transport and client, which skip what mediamix
never uses (auth flows, redirect handling, cookies, per-request proxy lookups in threads)
and read a non-streamed body in one aiohttp call, bring it to ~0.21 ms
(tests/benchmarks/test_transport_bench.py).

One client per run, shared by all concurrent calls: connection reuse is the point.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

import aiohttp
import httpx
import yarl

from runner.proxies import EnvironmentProxies

USER_AGENT = "mediamix/0.1"

#: Idle keep-alive connections are closed after this long.
KEEPALIVE_EXPIRY_S = 30.0

#: Request extension set by :meth:`MediamixClient.send`: True when the caller wants the
#: whole body read before ``send`` returns (httpx's ``stream=False``).
READ_BODY = "mediamix.read_body"

#: Streamed bodies are handed over in chunks of up to this size.
STREAM_CHUNK_BYTES = 64 << 10

#: What :meth:`MediamixClient.exchange` accepts: the encodings aiohttp decodes itself.
EXCHANGE_ACCEPT_ENCODING = "gzip, deflate"


@dataclass(frozen=True, slots=True)
class Reply:
    """A whole answer read by :meth:`MediamixClient.exchange`."""

    status_code: int
    #: Case-insensitive, as in httpx (``reply.headers.get("retry-after")``).
    headers: Mapping[str, str]
    #: The body, decompressed; for a non-2xx answer at most the ``error_body_cap`` asked.
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300


class MediamixClient(httpx.AsyncClient):
    """``httpx.AsyncClient`` whose ``send`` goes straight to the aiohttp transport.

    httpx's ``send`` wraps every request in an auth flow, a redirect loop, cookie
    extraction and a log line; mediamix uses none of them (vendors authenticate by header,
    redirects are never followed, cookies are never kept), and together they cost about a
    third of a request's client CPU. Passing ``auth`` or ``follow_redirects=True`` is an
    error rather than silently ignored.
    """

    def __init__(self, transport: AiohttpTransport, **kwargs: Any) -> None:
        # trust_env=False: proxies come from the environment in the transport (no httpx
        # mounts with httpx's own slow transport), and no .netrc credentials are sent.
        super().__init__(transport=transport, trust_env=False, **kwargs)
        self._aiohttp = transport

    def build_request(  # type: ignore[override]
        self,
        method: str,
        url: httpx.URL | str,
        *,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        cookies: Any = None,
        timeout: Any = httpx.USE_CLIENT_DEFAULT,
        extensions: dict[str, Any] | None = None,
        **body: Any,
    ) -> httpx.Request:
        """httpx's ``build_request``, with a fast path for what adapters send thousands of
        times: an absolute URL, plain headers, a JSON or bytes body (or none)."""
        if params or cookies or self.params or not isinstance(headers, Mapping | None):
            return super().build_request(
                method,
                url,
                params=params,
                headers=headers,
                cookies=cookies,
                timeout=timeout,
                extensions=extensions,
                **body,
            )
        target = url if isinstance(url, httpx.URL) else _httpx_url(url)
        if target.is_relative_url:
            target = self._merge_url(target)
        merged = {name.lower(): (name, value) for name, value in self.headers.items()}
        for name, value in (headers or {}).items():
            merged[name.lower()] = (name, value)
        extensions = dict(extensions or {})
        if "timeout" not in extensions:
            chosen = self.timeout if timeout is httpx.USE_CLIENT_DEFAULT else httpx.Timeout(timeout)
            extensions["timeout"] = chosen.as_dict()
        return httpx.Request(
            method, target, headers=list(merged.values()), extensions=extensions, **body
        )

    async def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: httpx._types.AuthTypes | httpx._client.UseClientDefault | None = (
            httpx.USE_CLIENT_DEFAULT
        ),
        follow_redirects: bool | httpx._client.UseClientDefault = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        if auth not in (httpx.USE_CLIENT_DEFAULT, None) or follow_redirects is True:
            raise NotImplementedError("mediamix's HTTP client does no auth flows or redirects")
        request.extensions.setdefault("timeout", self.timeout.as_dict())
        request.extensions[READ_BODY] = not stream
        started = time.perf_counter()
        response = await self._aiohttp.handle_async_request(request)
        response.default_encoding = "utf-8"
        if not stream:  # a streamed body is still arriving: no elapsed time yet
            response.elapsed = timedelta(seconds=time.perf_counter() - started)
        return response

    async def exchange(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        content: bytes | None = None,
        timeout: float,
        error_body_cap: int,
    ) -> Reply:
        """One request whose answer is read whole, without httpx's Request and Response.

        Building and reading those two objects was about a tenth of an engine job's CPU,
        and a JSON API call needs neither: this sends the client's headers, then
        ``headers``, with ``content`` as the body, and returns the status, headers and
        body (decompressed; a non-2xx body cut at ``error_body_cap`` bytes). ``timeout``
        bounds the whole exchange: the caller's deadline, in one timer (per-phase
        timeouts would start two or three per request). Failures raise the same
        ``httpx.TransportError`` subclasses as :meth:`send`.
        """
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        merged = {name.lower(): (name, value) for name, value in self.headers.items()}
        for name, value in headers.items():
            merged[name.lower()] = (name, value)
        # aiohttp sets Host and keeps connections alive; it decodes what this accepts.
        merged.pop("host", None)
        merged.pop("connection", None)
        merged["accept-encoding"] = ("Accept-Encoding", EXCHANGE_ACCEPT_ENCODING)
        return await self._aiohttp.exchange(
            method,
            url,
            list(merged.values()),
            content,
            aiohttp.ClientTimeout(total=timeout),
            error_body_cap,
        )


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport on one ``aiohttp.ClientSession`` (created on first use, in the
    running event loop).

    aiohttp errors become the matching ``httpx.TransportError`` subclasses, so callers
    handle one family of exceptions whatever sits underneath.
    """

    def __init__(
        self,
        *,
        max_connections: int,
        keepalive_expiry: float = KEEPALIVE_EXPIRY_S,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.max_connections = max_connections
        self.keepalive_expiry = keepalive_expiry
        self._ssl = ssl_context
        self._session: aiohttp.ClientSession | None = None
        self._proxies = EnvironmentProxies()

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The aiohttp session, once a request has opened it."""
        return self._session

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self.max_connections,
            limit_per_host=0,
            keepalive_timeout=self.keepalive_expiry,
            ssl=self._ssl or default_ssl_context(),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            # httpx decodes gzip & co. itself (the Accept-Encoding it sends is its own).
            auto_decompress=False,
            # Every header comes from the httpx request; aiohttp adds none of its own.
            skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent"),
        )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        url = request.url
        # A multipart upload is a stream in httpx; it is read whole so that it goes out
        # with its exact Content-Length (some vendors refuse chunked uploads).
        body = await request.aread() or None
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        proxy = self._proxies.for_url(url.scheme, url.host)
        if proxy is not None and url.scheme == "http":
            # A plain-HTTP request goes to the proxy as is: its credentials ride along.
            headers.extend(proxy.headers.items())
        try:
            response = await session.request(
                request.method,
                _yarl_url(str(url)),
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=_client_timeout(request.extensions.get("timeout")),
                proxy=proxy.url if proxy else None,
                # An HTTPS request tunnels through CONNECT, which carries the credentials.
                proxy_headers=proxy.headers if proxy else None,
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _httpx_error(exc, request) from exc
        if not request.extensions.get(READ_BODY):
            return httpx.Response(
                response.status,
                headers=response.raw_headers,
                stream=_ResponseStream(response, request),
                request=request,
                extensions={"http_version": b"HTTP/1.1"},
            )
        try:
            content = await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _httpx_error(exc, request) from exc
        finally:
            response.release()  # a body cut off mid-way closes the socket instead
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            content=content,
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def exchange(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        timeout: aiohttp.ClientTimeout,
        error_body_cap: int,
    ) -> Reply:
        """See :meth:`MediamixClient.exchange`."""
        session = self._session or self._open()
        target = _yarl_url(url)
        proxy = self._proxies.for_url(target.scheme, target.host or "")
        if proxy is not None and target.scheme == "http":
            headers = [*headers, *proxy.headers.items()]
        try:
            response = await session.request(
                method,
                target,
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=timeout,
                proxy=proxy.url if proxy else None,
                proxy_headers=proxy.headers if proxy else None,
                auto_decompress=True,
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _httpx_error(exc, None) from exc
        try:
            if 200 <= response.status < 300:
                content = await response.read()
            else:
                content = await _read_up_to(response, error_body_cap)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _httpx_error(exc, None) from exc
        finally:
            response.release()  # a body not read to its end closes the socket instead
        return Reply(response.status, response.headers, content)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _read_up_to(response: aiohttp.ClientResponse, cap: int) -> bytes:
    """The body, or its first ``cap`` bytes (``read(n)`` alone returns only what has
    arrived so far; an error answer cut short would lose its message and its socket)."""
    chunks: list[bytes] = []
    size = 0
    while size < cap and (chunk := await response.content.read(cap - size)):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(STREAM_CHUNK_BYTES):
                yield chunk
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _httpx_error(exc, self._request) from exc

    async def aclose(self) -> None:
        # Back to the pool when the body was read to the end; otherwise the socket closes.
        self._response.release()


@lru_cache(maxsize=1)
def default_ssl_context() -> ssl.SSLContext:
    """httpx's verifying context (certifi's roots; SSL_CERT_FILE / SSL_CERT_DIR honoured),
    built once per process: loading the roots takes tens of milliseconds, and a batch or
    ``mediamix serve`` opens many clients."""
    return httpx.create_ssl_context()


@lru_cache(maxsize=1024)
def _httpx_url(url: str) -> httpx.URL:
    # A batch calls the same few endpoints thousands of times; httpx's parse is not cheap.
    return httpx.URL(url)


@lru_cache(maxsize=1024)
def _yarl_url(url: str) -> yarl.URL:
    # httpx has already percent-encoded the URL; parse it once per endpoint.
    return yarl.URL(url, encoded=True)


def _client_timeout(timeout: dict[str, float | None] | None) -> aiohttp.ClientTimeout:
    """httpx's timeouts in aiohttp's terms; aiohttp's ``connect`` covers waiting for a
    pooled connection plus connecting."""
    timeout = timeout or {}
    return aiohttp.ClientTimeout(
        total=None,
        sock_connect=timeout.get("connect"),
        sock_read=timeout.get("read"),
        connect=timeout.get("pool"),
    )


def _httpx_error(exc: BaseException, request: httpx.Request | None) -> httpx.TransportError:
    """The httpx exception a caller of httpx would expect for this aiohttp failure."""
    message = str(exc) or type(exc).__name__
    error: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        error = httpx.ConnectTimeout
    elif isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
        error = httpx.ReadTimeout
    elif isinstance(exc, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        error = httpx.ProxyError
    elif isinstance(exc, aiohttp.InvalidURL):
        error = httpx.UnsupportedProtocol
    elif isinstance(exc, aiohttp.ClientConnectorError):
        error = httpx.ConnectError
    elif isinstance(exc, aiohttp.ServerDisconnectedError):
        message = f"the server disconnected without a complete answer ({message})"
        error = httpx.RemoteProtocolError
    elif isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        error = httpx.RemoteProtocolError
    else:
        error = httpx.ReadError
    return error(message, request=request)


def make_client(*, max_connections: int = 256, timeout: float = 120.0) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` on the aiohttp transport.

    ``max_connections`` becomes the aiohttp connector's total limit (no per-host limit),
    so that many requests can be in flight to one vendor before any queue for a socket;
    provider limits (rpm, max_concurrency) are enforced by the engine, not here.
    ``timeout`` applies to connecting (including waiting for a free connection) and to
    each socket read. Timeouts and connection failures surface as
    ``httpx.TransportError`` subclasses.

    Redirects are not followed: an API that redirects is misconfigured, and following
    one could carry the auth header to another host.
    """
    transport = AiohttpTransport(max_connections=max_connections)
    return MediamixClient(
        transport,
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )


@asynccontextmanager
async def shared_client(
    *, max_connections: int = 256, timeout: float = 120.0
) -> AsyncIterator[httpx.AsyncClient]:
    """``async with shared_client() as http:`` — a :func:`make_client` closed on exit."""
    client = make_client(max_connections=max_connections, timeout=timeout)
    async with client:
        yield client
