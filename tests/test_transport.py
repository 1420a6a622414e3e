"""The shared HTTP client: aiohttp underneath, httpx on top, sized for many requests."""

from __future__ import annotations

import asyncio

import aiohttp
import httpx
import pytest
from httpx_aiohttp import AiohttpTransport

from runner.transport import make_client, shared_client
from tests.fakeprovider import FakeProviderServer

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
            session = _transport(http).client
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
