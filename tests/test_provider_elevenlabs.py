"""The ElevenLabs adapter against the fake text-to-speech API over real HTTP on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest

from runner.errors import (
    ArtifactInvalid,
    CredentialsError,
    MediamixError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from runner.providers.elevenlabs import DEFAULT_VOICE_ID, ElevenLabsProvider
from runner.providers.registry import get_provider
from tests.fakeprovider import FakeProviderServer
from tests.fakeprovider.calls import Collected
from tests.provider_cases import FAILING_FAULTS, SECRET, everything_said, is_mp3, run

MODEL = "eleven_multilingual_v2"


def call(fake: FakeProviderServer, prompt: str = "Hello there", **kwargs: Any) -> Collected:
    return run(ElevenLabsProvider(), fake, "elevenlabs", "audio", MODEL, prompt, **kwargs)


def test_registry_resolves_elevenlabs() -> None:
    assert isinstance(get_provider("elevenlabs"), ElevenLabsProvider)


def test_speech_streams_mp3_and_counts_billed_characters(fake: FakeProviderServer) -> None:
    out = call(fake, params={"voice_settings": {"stability": 0.5}})
    assert out.result.stream is not None and out.body is not None and is_mp3(out.body)
    assert out.result.mime == "audio/mpeg"
    assert out.result.usage.characters == len("Hello there")
    sent = fake.state.last("/text-to-speech/")
    assert sent.path == f"/elevenlabs/v1/text-to-speech/{DEFAULT_VOICE_ID}"
    assert sent.query == {"output_format": "mp3_44100_128"}
    assert sent.headers["xi-api-key"] == "sk-test-key"
    assert "authorization" not in sent.headers
    assert sent.json == {
        "text": "Hello there",
        "model_id": MODEL,
        "voice_settings": {"stability": 0.5},
    }


def test_voice_comes_from_params_then_account_options(fake: FakeProviderServer) -> None:
    call(fake, options={"voice_id": "account-voice"})
    assert fake.state.last("/text-to-speech/").path.endswith("/account-voice")
    call(fake, params={"voice_id": "step-voice"}, options={"voice_id": "account-voice"})
    assert fake.state.last("/text-to-speech/").path.endswith("/step-voice")


def test_wav_output_format_is_labelled_wav(fake: FakeProviderServer) -> None:
    out = call(fake, params={"output_format": "wav_16000"})
    assert out.body is not None and out.body[:4] == b"RIFF" and out.body[8:12] == b"WAVE"
    assert out.result.mime == "audio/wav"


def test_empty_audio_is_an_invalid_artifact(fake: FakeProviderServer) -> None:
    fake.state.inject("empty_data")
    with pytest.raises(ArtifactInvalid):
        call(fake)


def test_missing_text_422_is_permanent_and_names_the_field(fake: FakeProviderServer) -> None:
    with pytest.raises(PermanentError) as caught:
        call(fake, prompt="")
    assert caught.value.http_status == 422
    assert "body.text: Field required" in str(caught.value)


def test_bad_key_is_a_credentials_error(fake: FakeProviderServer) -> None:
    with pytest.raises(CredentialsError) as caught:
        call(fake, api_key="bad-revoked-key-123")
    assert caught.value.http_status == 401
    assert "invalid_api_key" in str(caught.value)


def test_too_many_concurrent_requests_waits_about_a_second(fake: FakeProviderServer) -> None:
    fake.state.inject("429")
    with pytest.raises(RateLimitedError) as caught:
        call(fake)
    assert caught.value.code == "too_many_concurrent_requests"
    assert caught.value.retry_after == 1.0


def test_a_retry_after_header_wins_over_the_default_wait(fake: FakeProviderServer) -> None:
    fake.state.inject("429", retry_after=6)
    with pytest.raises(RateLimitedError) as caught:
        call(fake)
    assert caught.value.retry_after == 6


@pytest.mark.parametrize("fault", ["529", "503"])
def test_system_busy_is_transient(fake: FakeProviderServer, fault: str) -> None:
    fake.state.inject(fault)
    with pytest.raises(TransientError) as caught:
        call(fake)
    assert caught.value.code == "system_busy"


def test_character_quota_exhausted_drops_the_account(fake: FakeProviderServer) -> None:
    fake.state.inject("insufficient_quota")
    with pytest.raises(CredentialsError) as caught:
        call(fake)
    assert caught.value.code == "insufficient_quota"


@pytest.mark.parametrize("fault", [*FAILING_FAULTS, "empty_data"])
def test_the_key_appears_in_no_error(fake: FakeProviderServer, fault: str) -> None:
    fake.state.inject(fault, delay_s=5, retry_after=3)
    with pytest.raises(MediamixError) as caught:
        call(fake, api_key=SECRET, timeout=0.3)
    assert SECRET not in everything_said(caught.value)
