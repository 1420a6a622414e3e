"""Strategies and retries, with failures injected per candidate; checked in the run log."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from runner.config.project import load_workspace
from runner.engine.api import plan_pipeline, run_plan
from runner.engine.results import RunResult
from runner.engine.services import EngineOptions
from runner.errors import TemplateError
from runner.runlog.store import RunLog
from tests.engine_support import (
    Project,
    ScriptedProvider,
    make_project,
    preset_yaml,
    scripted,
)


@pytest.fixture
def provider() -> Iterator[ScriptedProvider]:
    yield from scripted()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


def one_step(project: Project, media_type: str, preset: str, **step: Any) -> None:
    extra = "".join(f"\n    {k}: {v}" for k, v in step.items())
    project.write(
        "pipelines/p.yaml",
        f"""\
steps:
  - id: only
    preset: {preset}
    prompt: "make something"{extra}
""",
    )


def run(project: Project, *, seed: int | None = None, **inputs: Any) -> RunResult:
    ws = load_workspace(project.root)
    plan = plan_pipeline(project.root / "pipelines/p.yaml", ws, inputs)
    return asyncio.run(run_plan(plan, ws, options=EngineOptions(seed=seed, no_wait=True)))


def rows(project: Project, sql: str) -> list[tuple[Any, ...]]:
    with RunLog(project.runlog).connect_readonly() as con:
        return con.execute(sql).fetchall()


def moves(project: Project) -> list[tuple[Any, ...]]:
    """(kind, message) of the run's fallback and retry_wait events, oldest first: how a
    job moved between candidates, and whether it slept."""
    return rows(
        project,
        "SELECT kind, message FROM events WHERE kind IN ('fallback', 'retry_wait') "
        "ORDER BY occurred_at",
    )


def attempts(project: Project) -> list[tuple[Any, ...]]:
    return rows(
        project,
        "SELECT model, status, error_class FROM attempts ORDER BY started_at, number",
    )


def test_fallback_tries_candidates_in_order_and_logs_why(
    project: Project, provider: ScriptedProvider
) -> None:
    # failover: accounts keeps each candidate on its own retries before the next one.
    project.write(
        "presets/p.yaml", preset_yaml("text", ["a", "b", "c"], retry="{failover: accounts}")
    )
    one_step(project, "text", "p")
    provider.script("a", "permanent")
    provider.script("b", "transient", "transient", "transient")
    result = run(project)

    assert result.status == "succeeded"
    assert [c.model for c in provider.calls] == ["a", "b", "b", "b", "c"]
    assert attempts(project) == [
        ("a", "failed", "permanent"),
        ("b", "failed", "transient"),
        ("b", "failed", "transient"),
        ("b", "failed", "transient"),
        ("c", "succeeded", None),
    ]
    kinds = [r[0] for r in rows(project, "SELECT kind FROM events ORDER BY occurred_at")]
    assert kinds.count("fallback") == 2
    assert kinds.count("retry_wait") == 2  # b's 1st and 2nd failures; the 3rd ends b
    job = rows(project, "SELECT status, attempts, model FROM jobs")
    assert job == [("succeeded", 5, "c")]
    text = Path(result.jobs[0].artifacts[0].path or "").read_text()
    assert text == "c says: make something"


def test_transient_failure_is_retried_on_the_same_candidate_when_failover_is_accounts(
    project: Project, provider: ScriptedProvider
) -> None:
    project.write("presets/p.yaml", preset_yaml("text", ["a", "b"], retry="{failover: accounts}"))
    one_step(project, "text", "p")
    provider.script("a", "transient")
    result = run(project)
    assert result.status == "succeeded"
    assert [c.model for c in provider.calls] == ["a", "a"]


def test_transient_failure_moves_to_the_next_candidate_at_once_by_default(
    project: Project, provider: ScriptedProvider
) -> None:
    project.write("presets/p.yaml", preset_yaml("text", ["a", "b"]))
    one_step(project, "text", "p")
    provider.script("a", "transient")
    result = run(project)
    assert result.status == "succeeded"
    assert [c.model for c in provider.calls] == ["a", "b"]
    moved = moves(project)
    assert [kind for kind, _ in moved] == ["fallback"]  # no backoff was waited
    assert "scripted/b can take the call now" in moved[0][1]
    assert "2 attempts of scripted/a kept for later" in moved[0][1]


def test_a_candidate_handed_from_gets_its_remaining_attempts_after_the_others_fail(
    project: Project, provider: ScriptedProvider
) -> None:
    project.write("presets/p.yaml", preset_yaml("text", ["a", "b", "local:template"]))
    one_step(project, "text", "p")
    provider.script("a", "transient", "transient")
    provider.script("b", "permanent")
    result = run(project)

    assert result.status == "succeeded"
    # a hands to b at once; b fails for good; back to a, which now waits its backoff
    # (nothing later to hand to), and a's third attempt succeeds before the local card.
    assert [c.model for c in provider.calls] == ["a", "b", "a", "a"]
    assert result.jobs[0].artifacts[0].provider == "scripted"
    moved = moves(project)
    assert [kind for kind, _ in moved] == ["fallback", "fallback", "retry_wait"]
    assert "back to scripted/a for its 2 remaining attempts" in moved[1][1]


def test_blank_image_placeholder_triggers_fallback_to_local_card(
    project: Project, provider: ScriptedProvider
) -> None:
    project.write("presets/p.yaml", preset_yaml("image", ["a", "local:card"]))
    one_step(project, "image", "p")
    provider.script("a", "flat", "flat", "flat")
    result = run(project)

    assert result.status == "succeeded"
    artifact = result.jobs[0].artifacts[0]
    assert artifact.provider == "local"
    with Image.open(artifact.path or "") as image:
        assert image.size[0] >= 256
        low, high = image.convert("L").getextrema()
        assert low != high
    failures = rows(project, "SELECT error_class, error FROM attempts WHERE status = 'failed'")
    assert len(failures) == 3
    assert all(kind == "invalid_artifact" for kind, _ in failures)
    assert "flat" in failures[0][1].lower()


def test_silent_audio_is_rejected(project: Project, provider: ScriptedProvider) -> None:
    project.write("presets/p.yaml", preset_yaml("audio", ["a", "b"], retry="{max_attempts: 1}"))
    one_step(project, "audio", "p")
    provider.script("a", "silent")
    result = run(project)
    assert result.jobs[0].artifacts[0].model == "b"
    assert attempts(project)[0] == ("a", "failed", "invalid_artifact")


def test_every_candidate_failing_fails_the_job_with_reasons(
    project: Project, provider: ScriptedProvider
) -> None:
    project.write("presets/p.yaml", preset_yaml("text", ["a", "b"], retry="{max_attempts: 1}"))
    one_step(project, "text", "p")
    provider.script("a", "permanent")
    provider.script("b", "empty")
    result = run(project)
    assert result.status == "failed"
    job = result.jobs[0]
    assert job.status == "failed"
    assert "scripted/a: permanent" in (job.error or "")
    assert "scripted/b: invalid_artifact" in (job.error or "")
    # The job's class is its last failure's: what "failures by error class" counts.
    assert rows(project, "SELECT status, error_class FROM jobs") == [("failed", "invalid_artifact")]


def test_missing_key_skips_candidate_without_failing_the_job(
    tmp_path: Path, provider: ScriptedProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(
        tmp_path,
        accounts="accounts:\n  - {name: keyed, provider: scripted, api_key_env: SCRIPTED_KEY}\n",
    )
    monkeypatch.setattr(ScriptedProvider, "needs_key", True)
    monkeypatch.delenv("SCRIPTED_KEY", raising=False)
    project.write("presets/p.yaml", preset_yaml("image", ["a", "local:card"]))
    one_step(project, "image", "p")
    result = run(project)
    assert result.status == "succeeded"
    assert provider.calls == []
    (message,) = [
        r[0] for r in rows(project, "SELECT message FROM events WHERE kind = 'candidate_skipped'")
    ]
    assert "SCRIPTED_KEY is not set" in message
    assert [r[0] for r in attempts(project)] == ["card"]


def test_weighted_order_is_seeded_and_respects_weights(
    project: Project, provider: ScriptedProvider
) -> None:
    project.write(
        "presets/p.yaml",
        """\
