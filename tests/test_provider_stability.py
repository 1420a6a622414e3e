"""The Stability adapter against the fake v2beta API over real HTTP on 127.0.0.1: Stable
Image generation (multipart in, image bytes out) and image-to-video with result polling."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from runner.errors import (
    ArtifactInvalid,
    CredentialsError,
    MediamixError,
    PermanentError,
    TransientError,
)
from runner.providers.registry import get_provider
from runner.providers.stability import StabilityProvider
from tests.fakeprovider import FakeProviderServer
from tests.fakeprovider.calls import Collected
from tests.provider_cases import FAILING_FAULTS, SECRET, everything_said, image_input, is_mp4, run

VIDEO_MODEL = "stable-video-diffusion"


def call(fake: FakeProviderServer, media_type: str, model: str, **kwargs: Any) -> Collected:
    return run(StabilityProvider(), fake, "stability", media_type, model, **kwargs)


def video(fake: FakeProviderServer, tmp_path: Path, **kwargs: Any) -> Collected:
    return call(fake, "video", VIDEO_MODEL, inputs=[image_input(tmp_path)], **kwargs)


def test_registry_resolves_stability() -> None:
    assert isinstance(get_provider("stability"), StabilityProvider)


# -- images ---------------------------------------------------------------------------------


def test_core_image_is_a_real_png_from_a_multipart_request(fake: FakeProviderServer) -> None:
    out = call(fake, "image", "stable-image-core", params={"aspect_ratio": "16:9"})
    assert out.body is not None and Image.open(io.BytesIO(out.body)).format == "PNG"
    assert out.result.mime == "image/png" and out.result.usage.images == 1
    assert out.result.metadata["seed"] == "1234"
    sent = fake.state.last("/stable-image/generate/")
    assert sent.path == "/stability/v2beta/stable-image/generate/core"
    assert sent.headers["content-type"].startswith("multipart/form-data")
    assert sent.headers["accept"] == "image/*"
    assert sent.headers["authorization"] == "Bearer sk-test-key"
    assert sent.form == {
        "prompt": "a lighthouse at dusk",
        "output_format": "png",
        "aspect_ratio": "16:9",
    }


def test_sd3_models_go_to_the_sd3_endpoint_with_a_model_field(fake: FakeProviderServer) -> None:
    call(fake, "image", "sd3.5-large")
    sent = fake.state.last("/stable-image/generate/")
    assert sent.path.endswith("/generate/sd3")
    assert sent.form["model"] == "sd3.5-large"


def test_ultra_jpeg_output_format(fake: FakeProviderServer) -> None:
    out = call(fake, "image", "stable-image-ultra", params={"output_format": "jpeg"})
    assert out.body is not None and Image.open(io.BytesIO(out.body)).format == "JPEG"
    assert out.result.mime == "image/jpeg"
    assert fake.state.last("/stable-image/").path.endswith("/generate/ultra")


def test_unknown_sd3_model_is_a_permanent_bad_request(fake: FakeProviderServer) -> None:
    with pytest.raises(PermanentError) as caught:
        call(fake, "image", "sd9-imaginary")
    assert caught.value.http_status == 400
    assert "bad_request" in str(caught.value) and "model:" in str(caught.value)


def test_content_filtered_image_is_a_content_policy_error(fake: FakeProviderServer) -> None:
    fake.state.inject("content_policy")
    with pytest.raises(PermanentError) as caught:
        call(fake, "image", "stable-image-core")
    assert caught.value.code == "content_policy"
    assert "CONTENT_FILTERED" in str(caught.value)


def test_empty_image_is_an_invalid_artifact(fake: FakeProviderServer) -> None:
    fake.state.inject("empty_data")
    with pytest.raises(ArtifactInvalid):
        call(fake, "image", "stable-image-core")


# -- video ----------------------------------------------------------------------------------


def test_video_without_an_image_input_is_refused_before_any_request(
    fake: FakeProviderServer,
) -> None:
    with pytest.raises(PermanentError) as caught:
        call(fake, "video", VIDEO_MODEL)
    assert caught.value.code == "needs_image"
    assert "needs an image input" in str(caught.value)
    assert fake.state.requests == []


def test_video_uploads_the_image_polls_and_streams_an_mp4(
    fake: FakeProviderServer, tmp_path: Path
) -> None:
    created: list[str] = []
    out = video(fake, tmp_path, params={"motion_bucket_id": 90}, on_task_created=created.append)
    assert out.body is not None and is_mp4(out.body)
    assert out.result.stream is not None and out.result.mime == "video/mp4"
    assert created == [out.result.task_id]
    (upload,) = [r for r in fake.state.requests if r.method == "POST"]
    assert upload.files["image"].startswith(b"\x89PNG")
    assert upload.form == {"motion_bucket_id": "90"}
    assert fake.state.count("/image-to-video/result/", method="GET") == 2
    assert fake.state.last("/result/").headers["accept"] == "video/*"


def test_video_resume_polls_without_uploading_again(
    fake: FakeProviderServer, tmp_path: Path
) -> None:
    first = video(fake, tmp_path)
    fake.state.requests.clear()
    again: list[str] = []
    out = video(fake, tmp_path, resume_task_id=first.result.task_id, on_task_created=again.append)
    assert out.body is not None and is_mp4(out.body)
    assert fake.state.count("/image-to-video", method="POST") == 0
    assert again == []


def test_resuming_an_unknown_generation_is_permanent(
    fake: FakeProviderServer, tmp_path: Path
) -> None:
    with pytest.raises(PermanentError) as caught:
        video(fake, tmp_path, resume_task_id="f" * 64)
    assert caught.value.http_status == 404


def test_video_still_rendering_past_the_timeout_keeps_the_id(
    fake: FakeProviderServer, tmp_path: Path
) -> None:
    fake.state.polls_until_done = 10**6
    created: list[str] = []
    with pytest.raises(TransientError) as caught:
        video(fake, tmp_path, timeout=0.3, on_task_created=created.append)
    assert caught.value.code == "poll_timeout"
    assert len(created) == 1 and created[0] in str(caught.value)


def test_moderated_video_request_403_is_a_content_policy_error(
    fake: FakeProviderServer, tmp_path: Path
) -> None:
    fake.state.inject("content_policy")
    with pytest.raises(PermanentError) as caught:
        video(fake, tmp_path)
    assert caught.value.code == "content_policy" and caught.value.http_status == 403


def test_failed_generation_is_transient(fake: FakeProviderServer, tmp_path: Path) -> None:
    fake.state.inject("task_failed")
    with pytest.raises(TransientError):
        video(fake, tmp_path)


def test_video_stream_cut_off_is_transient(fake: FakeProviderServer, tmp_path: Path) -> None:
    fake.state.polls_until_done = 1
    fake.state.inject("truncate", path_contains="/result/")
    with pytest.raises(TransientError):
        video(fake, tmp_path)


# -- HTTP errors ----------------------------------------------------------------------------


def test_bad_key_is_a_credentials_error(fake: FakeProviderServer) -> None:
    with pytest.raises(CredentialsError) as caught:
        call(fake, "image", "stable-image-core", api_key="bad-revoked-key-123")
    assert caught.value.http_status == 401
    assert "unauthorized" in str(caught.value)


def test_out_of_credits_drops_the_account(fake: FakeProviderServer) -> None:
    fake.state.inject("insufficient_quota")
    with pytest.raises(CredentialsError) as caught:
        call(fake, "image", "stable-image-core")
    assert caught.value.code == "insufficient_quota"
    assert "payment_required" in str(caught.value)


@pytest.mark.parametrize("fault", [*FAILING_FAULTS, "content_policy", "empty_data"])
def test_the_key_appears_in_no_error(fake: FakeProviderServer, fault: str) -> None:
    fake.state.inject(fault, delay_s=5, retry_after=3)
    with pytest.raises(MediamixError) as caught:
        call(fake, "image", "stable-image-core", api_key=SECRET, timeout=0.3)
    assert SECRET not in everything_said(caught.value)
