"""The Runway adapter against the fake Runway API over real HTTP on 127.0.0.1: task
create -> poll -> download, from text or from an image."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.errors import (
    ArtifactInvalid,
    CredentialsError,
    MediamixError,
    PermanentError,
    TransientError,
)
from runner.providers.base import InputAsset
from runner.providers.registry import get_provider
from runner.providers.runway import RunwayProvider
from tests.fakeprovider import FakeProviderServer
from tests.fakeprovider.calls import Collected
from tests.provider_cases import FAILING_FAULTS, SECRET, everything_said, image_input, is_mp4, run

MODEL = "gen4.5"


def call(fake: FakeProviderServer, model: str = MODEL, **kwargs: Any) -> Collected:
    return run(RunwayProvider(), fake, "runway", "video", model, **kwargs)


def test_registry_resolves_runway() -> None:
    assert isinstance(get_provider("runway"), RunwayProvider)


# -- happy paths ----------------------------------------------------------------------------


def test_text_to_video_creates_polls_and_downloads_an_mp4(fake: FakeProviderServer) -> None:
    fake.state.polls_until_done = 3  # THROTTLED, RUNNING, SUCCEEDED
    created: list[str] = []
    out = call(fake, on_task_created=created.append)
    assert out.body is not None and is_mp4(out.body)
    assert out.result.stream is not None and out.result.mime == "video/mp4"
    assert created == [out.result.task_id]
    assert out.result.usage.seconds == 5.0
    sent = fake.state.last("/v1/text_to_video")
    assert sent.headers["authorization"] == "Bearer sk-test-key"
    assert sent.headers["x-runway-version"] == "2024-11-06"
    assert sent.json == {
        "model": MODEL,
        "promptText": "a lighthouse at dusk",
        "ratio": "1280:720",
        "duration": 5,
    }
    assert fake.state.count("/v1/tasks/", method="GET") == 3
    assert fake.state.count("/v1/image_to_video") == 0


def test_the_output_link_is_fetched_without_credentials(fake: FakeProviderServer) -> None:
    call(fake)
    download = fake.state.last("/_files/")
    assert "authorization" not in download.headers
    assert "x-runway-version" not in download.headers


def test_params_set_ratio_duration_and_seed(fake: FakeProviderServer) -> None:
    out = call(fake, params={"ratio": "720:1280", "duration": 8, "seed": 7})
    sent = fake.state.last("/v1/text_to_video").json
    assert (sent["ratio"], sent["duration"], sent["seed"]) == ("720:1280", 8, 7)
    assert out.result.usage.seconds == 8.0


def test_a_local_image_input_goes_as_a_data_uri(fake: FakeProviderServer, tmp_path: Path) -> None:
    out = call(fake, "gen4_turbo", inputs=[image_input(tmp_path)])
    assert out.body is not None and is_mp4(out.body)
    sent = fake.state.last("/v1/image_to_video").json
    assert sent["promptImage"].startswith("data:image/png;base64,iVBOR")
    assert sent["model"] == "gen4_turbo"
    assert fake.state.count("/v1/text_to_video") == 0


def test_a_public_https_image_goes_as_its_url(fake: FakeProviderServer) -> None:
    url = "https://cdn.example.com/cover.png"
    call(fake, "gen4_turbo", inputs=[InputAsset("image", "image/png", url=url, step="cover")])
    assert fake.state.last("/v1/image_to_video").json["promptImage"] == url


def test_resume_polls_the_old_task_without_creating(fake: FakeProviderServer) -> None:
    first = call(fake)
    fake.state.requests.clear()
    again: list[str] = []
    out = call(fake, resume_task_id=first.result.task_id, on_task_created=again.append)
    assert out.body is not None and is_mp4(out.body)
    assert fake.state.count("_to_video", method="POST") == 0
    assert again == []


# -- tasks that do not succeed --------------------------------------------------------------


def test_moderated_task_is_a_content_policy_error(fake: FakeProviderServer) -> None:
    fake.state.inject("content_policy")
    with pytest.raises(PermanentError) as caught:
        call(fake)
    assert caught.value.code == "content_policy"
    assert "SAFETY.INPUT.TEXT" in str(caught.value)


def test_internal_failure_is_transient(fake: FakeProviderServer) -> None:
    fake.state.inject("task_failed")
    with pytest.raises(TransientError) as caught:
        call(fake)
    assert caught.value.code == "INTERNAL.BAD_OUTPUT.CODE01"


def test_cancelled_task_is_permanent(fake: FakeProviderServer) -> None:
    created: list[str] = []
    fake.state.polls_until_done = 10**6
    with pytest.raises(TransientError):
        call(fake, timeout=0.2, on_task_created=created.append)

    async def cancel() -> int:
        async with httpx.AsyncClient() as client:
            response = await client.delete(
                f"{fake.base_url('runway')}/v1/tasks/{created[0]}",
                headers={"Authorization": "Bearer sk-test-key"},
            )
            return response.status_code

    assert asyncio.run(cancel()) == 204
    with pytest.raises(PermanentError) as caught:
        call(fake, resume_task_id=created[0])
    assert caught.value.code == "cancelled"


def test_still_running_past_the_timeout_keeps_the_task_id(fake: FakeProviderServer) -> None:
    fake.state.polls_until_done = 10**6
    created: list[str] = []
    with pytest.raises(TransientError) as caught:
        call(fake, timeout=0.3, on_task_created=created.append)
    assert caught.value.code == "poll_timeout"
    assert len(created) == 1 and created[0] in str(caught.value)


def test_download_cut_off_is_transient(fake: FakeProviderServer) -> None:
    fake.state.inject("truncate", path_contains="/_files/")
    with pytest.raises(TransientError):
        call(fake)


def test_success_without_output_is_an_invalid_artifact(fake: FakeProviderServer) -> None:
    fake.state.inject("empty_data")
    with pytest.raises(ArtifactInvalid):
        call(fake)


# -- HTTP errors ----------------------------------------------------------------------------


def test_a_bad_ratio_is_a_permanent_error_naming_the_field(fake: FakeProviderServer) -> None:
    with pytest.raises(PermanentError) as caught:
        call(fake, params={"ratio": "wide"})
    assert caught.value.http_status == 400
    assert "ratio" in str(caught.value)


def test_bad_key_is_a_credentials_error(fake: FakeProviderServer) -> None:
    with pytest.raises(CredentialsError) as caught:
        call(fake, api_key="bad-revoked-key-123")
    assert caught.value.http_status == 401


def test_a_stalled_create_is_transient(fake: FakeProviderServer) -> None:
    fake.state.inject("stall", delay_s=10, path_contains="/v1/text_to_video")
    with pytest.raises(TransientError) as caught:
        call(fake, timeout=0.3)
    assert "timed out" in str(caught.value)


def test_a_poll_stalled_past_the_deadline_still_names_the_task(fake: FakeProviderServer) -> None:
    fake.state.inject("stall", delay_s=10, path_contains="/v1/tasks/")
    created: list[str] = []
    with pytest.raises(TransientError) as caught:
        call(fake, timeout=0.3, on_task_created=created.append)
    assert caught.value.code == "poll_timeout"
    assert created[0] in str(caught.value)


@pytest.mark.parametrize("fault", [*FAILING_FAULTS, "content_policy", "task_failed"])
def test_the_key_appears_in_no_error(fake: FakeProviderServer, fault: str) -> None:
    # On the task's creation only: the fake is shared by the tests of one worker, and a
    # late request of another test must not take the fault meant for this one.
    fake.state.inject(fault, delay_s=5, retry_after=3, path_contains="_to_video")
    with pytest.raises(MediamixError) as caught:
        call(fake, api_key=SECRET, timeout=0.3)
    assert SECRET not in everything_said(caught.value)
