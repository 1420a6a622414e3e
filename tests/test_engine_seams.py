"""Seams a newcomer hit, through the real engine over HTTP to the fake server: what a
retry costs, what a short answer says, and what a rate limit without Retry-After logs.

- A deterministic defect (wrong size for what the preset asked) moves to the next
  candidate after one paid attempt; a random one (a blank image) keeps its retries.
- A 404 downloading a generated image is permanent: no second paid generation.
- ``params: {n: 3}`` answered with one image is a ``fewer_outputs`` event and a warning.
- A 429 without Retry-After logs the cooldown that actually applies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner.engine.services import EngineOptions, Progress
from runner.errors import StorageError
from runner.storage import local as local_storage
from tests.engine_support import Project
from tests.fakeprovider import FakeProviderServer
from tests.test_engine_providers import (
    LOCAL_FALLBACK,
    account,
    http_project,
    outcome,
    rows,
    run_project,
    two_openai_accounts,
    write_pipeline,
    write_preset,
)


def image_project(
    fake: FakeProviderServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    params: dict[str, Any],
    validate: dict[str, Any] | None = None,
) -> Project:
    """dall-e-2 at the fake OpenAI (it answers at a quarter of the asked size), then a
    local card; three attempts per candidate."""
    monkeypatch.setenv("MMX_OPENAI_KEY", "sk-test-seams")
    project = http_project(tmp_path, [account(fake, "openai", "main", "MMX_OPENAI_KEY")])
    models = [
        {"provider": "openai", "model": "dall-e-2", "params": params},
        LOCAL_FALLBACK["image"],
    ]
    extra: dict[str, Any] = {"retry": {"max_attempts": 3}}
    if validate is not None:
        extra["validate"] = validate
    write_preset(project, "image", models, **extra)
    write_pipeline(project, [{"id": "cover", "preset": "p", "prompt": "a lighthouse"}])
    return project


def validation_events(project: Project) -> list[dict[str, Any]]:
    found = rows(project, "SELECT data FROM events WHERE kind = 'validation_failed'")
    return [json.loads(r["data"]) for r in found]


def test_a_wrong_size_moves_to_the_next_candidate_after_one_attempt(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Asked 256x256 of a preset that needs 200 px: the fake answers 64x64, every time.
    project = image_project(
        fake, tmp_path, monkeypatch, params={"size": "256x256"}, validate={"min_width": 200}
    )
    result = run_project(project)

    assert result.status == "succeeded"
    assert outcome(project) == [
        ("openai", "failed", "invalid_artifact"),  # paid once, not three times
        ("local", "succeeded", None),
    ]
    assert fake.state.count("/images/generations") == 1
    (event,) = validation_events(project)
    assert event["deterministic"] is True
    (message,) = rows(project, "SELECT message FROM events WHERE kind = 'validation_failed'")
    assert "64x64" in message["message"] and "next candidate" in message["message"]


def test_a_blank_image_keeps_its_retries_on_the_same_candidate(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = image_project(fake, tmp_path, monkeypatch, params={"size": "1024x1024"})
    fake.state.inject("blank_image", path_contains="/images/generations", times=1)
    result = run_project(project)

    assert result.jobs[0].artifacts[0].provider == "openai"
    assert outcome(project) == [
        ("openai", "failed", "invalid_artifact"),
        ("openai", "succeeded", None),  # a placeholder may not come twice: retried
    ]
    (event,) = validation_events(project)
    assert event["deterministic"] is False


def test_a_404_downloading_the_image_is_permanent_not_retried(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = image_project(
        fake, tmp_path, monkeypatch, params={"size": "1024x1024", "response_format": "url"}
    )
    fake.state.inject("404", path_contains="/_files/", times=5)
    result = run_project(project)

    assert result.status == "succeeded"
    assert outcome(project) == [("openai", "failed", "permanent"), ("local", "succeeded", None)]
    assert fake.state.count("/images/generations") == 1  # never generated (paid) twice
    (attempt,) = rows(project, "SELECT http_status, error FROM attempts WHERE status = 'failed'")
    assert attempt["http_status"] == 404 and "downloading the generated image" in attempt["error"]


def test_n_images_answered_short_is_an_event_and_a_warning(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = image_project(fake, tmp_path, monkeypatch, params={"size": "1024x1024", "n": 3})
    fake.state.inject("fewer_outputs", path_contains="/images/generations")
    seen: list[Progress] = []
    result = run_project(
        project,
        options=EngineOptions(no_wait=True, poll_interval_s=0.0),
        progress=seen.append,
    )

    (job,) = result.jobs
    assert job.status == "succeeded" and len(job.artifacts) == 1  # what came is kept
    expected = "openai/dall-e-2 returned 1 of the 3 image outputs asked for (params.n = 3)"
    assert job.warnings == [expected]
    assert result.as_dict()["jobs"][0]["warnings"] == [expected]
    assert [p.message for p in seen if p.kind == "warning"] == [expected]
    (event,) = rows(project, "SELECT message, data FROM events WHERE kind = 'fewer_outputs'")
    assert event["message"] == expected
    assert (json.loads(event["data"])["asked"], json.loads(event["data"])["received"]) == (3, 1)


def test_n_images_answered_in_full_warns_nothing(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = image_project(fake, tmp_path, monkeypatch, params={"size": "1024x1024", "n": 3})
    result = run_project(project)
    assert len(result.jobs[0].artifacts) == 3 and result.jobs[0].warnings == []
    assert rows(project, "SELECT * FROM events WHERE kind = 'fewer_outputs'") == []


def test_a_429_without_retry_after_logs_the_cooldown_that_applies(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = two_openai_accounts(fake, tmp_path, monkeypatch, "sk-test-first", steps=2)
    fake.state.inject("429", path_contains="/chat/completions")  # no Retry-After header
    result = run_project(project)

    assert result.status == "succeeded"
    (cooldown,) = rows(project, "SELECT message, data FROM events WHERE kind = 'account_cooldown'")
    assert cooldown["message"] == (
        "account first rate limited; cooling down 5s (no Retry-After sent)"
    )
    data = json.loads(cooldown["data"])
    assert data["retry_after_s"] is None and data["cooldown_s"] == 5.0


def test_a_429_with_retry_after_says_so(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = two_openai_accounts(fake, tmp_path, monkeypatch, "sk-test-first", steps=2)
    fake.state.inject("429", path_contains="/chat/completions", retry_after=30)
    run_project(project)
    (cooldown,) = rows(project, "SELECT message FROM events WHERE kind = 'account_cooldown'")
    assert cooldown["message"] == (
        "account first rate limited; cooling down 30s (as Retry-After asked)"
    )


def test_n_images_whose_storage_fails_part_way_are_all_parked_and_stored_later(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three pictures paid in one call; the outputs refuse the second. None is lost: all
    three are parked, no hidden half-staged file stays in the outputs, and the next run
    stores the three without a new call."""
    project = image_project(fake, tmp_path, monkeypatch, params={"size": "1024x1024", "n": 3})
    real_put = local_storage.LocalBackend.put
    puts = [0]

    async def second_put_fails(
        self: local_storage.LocalBackend, local_path: Path, key: str, *, move: bool
    ) -> Path:
        puts[0] += 1
        if puts[0] == 2:
            raise StorageError(f"cannot write artifact {key}: No space left on device")
        return await real_put(self, local_path, key, move=move)

    monkeypatch.setattr(local_storage.LocalBackend, "put", second_put_fails)
    first = run_project(project)

    assert first.jobs[0].status == "failed"
    (parked,) = (project.root / ".mediamix" / "parked").glob("*/parked.json")
    assert len(json.loads(parked.read_text())["outputs"]) == 3
    outputs = project.root / "outputs"
    assert [p.name for p in outputs.rglob(".*")] == []  # nothing half-staged left behind
    monkeypatch.setattr(local_storage.LocalBackend, "put", real_put)

    second = run_project(project)

    assert second.status == "succeeded" and len(second.jobs[0].artifacts) == 3
    assert fake.state.count("/images/generations") == 1  # the three were paid for once
    stored = sorted(p for p in outputs.rglob("*.png"))
    assert len(stored) == 3 and all(p.stat().st_size > 0 for p in stored)
