"""The Gemini adapter against the fake Gemini API over real HTTP on 127.0.0.1: text,
TTS (PCM wrapped into WAV), Imagen, native image output and Veo long-running video."""

from __future__ import annotations

import base64
import io
import wave
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from runner.errors import (
    ArtifactInvalid,
    CredentialsError,
    MediamixError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from runner.providers.google import GoogleProvider, parse_duration
from runner.providers.registry import get_provider
from tests.fakeprovider import FakeProviderServer
from tests.fakeprovider.calls import Collected
from tests.provider_cases import FAILING_FAULTS, SECRET, everything_said, image_input, is_mp4, run

TEXT_MODEL = "gemini-2.5-flash"
TTS_MODEL = "gemini-2.5-flash-preview-tts"
IMAGEN_MODEL = "imagen-4.0-generate-001"
NATIVE_IMAGE_MODEL = "gemini-2.5-flash-image"
VEO_MODEL = "veo-3.0-generate-001"

MODELS = {
    "text": TEXT_MODEL,
    "audio": TTS_MODEL,
    "image": IMAGEN_MODEL,
    "video": VEO_MODEL,
}


def call(
    fake: FakeProviderServer, media_type: str, model: str | None = None, **kw: Any
) -> Collected:
    model = model or MODELS[media_type]
    return run(GoogleProvider(), fake, "google", media_type, model, **kw)


def test_registry_resolves_google() -> None:
    assert isinstance(get_provider("google"), GoogleProvider)


# -- text -----------------------------------------------------------------------------------


def test_text_returns_the_answer_and_token_usage(fake: FakeProviderServer) -> None:
    out = call(
        fake,
        "text",
        prompt="Say hello",
        params={"system": "Be brief.", "temperature": 0.1, "max_tokens": 50},
    )
    assert out.result.text is not None and "Say hello" in out.result.text
    assert out.result.usage.input_tokens and out.result.usage.output_tokens
    sent = fake.state.last(f"/models/{TEXT_MODEL}:generateContent")
    assert sent.headers["x-goog-api-key"] == "sk-test-key"
    assert sent.path == f"/google/v1beta/models/{TEXT_MODEL}:generateContent"
    assert sent.json == {
        "contents": [{"role": "user", "parts": [{"text": "Say hello"}]}],
        "generationConfig": {"temperature": 0.1, "maxOutputTokens": 50},
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
    }


# -- speech ---------------------------------------------------------------------------------


def test_speech_pcm_comes_back_as_a_24khz_mono_wav(fake: FakeProviderServer) -> None:
    out = call(fake, "audio", prompt="Hello there")
    assert out.body is not None and out.result.mime == "audio/wav"
    with wave.open(io.BytesIO(out.body)) as audio:
        assert (audio.getnchannels(), audio.getsampwidth(), audio.getframerate()) == (1, 2, 24000)
        assert audio.getnframes() == 12000
        assert any(audio.readframes(100))
    assert out.result.usage.seconds == 0.5
    config = fake.state.last(":generateContent").json["generationConfig"]
    assert config["responseModalities"] == ["AUDIO"]
    assert config["speechConfig"]["voiceConfig"]["prebuiltVoiceConfig"]["voiceName"] == "Kore"


def test_speech_voice_comes_from_params_then_account_options(fake: FakeProviderServer) -> None:
    call(fake, "audio", options={"voice": "Puck"})
    voice = fake.state.last(":generateContent").json["generationConfig"]["speechConfig"]
    assert voice["voiceConfig"]["prebuiltVoiceConfig"]["voiceName"] == "Puck"
    call(fake, "audio", params={"voice": "Charon"}, options={"voice": "Puck"})
    voice = fake.state.last(":generateContent").json["generationConfig"]["speechConfig"]
    assert voice["voiceConfig"]["prebuiltVoiceConfig"]["voiceName"] == "Charon"


def test_speech_from_a_model_without_audio_output_is_permanent(fake: FakeProviderServer) -> None:
    with pytest.raises(PermanentError) as caught:
        call(fake, "audio", TEXT_MODEL)
    assert caught.value.http_status == 400
    assert "INVALID_ARGUMENT" in str(caught.value)


# -- images ---------------------------------------------------------------------------------


def test_imagen_returns_a_real_png(fake: FakeProviderServer) -> None:
    out = call(fake, "image", params={"aspect_ratio": "16:9"})
    assert out.body is not None and Image.open(io.BytesIO(out.body)).format == "PNG"
    assert out.result.mime == "image/png" and out.result.usage.images == 1
    sent = fake.state.last(":predict")
    assert sent.path == f"/google/v1beta/models/{IMAGEN_MODEL}:predict"
    assert sent.json["instances"] == [{"prompt": "a lighthouse at dusk"}]
    assert sent.json["parameters"]["aspectRatio"] == "16:9"
    assert sent.json["parameters"]["includeRaiReason"] is True


def test_gemini_native_image_output_returns_a_real_png(fake: FakeProviderServer) -> None:
    out = call(fake, "image", NATIVE_IMAGE_MODEL)
    assert out.body is not None and Image.open(io.BytesIO(out.body)).size == (128, 128)
    assert out.result.usage.images == 1
    config = fake.state.last(":generateContent").json["generationConfig"]
    assert config["responseModalities"] == ["TEXT", "IMAGE"]


def test_imagen_filtered_image_is_a_content_policy_error(fake: FakeProviderServer) -> None:
    fake.state.inject("content_policy")
    with pytest.raises(PermanentError) as caught:
        call(fake, "image")
    assert caught.value.code == "content_policy"
    assert "safety filter" in str(caught.value)


def test_native_image_blocked_by_image_safety_is_a_content_policy_error(
    fake: FakeProviderServer,
) -> None:
    fake.state.inject("content_policy")
    with pytest.raises(PermanentError) as caught:
        call(fake, "image", NATIVE_IMAGE_MODEL)
    assert caught.value.code == "content_policy"
    assert "IMAGE_SAFETY" in str(caught.value)


def test_blocked_prompt_is_a_content_policy_error(fake: FakeProviderServer) -> None:
    fake.state.inject("content_policy")
    with pytest.raises(PermanentError) as caught:
        call(fake, "text")
    assert caught.value.code == "content_policy"
    assert "PROHIBITED_CONTENT" in str(caught.value)


@pytest.mark.parametrize("media_type", ["text", "image", "audio"])
def test_an_answer_without_content_is_an_invalid_artifact(
    fake: FakeProviderServer, media_type: str
) -> None:
    fake.state.inject("empty_data")
    with pytest.raises(ArtifactInvalid):
        call(fake, media_type)


def test_a_blank_picture_is_handed_on_for_validation_to_judge(fake: FakeProviderServer) -> None:
    fake.state.inject("blank_image")
    out = call(fake, "image")
    assert out.body is not None
    colours = Image.open(io.BytesIO(out.body)).getcolors()
    assert colours is not None and len(colours) == 1


# -- video (Veo) ----------------------------------------------------------------------------


def test_veo_creates_polls_and_downloads_an_mp4_with_the_key(fake: FakeProviderServer) -> None:
    created: list[str] = []
    out = call(fake, "video", params={"duration": 6}, on_task_created=created.append)
    assert out.body is not None and is_mp4(out.body)
    assert created == [out.result.task_id]
    assert created[0].startswith(f"models/{VEO_MODEL}/operations/")
    assert fake.state.count(":predictLongRunning") == 1
    assert fake.state.count("/operations/", method="GET") == 2
    download = fake.state.last("/files/")
    assert download.headers["x-goog-api-key"] == "sk-test-key"
    assert out.result.usage.seconds == 6.0
    assert fake.state.last(":predictLongRunning").json["parameters"] == {"durationSeconds": 6}


def test_veo_sends_an_image_input_inline(fake: FakeProviderServer, tmp_path: Path) -> None:
    call(fake, "video", inputs=[image_input(tmp_path)])
    image = fake.state.last(":predictLongRunning").json["instances"][0]["image"]
    assert image["mimeType"] == "image/png"
    assert base64.b64decode(image["bytesBase64Encoded"]).startswith(b"\x89PNG")


def test_veo_resume_polls_the_old_operation_without_creating(fake: FakeProviderServer) -> None:
    first = call(fake, "video")
    fake.state.requests.clear()
    again: list[str] = []
    out = call(fake, "video", resume_task_id=first.result.task_id, on_task_created=again.append)
    assert out.body is not None and is_mp4(out.body)
    assert fake.state.count(":predictLongRunning") == 0
    assert again == []


def test_veo_still_running_past_the_timeout_keeps_the_operation_name(
    fake: FakeProviderServer,
) -> None:
    fake.state.polls_until_done = 10**6
    created: list[str] = []
    with pytest.raises(TransientError) as caught:
        call(fake, "video", timeout=0.3, on_task_created=created.append)
    assert caught.value.code == "poll_timeout"
    assert len(created) == 1 and created[0] in str(caught.value)


def test_veo_failed_operation_is_transient(fake: FakeProviderServer) -> None:
    # Aimed at the create call: a late poll left over from the timeout test above (its
    # client gave up at 0.3 s) must not take the fault under a loaded machine.
    fake.state.inject("task_failed", path_contains=":predictLongRunning")
    with pytest.raises(TransientError) as caught:
        call(fake, "video")
    assert "failed" in str(caught.value)


def test_veo_filtered_video_is_a_content_policy_error(fake: FakeProviderServer) -> None:
    fake.state.inject("content_policy")
    with pytest.raises(PermanentError) as caught:
        call(fake, "video")
    assert caught.value.code == "content_policy"


def test_veo_download_cut_off_is_transient(fake: FakeProviderServer) -> None:
    fake.state.inject("truncate", path_contains="/files/")
    with pytest.raises(TransientError):
        call(fake, "video")


# -- HTTP errors ----------------------------------------------------------------------------


def test_bad_key_answered_400_api_key_invalid_is_a_credentials_error(
    fake: FakeProviderServer,
) -> None:
    with pytest.raises(CredentialsError) as caught:
        call(fake, "text", api_key="bad-revoked-key-123")
    assert caught.value.http_status == 400
    assert caught.value.code == "API_KEY_INVALID"
    assert "API key not valid" in str(caught.value)


def test_resource_exhausted_waits_as_long_as_retry_info_says(fake: FakeProviderServer) -> None:
    fake.state.inject("429", retry_after=23)
    with pytest.raises(RateLimitedError) as caught:
        call(fake, "text")
    assert caught.value.retry_after == 23.0
    assert "RESOURCE_EXHAUSTED" in str(caught.value)


def test_resource_exhausted_without_retry_info_has_no_wait(fake: FakeProviderServer) -> None:
    fake.state.inject("429")
    with pytest.raises(RateLimitedError) as caught:
        call(fake, "text")
    assert caught.value.retry_after is None


@pytest.mark.parametrize(
    ("raw", "seconds"), [("23s", 23.0), ("0.5s", 0.5), ("1.250s", 1.25), ("23", None), ("", None)]
)
def test_retry_delay_durations(raw: str, seconds: float | None) -> None:
    assert parse_duration(raw) == seconds


# -- secrets --------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [*FAILING_FAULTS, "content_policy", "empty_data"])
def test_the_key_appears_in_no_error(fake: FakeProviderServer, fault: str) -> None:
    fake.state.inject(fault, delay_s=5, retry_after=3)
    with pytest.raises(MediamixError) as caught:
        call(fake, "text", api_key=SECRET, timeout=0.3)
    assert SECRET not in everything_said(caught.value)


@pytest.mark.parametrize("fault", ["task_failed", "content_policy", "truncate"])
def test_the_key_appears_in_no_video_error(fake: FakeProviderServer, fault: str) -> None:
    fake.state.inject(fault)
    with pytest.raises(MediamixError) as caught:
        call(fake, "video", api_key=SECRET)
    assert SECRET not in everything_said(caught.value)