media_type: text
strategy: weighted
models:
  - {provider: scripted, model: light, weight: 1}
  - {provider: scripted, model: heavy, weight: 50}
""",
    )
    project.write(
        "pipelines/p.yaml",
        """\
inputs: {items: {type: list, default: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}}
steps:
  - {id: only, preset: p, for_each: inputs.items, prompt: "n {{ item }}"}
""",
    )
    first = run(project, seed=7)
    assert first.status == "succeeded", [j.error for j in first.jobs]
    chosen = [j.artifacts[0].model for j in first.jobs]
    assert chosen.count("heavy") >= 8
    provider.calls.clear()
    second = run(project, seed=7)
    assert [j.artifacts[0].model for j in second.jobs] == chosen


def test_ensemble_keeps_the_longest_text_and_calls_members_in_parallel(
    project: Project, provider: ScriptedProvider
) -> None:
    project.write(
        "presets/p.yaml",
        """\
media_type: text
strategy: ensemble
ensemble: {keep: best, rule: longest_text}
models:
  - {provider: scripted, model: short}
  - {provider: scripted, model: much-longer-name}
  - {provider: local, model: template}
""",
    )
    one_step(project, "text", "p")
    provider.script("short", "sleep:0.3")
    provider.script("much-longer-name", "sleep:0.3")
    result = run(project)
    (artifact,) = result.jobs[0].artifacts
    assert artifact.model == "much-longer-name"
    short, longer = provider.calls_to("short")[0], provider.calls_to("much-longer-name")[0]
    assert short.started < longer.finished and longer.started < short.finished
    # The local last resort was never needed.
    assert {r[0] for r in attempts(project)} == {"short", "much-longer-name"}


def test_ensemble_keep_all_stores_every_success(
    project: Project, provider: ScriptedProvider
) -> None:
    project.write(
        "presets/p.yaml",
        preset_yaml("image", ["a", "b"], strategy="ensemble", ensemble="{keep: all}"),
    )
    one_step(project, "image", "p")
    result = run(project)
    paths = [Path(a.path or "") for a in result.jobs[0].artifacts]
    assert len(paths) == 2 and all(p.is_file() for p in paths)
    assert rows(project, "SELECT count(*) FROM artifacts") == [(2,)]


def test_ensemble_falls_back_to_local_when_every_member_fails(
    project: Project, provider: ScriptedProvider
) -> None:
    project.write(
        "presets/p.yaml",
        preset_yaml(
            "text", ["a", "b", "local:template"], strategy="ensemble", retry="{max_attempts: 1}"
        ),
    )
    one_step(project, "text", "p")
    provider.script("a", "permanent")
    provider.script("b", "permanent")
    result = run(project)
    assert result.jobs[0].artifacts[0].provider == "local"


def test_sequential_chain_refines_the_previous_output(
    project: Project, provider: ScriptedProvider
) -> None:
    project.write("presets/p.yaml", preset_yaml("text", ["draft", "editor"], strategy="sequential"))
    one_step(project, "text", "p")
    result = run(project)
    editor_call = provider.calls_to("editor")[0]
    assert "draft says: make something" in editor_call.prompt
    assert editor_call.inputs == 1
    assert result.jobs[0].artifacts[0].model == "editor"
    assert [r[0] for r in rows(project, "SELECT kind FROM events WHERE kind='refined'")] == [
        "refined"
    ]


def test_adaptive_without_history_behaves_like_fallback(
    project: Project, provider: ScriptedProvider
) -> None:
    project.write(
        "presets/p.yaml",
        preset_yaml("text", ["a", "b"], strategy="adaptive", adaptive="{exploration: 0}"),
    )
    one_step(project, "text", "p")
    run(project)
    assert [c.model for c in provider.calls] == ["a"]


def test_adaptive_moves_traffic_away_from_a_failing_model(
    project: Project, provider: ScriptedProvider
) -> None:
    project.write(
        "presets/p.yaml",
        preset_yaml(
            "text",
            ["a", "b"],
            strategy="adaptive",
            adaptive="{exploration: 0, min_attempts: 1}",
            retry="{max_attempts: 1}",
        ),
    )
    one_step(project, "text", "p")
    provider.script("a", *["permanent"] * 3)
    for _ in range(3):
        run(project)
    provider.calls.clear()
    run(project)  # history now says a fails and b works: b goes first
    assert [c.model for c in provider.calls] == ["b"]


def test_bad_template_names_the_step(project: Project, provider: ScriptedProvider) -> None:
    project.write("presets/p.yaml", preset_yaml("text", ["a"]))
    project.write(
        "pipelines/p.yaml",
        """\
