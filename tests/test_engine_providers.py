"""Every HTTP adapter through the real engine: real HTTP to the fake server, real files,
real DuckDB. A user's view: the artifact opens, the run log says who made it, how much
it used and what it cost; each kind of vendor error leads to the right next move.

The helpers at the top (a project whose accounts point at the fake server, a run, the
run log's rows) are shared by the other engine-over-HTTP tests.
"""

from __future__ import annotations

import asyncio
import json
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from runner.config.project import load_workspace
from runner.engine.api import plan_pipeline, run_plan
from runner.engine.results import RunResult
from runner.engine.services import EngineOptions, ProgressCallback
from runner.validation.mp4 import read_movie
from tests.engine_support import Project, log_rows, make_project
from tests.fakeprovider import FakeProviderServer
from tests.provider_cases import is_mp3

# -- shared helpers -----------------------------------------------------------------------

#: Account options some vendors need (Azure: deployment names and API version).
VENDOR_OPTIONS: dict[str, dict[str, Any]] = {
    "azure": {"api_version": "2025-01-01-preview", "deployments": {"gpt-4o": "prod-4o"}},
}


def account(
    fake: FakeProviderServer, provider: str, name: str, key_env: str | None, **extra: Any
) -> dict[str, Any]:
    """One accounts.yaml entry pointing ``provider`` at the fake server."""
    entry: dict[str, Any] = {"name": name, "provider": provider}
    if key_env is not None:
        entry["api_key_env"] = key_env
    entry["base_url"] = fake.base_url(provider)
    if provider in VENDOR_OPTIONS:
        entry["options"] = VENDOR_OPTIONS[provider]
    entry.update(extra)
    return entry


def http_project(root: Path, accounts: list[dict[str, Any]]) -> Project:
    # JSON is YAML: the accounts file is written exactly as the entries say.
    return make_project(root, accounts=json.dumps({"accounts": accounts}, indent=2) + "\n")


def write_preset(
    project: Project, media_type: str, models: list[dict[str, Any]], **extra: Any
) -> None:
    project.write(
        "presets/p.yaml", json.dumps({"media_type": media_type, "models": models, **extra})
    )


def write_pipeline(project: Project, steps: list[dict[str, Any]], **extra: Any) -> None:
    project.write("pipelines/p.yaml", json.dumps({"steps": steps, **extra}))


def run_project(
    project: Project,
    *,
    options: EngineOptions | None = None,
    progress: ProgressCallback | None = None,
    **inputs: Any,
) -> RunResult:
    ws = load_workspace(project.root)
    plan = plan_pipeline(project.root / "pipelines/p.yaml", ws, inputs)
    chosen = options or EngineOptions(no_wait=True, poll_interval_s=0.0)
    return asyncio.run(run_plan(plan, ws, options=chosen, progress=progress))


