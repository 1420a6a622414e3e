"""The Azure OpenAI adapter: deployment URLs, api-key auth, Azure's error bodies."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from runner.errors import CredentialsError, PermanentError, RateLimitedError, UnavailableError
from runner.providers.azure import AzureOpenAIProvider
from runner.providers.base import GenerationRequest
from runner.providers.registry import get_provider
from tests.fakeprovider import FakeProviderServer
from tests.fakeprovider.calls import Collected, generate

KEY = "azure-test-key-42"


def call(
    fake: FakeProviderServer,
    media_type: str,
    model: str,
    *,
    options: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Collected:
    request = GenerationRequest(
        media_type,  # type: ignore[arg-type]
        model,
        "a lighthouse at dusk",
        params=params or {},
        timeout=5,
    )
    kwargs.setdefault("api_key", KEY)
    return generate(
        AzureOpenAIProvider(),
        request,
        base_url=fake.base_url("azure"),
        options=options or {},
        **kwargs,
    )


def test_registry_resolves_azure() -> None:
    assert isinstance(get_provider("azure"), AzureOpenAIProvider)


def test_chat_goes_to_the_mapped_deployment_with_api_key(fake: FakeProviderServer) -> None:
    out = call(
        fake,
        "text",
        "gpt-4o",
        options={"deployments": {"gpt-4o": "prod-4o"}, "api_version": "2025-01-01-preview"},
    )
    assert out.result.text
    sent = fake.state.last("/chat/completions")
    assert sent.path == "/azure/openai/deployments/prod-4o/chat/completions"
    assert sent.query == {"api-version": "2025-01-01-preview"}
    assert sent.headers["api-key"] == KEY and "authorization" not in sent.headers
    assert "model" not in sent.json


def test_default_deployment_is_the_model_and_default_api_version(fake: FakeProviderServer) -> None:
    call(fake, "text", "gpt-4o-mini")
    sent = fake.state.last("/chat/completions")
    assert sent.path == "/azure/openai/deployments/gpt-4o-mini/chat/completions"
    assert sent.query["api-version"] == "2024-10-21"


def test_image_and_speech(fake: FakeProviderServer) -> None:
    image = call(fake, "image", "dall-e-3")
    assert image.body is not None and Image.open(io.BytesIO(image.body)).format == "PNG"
    speech = call(fake, "audio", "tts-1")
    assert speech.body is not None and speech.body[0] == 0xFF


def test_content_filter_is_permanent_content_policy(fake: FakeProviderServer) -> None:
    fake.state.inject("content_policy")
    with pytest.raises(PermanentError) as caught:
        call(fake, "text", "gpt-4o")
    assert caught.value.code == "content_policy"
    assert "content management policy" in str(caught.value)


def test_bad_key_and_rate_limit(fake: FakeProviderServer) -> None:
    with pytest.raises(CredentialsError):
        call(fake, "text", "gpt-4o", api_key="bad-azure-key-1")
    fake.state.inject("429", retry_after=4)
    with pytest.raises(RateLimitedError) as caught:
        call(fake, "text", "gpt-4o")
    assert caught.value.retry_after == 4


def test_missing_base_url_is_unavailable() -> None:
    request = GenerationRequest("text", "gpt-4o", "x")
    with pytest.raises(UnavailableError):
        generate(AzureOpenAIProvider(), request, base_url=None, api_key=KEY)


def test_video_is_not_offered() -> None:
    assert "video" not in AzureOpenAIProvider.media_types