inputs: {n: {type: integer, default: 0}}
steps:
  - {id: broken, preset: p, prompt: "{{ inputs.n | int // 0 }}"}
""",
    )
    result = run(project)
    assert result.status == "failed"
    assert result.jobs[0].step_id == "broken"
    assert "step 'broken'" in (result.jobs[0].error or "")
    with pytest.raises(TemplateError) as info:
        from runner.engine.templating import render

        render("{{ nope }}", {}, step="cover")
    assert "step 'cover'" in str(info.value) and "nope" in str(info.value)


def test_independent_steps_run_at_the_same_time(
    project: Project, provider: ScriptedProvider
) -> None:
    project.write("presets/p.yaml", preset_yaml("text", ["a"]))
    project.write(
        "pipelines/p.yaml",
        """\
steps:
  - {id: left, preset: p, prompt: "left"}
  - {id: right, preset: p, prompt: "right"}
  - {id: joined, preset: p, prompt: "{{ steps.left.text }} + {{ steps.right.text }}"}
""",
    )
    provider.default = "sleep:0.4"
    run(project)
    left, right, joined = (
        next(c for c in provider.calls if c.prompt.startswith(p))
        for p in ("left", "right", "a says: left")
    )
    assert left.started < right.finished and right.started < left.finished  # overlapped
    assert joined.started >= max(left.finished, right.finished)  # waited for both
    assert joined.prompt == "a says: left + a says: right"


def test_failed_step_skips_its_dependents_only(
    project: Project, provider: ScriptedProvider
) -> None:
    project.write("presets/p.yaml", preset_yaml("text", ["a"], retry="{max_attempts: 1}"))
    project.write(
        "pipelines/p.yaml",
        """\