def rows(project: Project, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    return log_rows(project.runlog, sql, params)


def attempts_of(project: Project) -> list[dict[str, Any]]:
    return rows(project, "SELECT * FROM attempts ORDER BY started_at, number")


# -- 1. happy paths -----------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    provider: str
    media_type: str
    model: str
    #: Whether the price table knows the model (cost must then be a positive number).
    priced: bool = True
    params: dict[str, Any] | None = None
    #: The step needs an earlier picture (image-to-video).
    image_input: bool = False

    @property
    def id(self) -> str:
        return f"{self.provider}-{self.media_type}-{self.model}"


CASES = [
    Case("openai", "text", "gpt-4o-mini"),
    Case("openai", "image", "dall-e-3"),
    Case("openai", "image", "gpt-image-1"),
    Case("openai", "audio", "tts-1"),
    Case("openai", "video", "sora-2"),
    Case("azure", "text", "gpt-4o"),
    Case("azure", "image", "dall-e-3"),
    Case("azure", "audio", "tts-1"),
    Case("openai_compatible", "text", "llama3.1", priced=False),
    Case("openai_compatible", "image", "flux-schnell", priced=False),
    Case("anthropic", "text", "claude-sonnet-4-5"),
    Case("google", "text", "gemini-2.5-flash"),
    Case("google", "image", "imagen-4.0-generate-001"),
    Case("google", "audio", "gemini-2.5-flash-preview-tts"),
    Case("google", "video", "veo-3.0-generate-001"),
    Case("cohere", "text", "command-a-03-2025"),
    Case("elevenlabs", "audio", "eleven_multilingual_v2"),
    Case("stability", "image", "stable-image-core"),
    Case("stability", "video", "stable-video-diffusion", image_input=True),
    Case("runway", "video", "gen4.5"),
]


def assert_opens(path: Path, media_type: str) -> None:
    """The artifact is what it claims to be, as a user opening it would find."""
    data = path.read_bytes()
    if media_type == "text":
        assert data.decode("utf-8").strip()
    elif media_type == "image":
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            low, high = image.convert("L").getextrema()
            assert image.size[0] > 0 and low != high
    elif media_type == "audio":
        if data.startswith(b"RIFF"):
            with wave.open(str(path)) as audio:
                assert audio.getnframes() > 0
        else:
            assert is_mp3(data)
    else:
        movie = read_movie(path)
        (track,) = movie.tracks_of("vide")
        assert track.sample_count > 0


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_happy_path_through_the_engine(
    case: Case, fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_env = f"MMX_TEST_{case.provider.upper()}_KEY"
    monkeypatch.setenv(key_env, f"key-for-{case.provider}")
    project = http_project(tmp_path, [account(fake, case.provider, "main", key_env)])
    write_preset(project, case.media_type, [{"provider": case.provider, "model": case.model}])
    steps: list[dict[str, Any]] = []
    if case.image_input:
        project.write(
            "presets/still.yaml",
            json.dumps({"media_type": "image", "models": [{"provider": "local", "model": "card"}]}),
        )
        steps.append({"id": "still", "preset": "still", "prompt": "a lighthouse"})
    step: dict[str, Any] = {"id": "only", "preset": "p", "prompt": "a lighthouse at dusk"}
    if case.image_input:
        step["inputs_from"] = ["still"]
    steps.append(step)
    write_pipeline(project, steps)

    result = run_project(project)

    assert result.status == "succeeded", [j.error for j in result.jobs]
    job = next(j for j in result.jobs if j.step_id == "only")
    (artifact,) = job.artifacts
    assert artifact.provider == case.provider and artifact.model == case.model
    path = Path(artifact.path or "")
    assert path.is_file() and path.is_relative_to(project.root / "outputs")
    assert_opens(path, case.media_type)
    stored_files = {Path(a.path or "") for j in result.jobs for a in j.artifacts}
    on_disk = {p for p in (project.root / "outputs").rglob("*") if p.is_file()}
    assert on_disk == stored_files  # no temporary (.part) or stray file left behind

    (attempt,) = [a for a in attempts_of(project) if a["provider"] == case.provider]
    assert attempt["status"] == "succeeded"
    assert (attempt["model"], attempt["account"]) == (case.model, "main")
    assert attempt["bytes"] == path.stat().st_size
    used = [attempt[k] for k in ("input_tokens", "output_tokens", "units")]
    assert any(u is not None and u > 0 for u in used), attempt
    if case.priced:
        assert attempt["cost_usd"] is not None and attempt["cost_usd"] > 0
    else:
        assert attempt["cost_usd"] is None  # unknown price: NULL, never 0
    (stored,) = rows(
        project,
        "SELECT uri, size, sha256 FROM artifacts WHERE job_id = ?",
        [job.job_id],
    )
    assert stored["size"] == path.stat().st_size and stored["sha256"] == artifact.sha256
    (logged_job,) = rows(
        project,
        "SELECT status, provider, model, account, cost_usd FROM jobs WHERE job_id = ?",
        [job.job_id],
    )
    assert logged_job["status"] == "succeeded" and logged_job["account"] == "main"
    assert logged_job["cost_usd"] == attempt["cost_usd"]


# -- 2. each error class leads to the right action ----------------------------------------

#: The path every request to a vendor starts with (faults are matched by substring).
VENDOR_PATH = {
    "openai": "/openai/v1/",
    "azure": "/azure/",
    "openai_compatible": "/compat/v1/",
    "anthropic": "/anthropic/",
    "google": "/google/v1beta/",
    "cohere": "/cohere/",
    "elevenlabs": "/elevenlabs/",
    "stability": "/stability/",
    "runway": "/runway/",
}

#: The local last resort per media type (small, fast settings).
LOCAL_FALLBACK: dict[str, dict[str, Any]] = {
    "text": {"provider": "local", "model": "template"},
    "image": {"provider": "local", "model": "card", "params": {"width": 320, "height": 240}},
    "audio": {"provider": "local", "model": "espeak"},
    "video": {
        "provider": "local",
        "model": "slideshow",
        "params": {"width": 160, "height": 120, "seconds_per_image": 1},
    },
}

#: One case per vendor for the error matrix.
PRIMARY = {
    c.provider: c
    for c in [
        Case("openai", "text", "gpt-4o-mini"),
        Case("azure", "text", "gpt-4o"),
        Case("openai_compatible", "text", "llama3.1", priced=False),
        Case("anthropic", "text", "claude-sonnet-4-5"),
        Case("google", "text", "gemini-2.5-flash"),
        Case("cohere", "text", "command-a-03-2025"),
        Case("elevenlabs", "audio", "eleven_multilingual_v2"),
        Case("stability", "image", "stable-image-core"),
        Case("runway", "video", "gen4.5"),
    ]
}

#: Vendors whose answers differ most (plain JSON, Gemini's 400-for-a-bad-key, media bytes,
#: a video task): the engine's reaction to a class of error is the same for all, and the
#: adapter tests check every vendor's mapping.
REPRESENTATIVE = ["openai", "google", "elevenlabs", "runway"]

#: The placeholder a vendor sends instead of real media, per media type.
PLACEHOLDER = {"text": "empty_data", "image": "blank_image", "audio": "silence"}

ATTEMPTS = 3

#: Vendors whose answer is the media itself (not JSON around it).
BINARY_ANSWERS = frozenset({"elevenlabs", "stability"})


def vendor_then_local(
    fake: FakeProviderServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: Case,
    *,
    key: str = "sk-test-good",
    **preset: Any,
) -> Project:
    """A one-step project: ``case``'s vendor model first, the local generator after it."""
    monkeypatch.setenv("MMX_VENDOR_KEY", key)
    project = http_project(tmp_path, [account(fake, case.provider, "main", "MMX_VENDOR_KEY")])
    models = [{"provider": case.provider, "model": case.model}, LOCAL_FALLBACK[case.media_type]]
    write_preset(project, case.media_type, models, retry={"max_attempts": ATTEMPTS}, **preset)
    write_pipeline(project, [{"id": "only", "preset": "p", "prompt": "a lighthouse at dusk"}])
    return project


def outcome(project: Project) -> list[tuple[str, str, str | None]]:
    return [(a["provider"], a["status"], a["error_class"]) for a in attempts_of(project)]


def assert_local_made_it(result: RunResult) -> None:
    assert result.status == "succeeded", [j.error for j in result.jobs]
    (artifact,) = result.jobs[0].artifacts
    assert artifact.provider == "local" and Path(artifact.path or "").is_file()


@pytest.mark.parametrize("provider", REPRESENTATIVE)
def test_rejected_key_with_one_account_falls_back_to_the_next_candidate(
    provider: str, fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = PRIMARY[provider]
    project = vendor_then_local(fake, tmp_path, monkeypatch, case, key="bad-revoked-0001")
    result = run_project(project)

    assert_local_made_it(result)
    # One refusal is enough: the account is unusable, asking again cannot help.
    assert fake.state.count(VENDOR_PATH[provider]) == 1
    assert outcome(project) == [
        (provider, "failed", "credentials"),
        ("local", "succeeded", None),
    ]
    (skipped,) = rows(project, "SELECT message FROM events WHERE kind = 'candidate_skipped'")
    assert "account main is error" in skipped["message"]


@pytest.mark.parametrize("provider", REPRESENTATIVE)
def test_invalid_request_moves_on_at_once_without_retrying(
    provider: str, fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = PRIMARY[provider]
    project = vendor_then_local(fake, tmp_path, monkeypatch, case)
    fake.state.inject("400", path_contains=VENDOR_PATH[provider], times=ATTEMPTS)
    result = run_project(project)

    assert_local_made_it(result)
    assert fake.state.count(VENDOR_PATH[provider]) == 1
    assert outcome(project) == [(provider, "failed", "permanent"), ("local", "succeeded", None)]
    assert attempts_of(project)[0]["http_status"] == 400


#: Every vendor with a 5xx, some with a dropped connection; every other transport fault on
#: one JSON vendor and one whose answer is the media itself (adapter tests cover the rest).
TRANSIENT_CASES = [
    *((provider, "500") for provider in PRIMARY),
    *((provider, "drop") for provider in REPRESENTATIVE),
    *(
        (provider, fault)
        for provider in ("openai", "stability")
        for fault in ("503", "truncate", "malformed_json", "stall")
    ),
]


@pytest.mark.parametrize(("provider", "fault"), TRANSIENT_CASES)
def test_transient_faults_are_retried_on_the_same_candidate_then_fall_back(
    provider: str,
    fault: str,
    fake: FakeProviderServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = PRIMARY[provider]
    project = vendor_then_local(fake, tmp_path, monkeypatch, case)
    if fault == "stall":  # a short per-attempt timeout so the stall is one
        models = [
            {"provider": provider, "model": case.model, "timeout": 0.3},
            LOCAL_FALLBACK[case.media_type],
        ]
        write_preset(project, case.media_type, models, retry={"max_attempts": ATTEMPTS})
    fake.state.inject(fault, path_contains=VENDOR_PATH[provider], times=ATTEMPTS)
    result = run_project(project)

    assert_local_made_it(result)
    # A JSON body where the vendor sends media bytes is wrong content, not a broken answer.
    binary = provider in BINARY_ANSWERS and fault == "malformed_json"
    expected = "invalid_artifact" if binary else "transient"
    made = outcome(project)
    assert made[:ATTEMPTS] == [(provider, "failed", expected)] * ATTEMPTS, made
    assert made[ATTEMPTS:] == [("local", "succeeded", None)]


@pytest.mark.parametrize("provider", REPRESENTATIVE)
def test_one_transient_fault_is_recovered_on_the_same_candidate(
    provider: str, fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = PRIMARY[provider]
    project = vendor_then_local(fake, tmp_path, monkeypatch, case)
    fake.state.inject("500", path_contains=VENDOR_PATH[provider])
    result = run_project(project)

    assert result.status == "succeeded"
    assert result.jobs[0].artifacts[0].provider == provider
    assert outcome(project) == [(provider, "failed", "transient"), (provider, "succeeded", None)]


#: What each fake vendor says when it blocks a prompt: it must reach the attempt's error.
BLOCK_REASON = {
    "openai": "rejected as a result of our safety system",
    "azure": "content management policy",
    "openai_compatible": "rejected as a result of our safety system",
    "anthropic": "refusal",
    "google": "PROHIBITED_CONTENT",
    "cohere": "rejected as a result of our safety system",
    "elevenlabs": "rejected as a result of our safety system",
    "stability": "CONTENT_FILTERED",
    "runway": "did not pass content moderation",
}


@pytest.mark.parametrize("provider", PRIMARY)
def test_content_policy_moves_on_and_keeps_the_reason(
    provider: str, fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = PRIMARY[provider]
    project = vendor_then_local(fake, tmp_path, monkeypatch, case)
    fake.state.inject("content_policy", path_contains=VENDOR_PATH[provider], times=ATTEMPTS)
    result = run_project(project)

    assert_local_made_it(result)
    assert outcome(project) == [(provider, "failed", "permanent"), ("local", "succeeded", None)]
    blocked = attempts_of(project)[0]
    assert BLOCK_REASON[provider] in blocked["error"]
    (event,) = rows(project, "SELECT message FROM events WHERE kind = 'candidate_failed'")
    assert BLOCK_REASON[provider] in event["message"]


@pytest.mark.parametrize("provider", [p for p, c in PRIMARY.items() if c.media_type in PLACEHOLDER])
def test_placeholder_media_is_invalid_then_falls_back(
    provider: str, fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = PRIMARY[provider]
    project = vendor_then_local(fake, tmp_path, monkeypatch, case)
    placeholder = PLACEHOLDER[case.media_type]
    fake.state.inject(placeholder, path_contains=VENDOR_PATH[provider], times=ATTEMPTS)
    result = run_project(project)

    assert_local_made_it(result)
    made = outcome(project)
    assert made == [(provider, "failed", "invalid_artifact")] * ATTEMPTS + [
        ("local", "succeeded", None)
    ]
    # Nothing the vendor sent was kept: the only artifact is the local one.
    assert [r["job_id"] for r in rows(project, "SELECT job_id FROM artifacts")] == [
        result.jobs[0].job_id
    ]
    invalid = rows(project, "SELECT count(*) AS n FROM events WHERE kind = 'validation_failed'")
    assert invalid == [{"n": ATTEMPTS}]


def test_image_placeholder_from_a_picture_vendor(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenAI's blank picture (the text vendors above send empty answers instead)."""
    case = Case("openai", "image", "dall-e-3")
    project = vendor_then_local(fake, tmp_path, monkeypatch, case)
    fake.state.inject("blank_image", path_contains="/images/", times=ATTEMPTS)
    result = run_project(project)

    assert_local_made_it(result)
    failed = [a for a in attempts_of(project) if a["status"] == "failed"]
    assert [a["error_class"] for a in failed] == ["invalid_artifact"] * ATTEMPTS
    assert all("flat" in a["error"].lower() or "blank" in a["error"].lower() for a in failed)


def two_openai_accounts(
    fake: FakeProviderServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    first_key: str,
    *,
    steps: int = 2,
) -> Project:
    """Accounts ``first`` and ``second`` at OpenAI; ``steps`` text steps run one after another."""
    monkeypatch.setenv("MMX_FIRST_KEY", first_key)
    monkeypatch.setenv("MMX_SECOND_KEY", "sk-test-second")
    project = http_project(
        tmp_path,
        [
            account(fake, "openai", "first", "MMX_FIRST_KEY"),
            account(fake, "openai", "second", "MMX_SECOND_KEY"),
        ],
    )
    models = [{"provider": "openai", "model": "gpt-4o-mini"}, LOCAL_FALLBACK["text"]]
    write_preset(project, "text", models, retry={"max_attempts": ATTEMPTS})
    chain = [{"id": "s1", "preset": "p", "prompt": "first"}]
    for n in range(2, steps + 1):
        chain.append({"id": f"s{n}", "preset": "p", "prompt": f"{{{{ steps.s{n - 1}.text }}}}"})
    write_pipeline(project, chain)
    return project


def test_rejected_key_marks_the_account_and_the_next_account_serves(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = two_openai_accounts(fake, tmp_path, monkeypatch, "bad-revoked-0002", steps=3)
    result = run_project(project)

    assert result.status == "succeeded"
    assert {a.provider for _, a in result.artifacts} == {"openai"}
    made = [(a["account"], a["status"], a["error_class"]) for a in attempts_of(project)]
    assert made == [
        ("first", "failed", "credentials"),
        ("second", "succeeded", None),
        ("second", "succeeded", None),  # later steps never try the rejected account again
        ("second", "succeeded", None),
    ]
    assert fake.state.count("/chat/completions", key="bad-revoked-0002") == 1


def test_rate_limit_cools_that_account_and_the_other_serves(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = two_openai_accounts(fake, tmp_path, monkeypatch, "sk-test-first", steps=3)
    fake.state.inject("429", path_contains="/chat/completions", retry_after=30)
    result = run_project(project)

    assert result.status == "succeeded"
    made = [(a["account"], a["status"], a["error_class"]) for a in attempts_of(project)]
    assert made == [
        ("first", "failed", "rate_limited"),
        ("second", "succeeded", None),
        ("second", "succeeded", None),  # first is still cooling down
        ("second", "succeeded", None),
    ]
    assert attempts_of(project)[0]["retry_after_s"] == 30
    (cooldown,) = rows(project, "SELECT data FROM events WHERE kind = 'account_cooldown'")
    assert json.loads(cooldown["data"])["account"] == "first"


def test_rate_limit_on_the_only_account_waits_for_retry_after(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = PRIMARY["openai"]
    project = vendor_then_local(fake, tmp_path, monkeypatch, case)
    fake.state.inject("429", path_contains="/chat/completions", retry_after=1)
    result = run_project(project)

    assert result.jobs[0].artifacts[0].provider == "openai"
    refused, answered = fake.state.requests
    # MEDIAMIX_NO_WAIT removes backoff, not the vendor's Retry-After: the account waited.
    assert answered.timestamp - refused.timestamp >= 1.0
    assert outcome(project) == [("openai", "failed", "rate_limited"), ("openai", "succeeded", None)]


def test_retry_after_longer_than_the_preset_allows_moves_on(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = PRIMARY["openai"]
    project = vendor_then_local(fake, tmp_path, monkeypatch, case)
    models = [{"provider": "openai", "model": case.model}, LOCAL_FALLBACK["text"]]
    write_preset(project, "text", models, retry={"max_attempts": 3, "max_retry_after_s": 5})
    fake.state.inject("429", path_contains="/chat/completions", retry_after=600)
    result = run_project(project)

    assert_local_made_it(result)
    assert fake.state.count("/chat/completions") == 1
    assert outcome(project) == [("openai", "failed", "rate_limited"), ("local", "succeeded", None)]


def test_missing_key_skips_the_candidate_and_names_the_variable(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = vendor_then_local(fake, tmp_path, monkeypatch, PRIMARY["anthropic"])
    monkeypatch.delenv("MMX_VENDOR_KEY")
    result = run_project(project)

    assert_local_made_it(result)
    assert fake.state.requests == []
    (skipped,) = rows(project, "SELECT message FROM events WHERE kind = 'candidate_skipped'")
    assert "MMX_VENDOR_KEY is not set" in skipped["message"]
    assert outcome(project) == [("local", "succeeded", None)]


@pytest.mark.parametrize(
    ("provider", "model", "path"),
    [
        ("openai", "dall-e-2", "/images/generations"),  # pictures as URLs
        ("openai", "gpt-image-1", "/images/generations"),  # as base64, priced by tokens
        ("google", "imagen-4.0-generate-001", ":predict"),  # Imagen's sampleCount
    ],
)
def test_an_image_call_with_n_gives_n_artifacts_and_one_cost(
    provider: str,
    model: str,
    path: str,
    fake: FakeProviderServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MMX_TEST_KEY", f"key-for-{provider}")
    project = http_project(tmp_path, [account(fake, provider, "main", "MMX_TEST_KEY")])
    write_preset(project, "image", [{"provider": provider, "model": model, "params": {"n": 3}}])
    write_pipeline(project, [{"id": "only", "preset": "p", "prompt": "a lighthouse at dusk"}])

    result = run_project(project)

    assert result.status == "succeeded", [j.error for j in result.jobs]
    (job,) = result.jobs
    assert len(job.artifacts) == 3
    for artifact in job.artifacts:
        assert_opens(Path(artifact.path or ""), "image")
    assert fake.state.count(path) == 1  # one call, paid once
    (attempt,) = attempts_of(project)
    assert attempt["status"] == "succeeded" and attempt["cost_usd"] > 0
    if model != "gpt-image-1":
        assert attempt["units"] == 3  # priced per image: all three
    assert job.cost_usd == attempt["cost_usd"]
    assert len(rows(project, "SELECT * FROM artifacts")) == 3
