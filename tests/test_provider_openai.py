"""The OpenAI adapter against the fake OpenAI API over real HTTP on 127.0.0.1."""

from __future__ import annotations

import io
import traceback
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
from runner.providers.base import GenerationRequest, InputAsset
from runner.providers.openai import OpenAIProvider
from runner.providers.registry import get_provider
from tests.fakeprovider import FakeProviderServer
from tests.fakeprovider.calls import Collected, generate

KEY = "sk-test-key"


def call(
    fake: FakeProviderServer,
    media_type: str,
    model: str,
    prompt: str = "a lighthouse at dusk",
    *,
    params: dict[str, Any] | None = None,
    timeout: float = 5.0,
    **kwargs: Any,
) -> Collected:
    request = GenerationRequest(
        media_type=media_type,  # type: ignore[arg-type]
        model=model,
        prompt=prompt,
        params=params or {},
        timeout=timeout,
        resume_task_id=kwargs.pop("resume_task_id", None),
    )
    kwargs.setdefault("api_key", KEY)
    return generate(OpenAIProvider(), request, base_url=fake.base_url("openai"), **kwargs)


def test_registry_resolves_openai() -> None:
    assert isinstance(get_provider("openai"), OpenAIProvider)


# -- happy paths ----------------------------------------------------------------------------


def test_chat_returns_text_and_token_usage(fake: FakeProviderServer) -> None:
    out = call(
        fake,
        "text",
        "gpt-4o-mini",
        "Say hello",
        params={"system": "Be brief.", "temperature": 0.2, "max_completion_tokens": 50},
    )
    assert out.result.text is not None and "Say hello" in out.result.text
    assert out.result.usage.input_tokens and out.result.usage.output_tokens
    sent = fake.state.last("/chat/completions")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello"},
    ]
    assert sent.json["temperature"] == 0.2 and sent.json["max_completion_tokens"] == 50
    assert "system" not in sent.json


def test_chat_sends_organization_and_project_headers(fake: FakeProviderServer) -> None:
    call(fake, "text", "gpt-4o", options={"organization": "org-1", "project": "proj-2"})
    sent = fake.state.last("/chat/completions")
    assert sent.headers["openai-organization"] == "org-1"
    assert sent.headers["openai-project"] == "proj-2"


def test_chat_includes_image_inputs_as_data_uris(fake: FakeProviderServer, tmp_path: Any) -> None:
    picture = tmp_path / "in.png"
    Image.new("RGB", (8, 8), (10, 200, 30)).save(picture)
    request = GenerationRequest(
        "text",
        "gpt-4o",
        "Describe it",
        inputs=[InputAsset("image", "image/png", path=str(picture), step="cover")],
        timeout=5,
    )
    generate(OpenAIProvider(), request, base_url=fake.base_url("openai"), api_key=KEY)
    content = fake.state.last("/chat/completions").json["messages"][0]["content"]
    assert content[0]["image_url"]["url"].startswith("data:image/png;base64,iVBOR")
    assert content[1] == {"type": "text", "text": "Describe it"}


@pytest.mark.parametrize("model", ["dall-e-2", "dall-e-3"])
def test_dalle_image_comes_back_as_a_real_png(fake: FakeProviderServer, model: str) -> None:
    out = call(fake, "image", model, params={"size": "1024x1024"})
    assert out.body is not None
    image = Image.open(io.BytesIO(out.body))
    assert image.format == "PNG" and image.size == (256, 256)
    assert out.result.mime == "image/png" and out.result.usage.images == 1
    assert fake.state.last("/images/generations").json["response_format"] == "b64_json"


def test_dalle_url_answer_is_downloaded_without_the_key(fake: FakeProviderServer) -> None:
    out = call(fake, "image", "dall-e-2", params={"response_format": "url"})
    assert out.body is not None and Image.open(io.BytesIO(out.body)).format == "PNG"
    download = fake.state.last("/_files/")
    assert "authorization" not in download.headers


def test_gpt_image_sends_no_response_format_and_reports_tokens(fake: FakeProviderServer) -> None:
    out = call(fake, "image", "gpt-image-1", params={"response_format": "url", "quality": "low"})
    assert out.body is not None and Image.open(io.BytesIO(out.body)).format == "PNG"
    assert "response_format" not in fake.state.last("/images/generations").json
    assert out.result.usage.images == 1
    assert out.result.usage.input_tokens and out.result.usage.output_tokens


