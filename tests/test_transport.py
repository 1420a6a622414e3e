"""The shared HTTP client: aiohttp underneath, httpx on top, sized for many requests."""

from __future__ import annotations

import asyncio
import gzip

import aiohttp
import httpx
import pytest

from runner.transport import AiohttpTransport, make_client, shared_client
from tests.fakeprovider import FakeProviderServer
from tests.rawserver import RawServer, raw_reply

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
AUTH = {"Authorization": "Bearer sk-transport"}


def _transport(client: httpx.AsyncClient) -> AiohttpTransport:
    transport = client._transport  # the only way to see what the client was built with
    assert isinstance(transport, AiohttpTransport)
    return transport


def test_connector_limit_is_max_connections(fake: FakeProviderServer) -> None:
    async def scenario() -> aiohttp.BaseConnector:
        async with shared_client(max_connections=300) as http:
            answer = await http.post(
                fake.base_url("openai") + "/chat/completions", json=CHAT, headers=AUTH
            )
            assert answer.status_code == 200
            session = _transport(http).session
            assert isinstance(session, aiohttp.ClientSession)
            assert session.connector is not None
            return session.connector

    connector = asyncio.run(scenario())
    assert connector.limit == 300 and connector.limit_per_host == 0
    assert connector.closed


def test_many_concurrent_requests_all_succeed(fake: FakeProviderServer) -> None:
    fake.state.latency_s = 0.05

    async def scenario() -> list[int]:
        async with shared_client(max_connections=256) as http:
            url = fake.base_url("openai") + "/chat/completions"
            answers = await asyncio.gather(
                *(http.post(url, json=CHAT, headers=AUTH) for _ in range(200))
            )
            return [a.status_code for a in answers]

    assert asyncio.run(scenario()) == [200] * 200
    assert fake.state.count("/chat/completions") == 200


def test_a_read_response_says_how_long_it_took(fake: FakeProviderServer) -> None:
    fake.state.latency_s = 0.05

    async def scenario() -> httpx.Response:
        async with shared_client() as http:
            return await http.post(
                fake.base_url("openai") + "/chat/completions", json=CHAT, headers=AUTH
            )

    answer = asyncio.run(scenario())
    assert answer.json()["object"] == "chat.completion"
    assert answer.elapsed.total_seconds() >= 0.05


def test_stall_becomes_an_httpx_timeout(fake: FakeProviderServer) -> None:
    fake.state.inject("stall", delay_s=10)

    async def scenario() -> None:
        async with shared_client(timeout=0.2) as http:
            await http.post(fake.base_url("openai") + "/chat/completions", json=CHAT, headers=AUTH)

    with pytest.raises(httpx.TimeoutException):
        asyncio.run(scenario())


def test_redirects_are_not_followed() -> None:
    client = make_client()
    assert client.follow_redirects is False
    assert client.headers["user-agent"].startswith("mediamix/")


def test_max_connections_must_be_positive() -> None:
    with pytest.raises(ValueError):
        make_client(max_connections=0)


def test_fast_build_request_matches_httpx() -> None:
    """The client's fast path builds the very request httpx's own build_request would."""
    ours = make_client(timeout=7.0)
    theirs = httpx.AsyncClient(timeout=7.0, headers={"User-Agent": ours.headers["user-agent"]})
    cases: list[dict[str, object]] = [
        {"json": CHAT, "headers": {"Authorization": "Bearer k", "accept": "application/json"}},
        {"content": b"\x00raw", "headers": {"Content-Type": "application/octet-stream"}},
        {"headers": {"X-Api-Key": "k"}, "timeout": 3.0},
        {},
    ]
    for case in cases:
        mine = ours.build_request("POST", "https://api.example.com/v1/x?y=1", **case)  # type: ignore[arg-type]
        reference = theirs.build_request("POST", "https://api.example.com/v1/x?y=1", **case)  # type: ignore[arg-type]
        assert mine.url == reference.url
        assert sorted(mine.headers.multi_items()) == sorted(reference.headers.multi_items())
        assert mine.content == reference.content
        assert mine.extensions["timeout"] == reference.extensions["timeout"]


