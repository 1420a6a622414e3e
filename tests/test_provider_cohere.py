"""The Cohere adapter against the fake Chat v2 API over real HTTP on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest

from runner.errors import (
    ArtifactInvalid,
    CredentialsError,
    MediamixError,
    PermanentError,
    TransientError,
)
from runner.providers.cohere import CohereProvider, chat_result, reclassify_error
from runner.providers.registry import get_provider
from tests.fakeprovider import FakeProviderServer
from tests.fakeprovider.calls import Collected
from tests.provider_cases import FAILING_FAULTS, SECRET, everything_said, run

MODEL = "command-a-03-2025"


def call(fake: FakeProviderServer, prompt: str = "Say hello", **kwargs: Any) -> Collected:
    return run(CohereProvider(), fake, "cohere", "text", MODEL, prompt, **kwargs)


def test_registry_resolves_cohere() -> None:
    assert isinstance(get_provider("cohere"), CohereProvider)


def test_chat_returns_text_and_token_usage(fake: FakeProviderServer) -> None:
    out = call(fake, params={"system": "Be brief.", "temperature": 0.3, "max_tokens": 80})
    assert out.result.text is not None and "Say hello" in out.result.text
    assert out.result.usage.input_tokens and out.result.usage.output_tokens
    assert out.result.metadata["finish_reason"] == "COMPLETE"
    sent = fake.state.last("/cohere/v2/chat")
    assert sent.headers["authorization"] == "Bearer sk-test-key"
    assert sent.json == {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello"},
        ],
        "stream": False,
        "max_tokens": 80,
        "temperature": 0.3,
    }


def test_usage_falls_back_to_billed_units() -> None:
    payload = {
        "id": "x",
        "finish_reason": "COMPLETE",
        "message": {"role": "assistant", "content": [{"type": "text", "text": "Hi"}]},
        "usage": {"billed_units": {"input_tokens": 3, "output_tokens": 1}},
    }
    usage = chat_result(payload, 200).usage
    assert (usage.input_tokens, usage.output_tokens) == (3, 1)


def test_a_failed_generation_is_transient() -> None:
    with pytest.raises(TransientError):
        chat_result({"finish_reason": "ERROR", "message": {"content": []}}, 200)


def test_an_answer_without_text_is_an_invalid_artifact(fake: FakeProviderServer) -> None:
    fake.state.inject("empty_data")
    with pytest.raises(ArtifactInvalid):
        call(fake)


def test_bad_key_is_a_credentials_error(fake: FakeProviderServer) -> None:
    with pytest.raises(CredentialsError) as caught:
        call(fake, api_key="bad-revoked-key-123")
    assert caught.value.http_status == 401


def test_498_invalid_token_is_a_credentials_error(fake: FakeProviderServer) -> None:
    with pytest.raises(CredentialsError) as caught:
        call(fake, api_key="expired-trial-key-123")
    assert caught.value.http_status == 498
    assert caught.value.code == "invalid_token"
    assert "invalid api token" in str(caught.value)


def test_499_request_cancelled_is_transient() -> None:
    generic = PermanentError("Cohere: HTTP 499: request cancelled", http_status=499)
    corrected = reclassify_error(generic, {"message": "request cancelled", "id": "x"})
    assert isinstance(corrected, TransientError) and corrected.http_status == 499


def test_invalid_request_is_permanent_and_names_the_vendor_message(
    fake: FakeProviderServer,
) -> None:
    fake.state.inject("400")
    with pytest.raises(PermanentError) as caught:
        call(fake)
    assert str(caught.value) == "Cohere: HTTP 400: Injected fault 400."


def test_safety_rejection_is_permanent(fake: FakeProviderServer) -> None:
    fake.state.inject("content_policy")
    with pytest.raises(PermanentError) as caught:
        call(fake)
    assert "safety system" in str(caught.value)


@pytest.mark.parametrize("fault", [*FAILING_FAULTS, "content_policy", "empty_data"])
def test_the_key_appears_in_no_error(fake: FakeProviderServer, fault: str) -> None:
    fake.state.inject(fault, delay_s=5, retry_after=3)
    with pytest.raises(MediamixError) as caught:
        call(fake, api_key=SECRET, timeout=0.3)
    assert SECRET not in everything_said(caught.value)