steps:
  - {id: bad, preset: p, prompt: "bad"}
  - {id: after, preset: p, prompt: "{{ steps.bad.text }}"}
  - {id: other, preset: p, prompt: "other"}
""",
    )
    provider.script("a", "permanent")
    result = run(project)
    status = {j.step_id: j.status for j in result.jobs}
    assert status == {"bad": "failed", "after": "skipped", "other": "succeeded"}


def test_when_false_skips_and_for_each_fans_out(
    project: Project, provider: ScriptedProvider
) -> None:
    project.write("presets/p.yaml", preset_yaml("text", ["a"]))
    project.write(
        "pipelines/p.yaml",
        """\
inputs:
  extra: {type: boolean, default: false}
  names: {type: list, default: [x, y, z]}
steps:
  - {id: maybe, preset: p, prompt: "maybe", when: inputs.extra}
  - {id: each, preset: p, prompt: "hi {{ item }} #{{ item_index }}", for_each: inputs.names}
""",
    )
    result = run(project)
    each = [j for j in result.jobs if j.step_id == "each"]
    assert [Path(j.artifacts[0].path or "").read_text() for j in each] == [
        "a says: hi x #0",
        "a says: hi y #1",
        "a says: hi z #2",
    ]
    assert [j.status for j in result.jobs if j.step_id == "maybe"] == ["skipped"]
    assert rows(project, "SELECT count(*) FROM jobs WHERE step_id = 'each'") == [(3,)]


def test_provider_scoped_params_reach_only_their_provider_and_win() -> None:
    from runner.engine.plan import merged_params

    step = {"local": {"temperature": 0.9, "template": "t"}, "temperature": 0.2, "openai": {"x": 1}}
    preset = {"temperature": 0.5, "seed": 3}
    assert merged_params(preset, step, provider="local") == {
        "temperature": 0.9,
        "seed": 3,
        "template": "t",
    }
    assert merged_params(preset, step, provider="openai") == {
        "temperature": 0.2,
        "seed": 3,
        "x": 1,
    }


def test_every_output_of_one_call_is_stored_and_an_invalid_one_is_dropped(
    project: Project, provider: ScriptedProvider
) -> None:
    """An image call with n > 1: each picture paid for becomes an artifact; a blank one
    among them is dropped with an event, without retrying (and paying for) the call."""
    project.write("presets/p.yaml", preset_yaml("image", ["a"]))
    one_step(project, "image", "p")
    provider.script("a", "more:ok,flat,ok")

    result = run(project)

    assert result.status == "succeeded"
    assert len(provider.calls) == 1
    (job,) = result.jobs
    assert [Path(a.path or "").name for a in job.artifacts] == [
        "only-1.png",
        "only-2.png",
        "only-3.png",
    ]
    assert len({a.sha256 for a in job.artifacts}) == 3
    for artifact in job.artifacts:
        with Image.open(artifact.path or "") as image:
            assert image.convert("L").getextrema()[0] != image.convert("L").getextrema()[1]
    assert rows(project, "SELECT count(*) FROM artifacts") == [(3,)]
    (dropped,) = rows(project, "SELECT message FROM events WHERE kind = 'validation_failed'")
    assert "output 3 dropped" in dropped[0] and "flat" in dropped[0].lower()
    assert attempts(project) == [("a", "succeeded", None)]


def test_a_for_each_keeps_item_order_however_its_jobs_finish(
    project: Project, provider: ScriptedProvider
) -> None:
    """Jobs run a few at a time and finish out of order; the step's outputs (what the next
    step reads) stay in item order."""
    project.write("presets/p.yaml", preset_yaml("text", ["a"]))
    project.write(
        "pipelines/p.yaml",
        """\
