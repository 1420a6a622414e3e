"""JSON calls without httpx's Request and Response objects (``exchange_json``): the same
request on the wire as the ordinary httpx path, and the same answers and errors back."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from typing import Any

import httpx
import pytest

from runner.errors import RateLimitedError, TransientError
from runner.providers.http_common import MAX_ERROR_BODY_BYTES, Deadline, exchange_json
from runner.transport import Reply, shared_client
from tests.fakeprovider import FakeProviderServer
from tests.rawserver import RawServer, raw_reply

BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "héllo ✓"}]}
HEADERS = {"Authorization": "Bearer sk-exchange", "Accept": "application/json"}


async def _call(http: httpx.AsyncClient, url: str, **kwargs: Any) -> Reply:
    return await exchange_json(
        http,
        "POST",
        url,
        headers=HEADERS,
        json_body=BODY,
        deadline=Deadline(5.0),
        vendor="OpenAI",
        secrets=["sk-exchange"],
        **kwargs,
    )


def _head_and_body(sent: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = sent.partition(b"\r\n\r\n")
    request_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return request_line, headers, body


def test_the_fast_path_sends_what_the_httpx_path_sends() -> None:
    """mediamix's own client and a plain httpx client put the same request on the wire:
    line, body bytes and every header but the hop-by-hop ones each library sets."""

    async def scenario() -> tuple[bytes, bytes]:
        async with RawServer(raw_reply(b'{"ok": 1}')) as server:
            async with shared_client() as ours:
                mine = await _call(ours, server.url + "/v1/chat/completions?x=1")
            user_agent = {"User-Agent": ours.headers["user-agent"]}
            async with httpx.AsyncClient(headers=user_agent) as plain:
                theirs = await _call(plain, server.url + "/v1/chat/completions?x=1")
            assert mine.status_code == theirs.status_code == 200
            assert json.loads(mine.content) == json.loads(theirs.content) == {"ok": 1}
            return server.received[0], server.received[1]

    fast, ordinary = asyncio.run(scenario())
    line, headers, body = _head_and_body(fast)
    ref_line, ref_headers, ref_body = _head_and_body(ordinary)
    assert line == ref_line == "POST /v1/chat/completions?x=1 HTTP/1.1"
    assert body == ref_body
    assert json.loads(body) == BODY  # UTF-8, not \\u escapes
    for hop in ("connection", "accept-encoding"):
        headers.pop(hop, None)
        ref_headers.pop(hop, None)
    assert headers == ref_headers
    assert headers["authorization"] == "Bearer sk-exchange"
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("mediamix/")


def test_query_parameters_are_added_to_the_url() -> None:
    async def scenario() -> bytes:
        async with RawServer(raw_reply(b"{}")) as server, shared_client() as http:
            await _call(http, server.url + "/deployments/d/chat", params={"api-version": "2025"})
            return server.received[0]

    line, _, _ = _head_and_body(asyncio.run(scenario()))
    assert line == "POST /deployments/d/chat?api-version=2025 HTTP/1.1"


def test_a_gzip_answer_is_decoded() -> None:
    async def scenario() -> Reply:
        reply = raw_reply(gzip.compress(b'{"ok": true}'), "Content-Encoding: gzip")
        async with RawServer(reply) as server, shared_client() as http:
            return await _call(http, server.url + "/x")

    assert json.loads(asyncio.run(scenario()).content) == {"ok": True}


def test_a_429_is_rate_limited_with_its_retry_after() -> None:
    body = b'{"error": {"message": "slow down", "type": "requests"}}'
    reply = raw_reply(body, "Retry-After: 7", status="429 Too Many Requests")

    async def scenario() -> None:
        async with RawServer(reply) as server, shared_client() as http:
            await _call(http, server.url + "/x")

    with pytest.raises(RateLimitedError) as caught:
        asyncio.run(scenario())
    assert caught.value.retry_after == 7.0
    assert "slow down" in str(caught.value)


def test_a_huge_error_body_gives_a_short_message_without_the_key() -> None:
    """A vendor's 500 with megabytes of body (read only up to the cap) becomes a short
    transient error naming the status, never the key."""
    huge = b"x" * (MAX_ERROR_BODY_BYTES * 20) + b"sk-exchange"
    reply = raw_reply(huge, status="500 Internal Server Error")

    async def scenario() -> None:
        async with RawServer(reply) as server, shared_client() as http:
            await _call(http, server.url + "/x")

    with pytest.raises(TransientError) as caught:
        asyncio.run(scenario())
    assert "500" in str(caught.value)
    assert "sk-exchange" not in str(caught.value)
    assert len(str(caught.value)) < 2 * MAX_ERROR_BODY_BYTES


@pytest.mark.parametrize(
    "reply", [b"", raw_reply(b"0123456789")[:-5]], ids=["hang-up", "cut-off body"]
)
def test_a_hang_up_is_a_transient_network_error(reply: bytes) -> None:
    async def scenario() -> None:
        async with RawServer(reply) as server, shared_client() as http:
            await _call(http, server.url + "/x")

    with pytest.raises(TransientError) as caught:
        asyncio.run(scenario())
    assert caught.value.code == "network"


def test_nobody_listening_is_a_transient_network_error() -> None:
    async def scenario() -> None:
        async with shared_client() as http:
            await _call(http, "http://127.0.0.1:9/x")

    with pytest.raises(TransientError) as caught:
        asyncio.run(scenario())
    assert caught.value.code == "network"


def test_the_environment_proxy_carries_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> tuple[int, list[bytes]]:
        monkeypatch.setenv("NO_PROXY", "")
        async with RawServer(raw_reply(b'{"via": "proxy"}')) as proxy:
            monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("http://", "http://user:pw@"))
            async with RawServer(raw_reply(b"{}")) as origin, shared_client() as http:
                answer = await _call(http, origin.url + "/v1/chat/completions")
                assert json.loads(answer.content) == {"via": "proxy"}
                return len(origin.received), proxy.received

    direct_hits, proxied = asyncio.run(scenario())
    assert direct_hits == 0
    assert proxied[0].startswith(b"POST http://127.0.0.1:")
    assert b"\r\nProxy-Authorization: Basic dXNlcjpwdw==\r\n" in proxied[0]


def test_a_stalled_server_times_out_at_the_deadline(fake: FakeProviderServer) -> None:
    fake.state.inject("stall", delay_s=10)

    async def scenario() -> None:
        async with shared_client() as http:
            await exchange_json(
                http,
                "POST",
                fake.base_url("openai") + "/chat/completions",
                headers=HEADERS,
                json_body=BODY,
                deadline=Deadline(0.3),
                vendor="OpenAI",
            )

    started = time.monotonic()
    with pytest.raises(TransientError, match="timed out waiting for the server"):
        asyncio.run(scenario())
    assert time.monotonic() - started < 5.0  # the deadline, not the stall, ended it


def test_an_error_body_that_arrives_in_pieces_is_read_whole() -> None:
    """A 429 whose JSON body comes in two TCP writes: the message is the vendor's, read to
    its end (a single read would see only the first piece)."""
    body = (
        b'{"error": {"message": "slow down please", "type": "rate", "pad": "' + b"x" * 2000 + b'"}}'
    )
    head = (
        f"HTTP/1.1 429 Too Many Requests\r\nContent-Length: {len(body)}\r\n"
        "Content-Type: application/json\r\n\r\n"
    ).encode()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(head + body[:10])
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(body[10:])
        await writer.drain()
        writer.close()

    async def scenario() -> None:
        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with shared_client() as http:
                await _call(http, f"http://127.0.0.1:{port}/x")
        finally:
            server.close()
            await server.wait_closed()

    with pytest.raises(RateLimitedError) as caught:
        asyncio.run(scenario())
    assert "slow down please" in str(caught.value)
