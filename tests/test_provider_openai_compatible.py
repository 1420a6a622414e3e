"""The OpenAI-compatible adapter (vLLM, Ollama, llama.cpp) against the fake server."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from runner.errors import (
    CredentialsError,
    PermanentError,
    RateLimitedError,
    TransientError,
    UnavailableError,
)
from runner.providers.base import GenerationRequest
from runner.providers.openai_compatible import OpenAICompatibleProvider
from runner.providers.registry import get_provider
from tests.fakeprovider import FakeProviderServer
from tests.fakeprovider.calls import Collected, generate


def call(
    fake: FakeProviderServer, media_type: str = "text", model: str = "llama3.1", **kwargs: Any
) -> Collected:
    request = GenerationRequest(media_type, model, "hello", timeout=5)  # type: ignore[arg-type]
    kwargs.setdefault("base_url", fake.base_url("openai_compatible"))
    return generate(OpenAICompatibleProvider(), request, **kwargs)


def test_registry_resolves_openai_compatible() -> None:
    provider = get_provider("openai_compatible")
    assert isinstance(provider, OpenAICompatibleProvider) and not provider.needs_key


def test_chat_without_a_key_sends_no_authorization(fake: FakeProviderServer) -> None:
    out = call(fake, api_key=None)
    assert out.result.text and "llama3.1" in out.result.text
    assert "authorization" not in fake.state.last("/chat/completions").headers


def test_chat_with_a_key_sends_bearer(fake: FakeProviderServer) -> None:
    call(fake, api_key="local-key-123")
    assert fake.state.last("/chat/completions").headers["authorization"] == "Bearer local-key-123"


def test_images_are_requested_as_base64(fake: FakeProviderServer) -> None:
    out = call(fake, "image", "flux-schnell", api_key=None)
    assert out.body is not None and Image.open(io.BytesIO(out.body)).format == "PNG"
    assert fake.state.last("/images").json["response_format"] == "b64_json"


def test_missing_base_url_names_the_option(fake: FakeProviderServer) -> None:
    with pytest.raises(UnavailableError, match="base_url"):
        call(fake, base_url=None)
    assert fake.state.requests == []


def test_nested_error_with_int_code(fake: FakeProviderServer) -> None:
    fake.state.inject("400")
    with pytest.raises(PermanentError) as caught:
        call(fake)
    assert caught.value.code == "BadRequestError"
    assert "Injected fault 400." in str(caught.value)


def test_flat_error_with_int_code(fake: FakeProviderServer) -> None:
    fake.state.inject("503")
    with pytest.raises(TransientError) as caught:
        call(fake)
    assert caught.value.http_status == 503
    assert "InternalServerError" in str(caught.value)


def test_bad_key_and_backpressure(fake: FakeProviderServer) -> None:
    with pytest.raises(CredentialsError):
        call(fake, api_key="bad-local-key")
    fake.state.inject("429", retry_after=2)
    with pytest.raises(RateLimitedError) as caught:
        call(fake)
    assert caught.value.retry_after == 2


def test_audio_is_not_offered(fake: FakeProviderServer) -> None:
    with pytest.raises(PermanentError):
        call(fake, "audio", "tts")
    assert fake.state.requests == []