def test_speech_streams_mp3_and_counts_characters(fake: FakeProviderServer) -> None:
    out = call(fake, "audio", "tts-1", "Hello there")
    assert out.body is not None
    assert out.body[0] == 0xFF and out.body[1] & 0xE0 == 0xE0  # MPEG frame sync
    assert out.result.mime == "audio/mpeg"
    assert out.result.usage.characters == len("Hello there")
    assert fake.state.last("/audio/speech").json["voice"] == "alloy"


def test_speech_wav_is_readable(fake: FakeProviderServer) -> None:
    import wave

    out = call(fake, "audio", "tts-1-hd", params={"response_format": "wav", "voice": "nova"})
    assert out.body is not None
    with wave.open(io.BytesIO(out.body)) as audio:
        assert audio.getnframes() > 0
    assert out.result.mime == "audio/wav"


def test_video_creates_polls_and_downloads_an_mp4(fake: FakeProviderServer) -> None:
    created: list[str] = []
    out = call(fake, "video", "sora-2", params={"seconds": "8"}, on_task_created=created.append)
    assert out.body is not None and out.body[4:8] == b"ftyp"
    assert created == [out.result.task_id]
    assert out.result.usage.seconds == 8.0
    assert fake.state.count("/videos", method="POST") == 1
    assert fake.state.count(f"/videos/{created[0]}/content") == 1


def test_video_resume_polls_the_old_task_without_creating(fake: FakeProviderServer) -> None:
    created: list[str] = []
    first = call(fake, "video", "sora-2", on_task_created=created.append)
    fake.state.requests.clear()
    again: list[str] = []
    out = call(
        fake, "video", "sora-2", resume_task_id=first.result.task_id, on_task_created=again.append
    )
    assert out.body is not None and out.body[4:8] == b"ftyp"
    assert fake.state.count("/videos", method="POST") == 0
    assert again == []


def test_video_poll_stalled_past_the_deadline_still_names_the_task(
    fake: FakeProviderServer,
) -> None:
    """The same poll_timeout as running out of time between polls, so a retry resumes it."""
    fake.state.inject("stall", delay_s=10, path_contains="/videos/")
    created: list[str] = []
    with pytest.raises(TransientError) as caught:
        call(fake, "video", "sora-2", timeout=0.3, on_task_created=created.append)
    assert caught.value.code == "poll_timeout"
    assert created[0] in str(caught.value)
    assert fake.state.count("/videos", method="POST") == 1


def test_video_that_fails_moderation_is_a_content_policy_error(fake: FakeProviderServer) -> None:
    fake.state.inject("task_failed", path_contains="/videos")
    with pytest.raises(PermanentError) as caught:
        call(fake, "video", "sora-2")
    assert caught.value.code == "content_policy"


def test_video_seconds_outside_soras_choices_is_permanent(fake: FakeProviderServer) -> None:
    with pytest.raises(PermanentError):
        call(fake, "video", "sora-2", params={"seconds": "5"})
    assert fake.state.count("/videos") == 0


# -- errors ----------------------------------------------------------------------------------


def test_bad_key_is_a_credentials_error(fake: FakeProviderServer) -> None:
    with pytest.raises(CredentialsError) as caught:
        call(fake, "text", "gpt-4o", api_key="bad-revoked-key-123")
    assert caught.value.http_status == 401
    assert "invalid_api_key" in str(caught.value)


def test_missing_key_is_unavailable_before_any_request(fake: FakeProviderServer) -> None:
    from runner.errors import UnavailableError

    with pytest.raises(UnavailableError):
        call(fake, "text", "gpt-4o", api_key=None)
    assert fake.state.requests == []


def test_invalid_request_is_permanent_and_names_the_vendor_message(
    fake: FakeProviderServer,
) -> None:
    fake.state.inject("400", path_contains="/chat/completions")
    with pytest.raises(PermanentError) as caught:
        call(fake, "text", "gpt-4o")
    assert caught.value.http_status == 400
    assert str(caught.value) == "OpenAI: HTTP 400 invalid_request_error: Injected fault 400."


def test_content_policy_is_permanent_with_code_content_policy(fake: FakeProviderServer) -> None:
    fake.state.inject("content_policy", path_contains="/images")
    with pytest.raises(PermanentError) as caught:
        call(fake, "image", "dall-e-3")
    assert caught.value.code == "content_policy"
    assert "content_policy_violation" in str(caught.value)


def test_429_with_retry_after_seconds(fake: FakeProviderServer) -> None:
    fake.state.inject("429", retry_after=7)
    with pytest.raises(RateLimitedError) as caught:
        call(fake, "text", "gpt-4o")
    assert caught.value.retry_after == 7