def test_multipart_upload_goes_out_with_its_length() -> None:
    async def scenario() -> bytes:
        async with RawServer(raw_reply(b"{}")) as server, shared_client() as http:
            answer = await http.post(
                server.url + "/upload", files={"image": ("a.png", b"\x89PNG" * 100, "image/png")}
            )
            assert answer.status_code == 200
            return server.received[0]

    sent = asyncio.run(scenario())
    head, _, body = sent.partition(b"\r\n\r\n")
    assert b"content-length: %d" % len(body) in head.lower()
    assert b"transfer-encoding" not in head.lower()
    assert b"\x89PNG" * 100 in body


def test_gzip_body_is_decoded() -> None:
    packed = gzip.compress(b'{"ok": true}')

    async def scenario() -> httpx.Response:
        reply = raw_reply(packed, "Content-Encoding: gzip")
        async with RawServer(reply) as server, shared_client() as http:
            return await http.get(server.url + "/x")

    assert asyncio.run(scenario()).json() == {"ok": True}


def test_hang_up_and_cut_off_body_become_httpx_protocol_errors() -> None:
    async def fetch(reply: bytes, *, stream: bool) -> None:
        async with RawServer(reply) as server, shared_client() as http:
            request = http.build_request("GET", server.url + "/x")
            response = await http.send(request, stream=stream)
            await response.aread()

    for reply in (b"", raw_reply(b"0123456789")[:-5]):
        for stream in (False, True):
            with pytest.raises(httpx.RemoteProtocolError):
                asyncio.run(fetch(reply, stream=stream))


def test_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(no_proxy: str) -> tuple[int, list[bytes]]:
        monkeypatch.setenv("NO_PROXY", no_proxy)
        async with RawServer(raw_reply(b"via proxy")) as proxy:
            monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("http://", "http://user:pw@"))
            async with RawServer(raw_reply(b"direct")) as origin, shared_client() as http:
                answer = await http.get(origin.url + "/v1/models")
                assert answer.text == ("direct" if no_proxy else "via proxy")
                return len(origin.received), proxy.received

    direct_hits, proxied = asyncio.run(scenario(no_proxy=""))
    assert direct_hits == 0
    assert proxied[0].startswith(b"GET http://127.0.0.1:")  # absolute form, as to any proxy
    assert b"\r\nProxy-Authorization: Basic dXNlcjpwdw==\r\n" in proxied[0]  # user:pw
    direct_hits, proxied = asyncio.run(scenario(no_proxy="127.0.0.1"))
    assert direct_hits == 1 and proxied == []


def test_auth_flows_and_redirects_are_refused_not_ignored() -> None:
    async def scenario() -> None:
        async with shared_client() as http:
            request = http.build_request("GET", "http://127.0.0.1:9/x")
            with pytest.raises(NotImplementedError):
                await http.send(request, auth=("user", "pass"))
            with pytest.raises(NotImplementedError):
                await http.send(request, follow_redirects=True)

    asyncio.run(scenario())


def test_streamed_body_read_to_the_end_returns_its_connection_to_the_pool(
    fake: FakeProviderServer,
) -> None:
    """A video download streamed to the end leaves its socket for the next request; one
    abandoned halfway closes it (never handed to another request mid-body)."""
    url = fake.url + fake.state.publish("/runway", b"\x00" * (1 << 20), "video/mp4")

    async def download(http: httpx.AsyncClient, *, whole: bool) -> int:
        response = await http.send(http.build_request("GET", url), stream=True)
        received = 0
        async for chunk in response.aiter_bytes():
            received += len(chunk)
            if not whole:
                break
        await response.aclose()
        return received

    async def scenario() -> list[tuple[int, int]]:
        async with shared_client() as http:
            seen = []
            for whole in (True, False, True):
                seen.append((await download(http, whole=whole), _pooled(http)))
            return seen

    (full, pooled_full), (part, pooled_part), (again, _) = asyncio.run(scenario())
    assert (full, pooled_full) == (1 << 20, 1)
    assert part < 1 << 20 and pooled_part == 0
    assert again == 1 << 20  # a fresh connection serves the next download


def _pooled(http: httpx.AsyncClient) -> int:
    session = _transport(http).session
    assert session is not None and session.connector is not None
    return sum(len(c) for c in session.connector._conns.values())  # type: ignore[attr-defined]
