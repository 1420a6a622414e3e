"""The Anthropic adapter against the fake Messages API over real HTTP on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest

from runner.errors import (
    ArtifactInvalid,
    CredentialsError,
    MediamixError,
    PermanentError,
    RateLimitedError,
    UnavailableError,
)
from runner.providers.anthropic import AnthropicProvider, reclassify_error
from runner.providers.base import InputAsset
from runner.providers.registry import get_provider
from tests.fakeprovider import FakeProviderServer
from tests.fakeprovider.calls import Collected
from tests.provider_cases import FAILING_FAULTS, SECRET, everything_said, run

MODEL = "claude-sonnet-4-5"


def call(fake: FakeProviderServer, prompt: str = "Say hello", **kwargs: Any) -> Collected:
    return run(AnthropicProvider(), fake, "anthropic", "text", MODEL, prompt, **kwargs)


def test_registry_resolves_anthropic() -> None:
    assert isinstance(get_provider("anthropic"), AnthropicProvider)


# -- happy path -----------------------------------------------------------------------------


def test_message_returns_text_and_token_usage(fake: FakeProviderServer) -> None:
    out = call(fake, params={"system": "Be brief.", "temperature": 0.2})
    assert out.result.text is not None and "Say hello" in out.result.text
    assert out.result.usage.input_tokens and out.result.usage.output_tokens
    assert out.result.metadata["stop_reason"] == "end_turn"
    assert out.result.task_id is not None and out.result.task_id.startswith("msg_")
    sent = fake.state.last("/anthropic/v1/messages")
    assert sent.headers["x-api-key"] == "sk-test-key"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert sent.json == {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Say hello"}],
        "system": "Be brief.",
        "temperature": 0.2,
    }


def test_max_tokens_and_earlier_text_inputs_are_sent(fake: FakeProviderServer) -> None:
    outline = InputAsset("text", "text/plain", text="1. Intro 2. Body", step="outline")
    call(fake, "Write it out", params={"max_tokens": 64}, inputs=[outline])
    sent = fake.state.last("/messages").json
    assert sent["max_tokens"] == 64
    assert sent["messages"][0]["content"] == "1. Intro 2. Body\n\nWrite it out"


def test_a_non_numeric_max_tokens_is_refused_before_any_request(
    fake: FakeProviderServer,
) -> None:
    with pytest.raises(PermanentError) as caught:
        call(fake, params={"max_tokens": "plenty"})
    assert caught.value.code == "invalid_params" and "max_tokens" in str(caught.value)
    assert fake.state.requests == []


# -- answers that are not usable --------------------------------------------------------------


def test_refusal_is_a_content_policy_error(fake: FakeProviderServer) -> None:
    fake.state.inject("content_policy")
    with pytest.raises(PermanentError) as caught:
        call(fake)
    assert caught.value.code == "content_policy"
    assert "refusal" in str(caught.value)


def test_a_message_without_text_is_an_invalid_artifact(fake: FakeProviderServer) -> None:
    fake.state.inject("empty_data")
    with pytest.raises(ArtifactInvalid):
        call(fake)


# -- HTTP errors ------------------------------------------------------------------------------


def test_bad_key_is_a_credentials_error(fake: FakeProviderServer) -> None:
    with pytest.raises(CredentialsError) as caught:
        call(fake, api_key="bad-revoked-key-123")
    assert caught.value.http_status == 401
    assert "authentication_error" in str(caught.value)


def test_missing_key_is_unavailable_before_any_request(fake: FakeProviderServer) -> None:
    with pytest.raises(UnavailableError):
        call(fake, api_key=None)
    assert fake.state.requests == []


def test_invalid_request_is_permanent_and_names_the_vendor_message(
    fake: FakeProviderServer,
) -> None:
    fake.state.inject("400")
    with pytest.raises(PermanentError) as caught:
        call(fake)
    assert caught.value.http_status == 400
    assert str(caught.value) == "Anthropic: HTTP 400 invalid_request_error: Injected fault 400."


def test_spend_limit_429_drops_the_account(fake: FakeProviderServer) -> None:
    fake.state.inject("insufficient_quota")
    with pytest.raises(CredentialsError) as caught:
        call(fake)
    assert caught.value.code == "spend_limit"
    assert caught.value.http_status == 429


def test_low_credit_balance_400_is_the_account_not_the_request() -> None:
    generic = PermanentError("Anthropic: HTTP 400 invalid_request_error: ...", http_status=400)
    payload = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "Your credit balance is too low to access the Anthropic API.",
        },
    }
    corrected = reclassify_error(generic, payload)
    assert isinstance(corrected, CredentialsError)
    assert corrected.code == "insufficient_quota" and corrected.http_status == 400


def test_529_overloaded_is_rate_limited(fake: FakeProviderServer) -> None:
    fake.state.inject("529")
    with pytest.raises(RateLimitedError) as caught:
        call(fake)
    assert caught.value.code == "overloaded"
    assert "overloaded_error" in str(caught.value)


def test_other_media_types_are_refused_without_a_request(fake: FakeProviderServer) -> None:
    with pytest.raises(PermanentError) as caught:
        run(AnthropicProvider(), fake, "anthropic", "image", MODEL)
    assert caught.value.code == "unsupported_media"
    assert fake.state.requests == []


# -- secrets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [*FAILING_FAULTS, "content_policy", "empty_data"])
def test_the_key_appears_in_no_error(fake: FakeProviderServer, fault: str) -> None:
    fake.state.inject(fault, delay_s=5, retry_after=3)
    with pytest.raises(MediamixError) as caught:
        call(fake, api_key=SECRET, timeout=0.3)
    assert SECRET not in everything_said(caught.value)
