"""The error classes every HTTP adapter shares, one matrix over the vendors: a 429 is
rate-limited with the vendor's Retry-After, server and transport failures are transient,
and a stall past the attempt's timeout is a transient timeout. Vendor-specific answers
(content policy, bad requests, odd Retry-After formats) stay in each vendor's tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from runner.errors import RateLimitedError, TransientError
from runner.providers.anthropic import AnthropicProvider
from runner.providers.base import Provider
from runner.providers.cohere import CohereProvider
from runner.providers.elevenlabs import ElevenLabsProvider
from runner.providers.google import GoogleProvider
from runner.providers.openai import OpenAIProvider
from runner.providers.runway import RunwayProvider
from runner.providers.stability import StabilityProvider
from tests.fakeprovider import FakeProviderServer
from tests.fakeprovider.calls import Collected
from tests.provider_cases import run

ALL_FAULTS = ("500", "503", "drop", "truncate", "malformed_json")


@dataclass(frozen=True)
class Vendor:
    name: str
    provider: type[Provider]
    media_type: str
    model: str
    #: Which requests the fault hits (a vendor with several calls per job narrows it).
    path: str = ""
    faults: tuple[str, ...] = ALL_FAULTS
    #: The Retry-After this vendor's 429 test sends (None: no 429 case here).
    retry_after: int | None = None

    def call(self, fake: FakeProviderServer, **kwargs: Any) -> Collected:
        return run(self.provider(), fake, self.name, self.media_type, self.model, **kwargs)


VENDORS = [
    Vendor("anthropic", AnthropicProvider, "text", "claude-sonnet-4-5", retry_after=7),
    Vendor("cohere", CohereProvider, "text", "command-a-03-2025", retry_after=4),
    Vendor(
        "elevenlabs",
        ElevenLabsProvider,
        "audio",
        "eleven_multilingual_v2",
        faults=("500", "drop", "truncate"),  # the body is the audio: no JSON to break
    ),
    Vendor("google", GoogleProvider, "text", "gemini-2.5-flash"),
    Vendor("google", GoogleProvider, "image", "imagen-4.0-generate-001"),
    Vendor("openai", OpenAIProvider, "text", "gpt-4o"),
    Vendor("openai", OpenAIProvider, "image", "dall-e-2", path="/images"),
    Vendor("runway", RunwayProvider, "video", "gen4.5", path="/v1/", retry_after=12),
    Vendor(
        "stability",
        StabilityProvider,
        "image",
        "stable-image-core",
        faults=("500", "503", "drop", "truncate"),  # the body is the image
        retry_after=10,
    ),
]


def _id(vendor: Vendor) -> str:
    return f"{vendor.name}-{vendor.media_type}"


@pytest.mark.parametrize(
    ("vendor", "fault"),
    [pytest.param(v, f, id=f"{_id(v)}-{f}") for v in VENDORS for f in v.faults],
)
def test_server_and_transport_failures_are_transient(
    fake: FakeProviderServer, vendor: Vendor, fault: str
) -> None:
    fake.state.inject(fault, path_contains=vendor.path)
    with pytest.raises(TransientError):
        vendor.call(fake)


@pytest.mark.parametrize("vendor", [v for v in VENDORS if v.retry_after is not None], ids=_id)
def test_429_is_rate_limited_with_retry_after(fake: FakeProviderServer, vendor: Vendor) -> None:
    fake.state.inject("429", retry_after=vendor.retry_after, path_contains=vendor.path)
    with pytest.raises(RateLimitedError) as caught:
        vendor.call(fake)
    assert caught.value.retry_after == vendor.retry_after


@pytest.mark.parametrize("vendor", [v for v in VENDORS if v.name != "runway"], ids=_id)
def test_stall_past_the_timeout_is_transient(fake: FakeProviderServer, vendor: Vendor) -> None:
    # Runway's stalls (at create, at a poll) have their own tests: a poll says poll_timeout.
    fake.state.inject("stall", delay_s=10)
    with pytest.raises(TransientError) as caught:
        vendor.call(fake, timeout=0.3)
    assert "timed out" in str(caught.value)