def test_429_with_retry_after_http_date(fake: FakeProviderServer) -> None:
    fake.state.inject("429", retry_after=30, retry_after_format="http-date")
    with pytest.raises(RateLimitedError) as caught:
        call(fake, "text", "gpt-4o")
    assert caught.value.retry_after is not None
    assert 25 <= caught.value.retry_after <= 30


def test_429_retry_after_ms_wins(fake: FakeProviderServer) -> None:
    fake.state.inject("429", retry_after=1.5, retry_after_format="ms")
    with pytest.raises(RateLimitedError) as caught:
        call(fake, "text", "gpt-4o")
    assert caught.value.retry_after == 1.5


def test_insufficient_quota_drops_the_account(fake: FakeProviderServer) -> None:
    fake.state.inject("insufficient_quota")
    with pytest.raises(CredentialsError) as caught:
        call(fake, "text", "gpt-4o")
    assert caught.value.code == "insufficient_quota"


def test_529_is_rate_limited_overloaded(fake: FakeProviderServer) -> None:
    fake.state.inject("529")
    with pytest.raises(RateLimitedError) as caught:
        call(fake, "text", "gpt-4o")
    assert caught.value.code == "overloaded"


def test_truncated_speech_stream_is_transient(fake: FakeProviderServer) -> None:
    fake.state.inject("truncate", path_contains="/audio/speech")
    with pytest.raises(TransientError):
        call(fake, "audio", "tts-1")


@pytest.mark.parametrize(
    ("media_type", "model", "path"),
    [("text", "gpt-4o", "/chat/completions"), ("image", "dall-e-2", "/images/generations")],
)
def test_empty_data_is_an_invalid_artifact(
    fake: FakeProviderServer, media_type: str, model: str, path: str
) -> None:
    fake.state.inject("empty_data", path_contains=path)
    with pytest.raises(ArtifactInvalid):
        call(fake, media_type, model)


def test_unsupported_media_type_is_permanent() -> None:
    from runner.providers.openai_compatible import OpenAICompatibleProvider

    request = GenerationRequest("video", "llama3", "x")
    with pytest.raises(PermanentError):
        generate(OpenAICompatibleProvider(), request, base_url="http://127.0.0.1:9/v1")


# -- secrets ---------------------------------------------------------------------------------

SECRET = "sk-test-DISTINCTIVE-0123456789"


def _everything_said(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc) + str(exc)


@pytest.mark.parametrize(
    "fault",
    [
        "400",
        "401",
        "429",
        "insufficient_quota",
        "500",
        "529",
        "content_policy",
        "drop",
        "truncate",
        "malformed_json",
        "empty_data",
        "stall",
    ],
)
def test_the_key_appears_in_no_error(fake: FakeProviderServer, fault: str) -> None:
    fake.state.inject(fault, delay_s=5, retry_after=3)
    with pytest.raises(MediamixError) as caught:
        call(fake, "text", "gpt-4o", api_key=SECRET, timeout=0.3)
    assert SECRET not in _everything_said(caught.value)


def test_a_key_echoed_by_the_server_is_redacted(fake: FakeProviderServer) -> None:
    echoed = "bad-DISTINCTIVE-0123456789"
    with pytest.raises(CredentialsError) as caught:
        call(fake, "text", "gpt-4o", api_key=echoed)
    said = _everything_said(caught.value)
    assert echoed not in said and "[REDACTED]" in said


def test_connection_refused_names_no_key() -> None:
    request = GenerationRequest("text", "gpt-4o", "x", timeout=2)
    with pytest.raises(TransientError) as caught:
        generate(OpenAIProvider(), request, base_url="http://127.0.0.1:9/v1", api_key=SECRET)
    assert SECRET not in _everything_said(caught.value)


@pytest.mark.parametrize("status", ["401", "404"])
def test_a_gone_image_url_is_permanent_not_a_key_problem(
    fake: FakeProviderServer, status: str
) -> None:
    """Retrying would pay for the picture again and the link will not come back."""
    fake.state.inject(status, path_contains="/_files/")
    with pytest.raises(PermanentError) as caught:
        call(fake, "image", "dall-e-2", params={"response_format": "url"})
    assert not isinstance(caught.value, CredentialsError)
    assert caught.value.code == "download_failed" and caught.value.http_status == int(status)


def test_a_server_error_downloading_the_image_is_transient(fake: FakeProviderServer) -> None:
    fake.state.inject("503", path_contains="/_files/")
    with pytest.raises(TransientError) as caught:
        call(fake, "image", "dall-e-2", params={"response_format": "url"})
    assert caught.value.code == "download_failed"