inputs:
  names: {type: list, default: [u, v, w, x, y, z]}
steps:
  - {id: each, preset: p, prompt: "{{ item }}", for_each: inputs.names}
  - {id: joined, preset: p, prompt: "{{ steps.each.texts | join(',') }}"}
""",
    )
    # Earlier items take longer: with 2 at a time they finish last.
    for delay in ("sleep:0.15", "sleep:0.1", "sleep:0.05", "ok", "ok", "ok"):
        provider.script("a", delay)
    ws = load_workspace(project.root)
    plan = plan_pipeline(project.root / "pipelines/p.yaml", ws)
    result = asyncio.run(run_plan(plan, ws, options=EngineOptions(concurrency=2, no_wait=True)))

    assert result.status == "succeeded"
    (joined,) = [j for j in result.jobs if j.step_id == "joined"]
    expected = ",".join(f"a says: {n}" for n in "uvwxyz")
    assert joined.artifacts[0].text == f"a says: {expected}"
    started = sorted(provider.calls, key=lambda c: c.started)
    assert max(sum(1 for o in started if o.started <= c.started < o.finished) for c in started) <= 2


def test_a_failure_hands_off_only_to_the_next_candidate_and_only_when_it_is_free(
    tmp_path: Path, provider: ScriptedProvider
) -> None:
    # b has an account of its own; c shares a's. The first job's b sends a 429 with
    # Retry-After 60, so b's account cools for the whole run.
    project = make_project(
        tmp_path,
        accounts="accounts:\n"
        "  - {name: s1, provider: scripted, models: [a, c]}\n"
        "  - {name: s2, provider: scripted, models: [b]}\n",
    )
    project.write("presets/p.yaml", preset_yaml("text", ["a", "b", "c"]))
    one_step(project, "text", "p", for_each="range(2) | list")
    provider.script("a", "permanent", "transient")
    provider.script("b", "rate:60")
    ws = load_workspace(project.root)
    plan = plan_pipeline(project.root / "pipelines/p.yaml", ws, {})
    options = EngineOptions(no_wait=True, concurrency=1)
    result = asyncio.run(run_plan(plan, ws, options=options))

    assert result.status == "succeeded"
    # Job 1: a fails for good, b's 429 hands it at once to c (free). Job 2: a's 500 is not
    # handed to b, the next candidate, whose account is cooling (nor past it to c, which
    # is free): a waits its backoff and succeeds.
    assert [c.model for c in provider.calls] == ["a", "b", "c", "a", "a"]
    moved = moves(project)
    assert [kind for kind, _ in moved] == ["fallback", "fallback", "retry_wait"]
    assert "scripted/c can take the call now" in moved[1][1]
