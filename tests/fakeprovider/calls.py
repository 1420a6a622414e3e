"""Call a provider adapter against the fake server from a synchronous test.

The result's stream is read inside the same event loop, before the HTTP client closes,
so tests get plain bytes back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from runner.providers.base import CallContext, GenerationRequest, GenerationResult, Provider
from runner.transport import shared_client


@dataclass
class Collected:
    result: GenerationResult
    #: ``result.data`` or everything ``result.stream`` yielded; None for text.
    body: bytes | None


async def generate_async(
    provider: Provider,
    request: GenerationRequest,
    *,
    base_url: str | None,
    api_key: str | None = "sk-test-key",
    options: Mapping[str, Any] | None = None,
    on_task_created: Callable[[str], None] | None = None,
    account: str = "test-account",
) -> Collected:
    async def no_sleep(seconds: float) -> None:
        await asyncio.sleep(0)

    async with shared_client(timeout=request.timeout) as http:
        ctx = CallContext(
            http=http,
            api_key=api_key,
            base_url=base_url,
            account=account,
            options=dict(options or {}),
            poll_interval=0.0,
            sleep=no_sleep,
        )
        if on_task_created is not None:
            ctx.on_task_created = on_task_created
        result = await provider.generate(request, ctx)
        body = result.data
        if result.stream is not None:
            body = b"".join([chunk async for chunk in result.stream])
        return Collected(result, body)


def generate(provider: Provider, request: GenerationRequest, **kwargs: Any) -> Collected:
    """Synchronous :func:`generate_async`: one event loop and one client per call."""
    return asyncio.run(generate_async(provider, request, **kwargs))
