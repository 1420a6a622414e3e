"""A judge model scores every artifact, over real HTTP against the fake server, and the
strategies act on it: an ensemble keeps the judge's favourite, a fallback moves past a
model whose picture scores below min_score, a judge that cannot answer keeps or rejects
the artifact as on_judge_error says, and what the judge costs comes out of the budget.

The fake server's judge (tests.fakeprovider.judging) scores by a marker it finds in what
it was shown: the models' pictures differ, and the server knows which model drew each.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.fakeprovider import FakeProviderServer
from tests.judge_support import JudgeProject, judge_project

JUDGE = {"provider": "openai", "model": "gpt-4.1-mini"}


@pytest.fixture
def project(tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    return judge_project(tmp_path, fake, monkeypatch)


def sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_an_ensemble_keeps_the_picture_the_judge_prefers(
    project: JudgeProject, fake: FakeProviderServer
) -> None:
    # gpt-image-1's picture is the larger one, so the old rule alone would keep it.
    project.preset(
        "image",
        [
            {"provider": "openai", "model": "dall-e-2", "params": {"size": "512x512"}},
            {"provider": "openai", "model": "gpt-image-1", "params": {"size": "1024x1024"}},
        ],
        strategy="ensemble",
        ensemble={"keep": "best", "rule": "largest"},
        judge={**JUDGE, "rubric": "Does this show {{ prompt }}?", "min_score": 0.5},
    )
    project.pipeline("a lighthouse at dawn")
    fake.state.script_judge([("dall-e-2", 0.91), ("gpt-image-1", 0.62)])

    result, done = project.run()

    assert result.exit_code == 0, result.output
    [artifact] = done["jobs"][0]["artifacts"]
    assert (artifact["provider"], artifact["model"]) == ("openai", "dall-e-2")
    # The judge was shown both pictures, as images, and they were not the same picture.
    seen = fake.state.judge_calls
    assert len(seen) == 2 and all(len(s.images) == 1 for s in seen)
    assert {s.image_mimes[0] for s in seen} == {"image/png"}
    assert sorted(s.labels[0] for s in seen) == ["dall-e-2", "gpt-image-1"]
    assert seen[0].images[0] != seen[1].images[0]
    kept = next(s for s in seen if s.labels == ["dall-e-2"])
    assert hashlib.sha256(kept.images[0]).hexdigest() == sha(artifact["path"])
    # The rubric was rendered with the prompt and sent along with it.
    assert "Does this show a lighthouse at dawn?" in seen[0].text
    # Both scores and the choice are in the run log.
    judged = project.rows(
        "SELECT a.model, j.verdict, j.score, j.judge_model, j.cost_usd "
        "FROM judgements j JOIN attempts a USING (attempt_id) ORDER BY a.model"
    )
    assert [(r["model"], r["verdict"], r["score"]) for r in judged] == [
        ("dall-e-2", "passed", 0.91),
        ("gpt-image-1", "passed", 0.62),
    ]
    assert all(r["judge_model"] == "gpt-4.1-mini" and r["cost_usd"] > 0 for r in judged)
    [choice] = project.rows("SELECT message, data FROM events WHERE kind = 'ensemble_choice'")
    assert "kept openai/dall-e-2 of 2 by judge score 0.91" in choice["message"]
    # The job paid for both pictures and both judgements, kept or not.
    paid = project.rows("SELECT sum(cost_usd) AS usd FROM attempts")[0]["usd"]
    assert done["cost_usd"] == pytest.approx(paid + sum(r["cost_usd"] for r in judged))


def test_a_fallback_moves_past_a_model_the_judge_rejects(
    project: JudgeProject, fake: FakeProviderServer
) -> None:
    project.preset(
        "image",
        [
            {"provider": "openai", "model": "dall-e-3"},
            {"provider": "openai", "model": "gpt-image-1"},
        ],
        judge={"provider": "google", "model": "gemini-2.5-flash", "min_score": 0.6},
        retry={"max_attempts": 3},
    )
    project.pipeline("a red bicycle")
    fake.state.script_judge([("dall-e-3", 0.2)], default=0.85)

    result, done = project.run()

    assert result.exit_code == 0, result.output
    assert done["jobs"][0]["artifacts"][0]["model"] == "gpt-image-1"
    # One attempt of the rejected model (no retry_on_reject), then the next candidate.
    attempts = project.rows(
        "SELECT model, status, error_class, error, cost_usd FROM attempts ORDER BY started_at"
    )
    assert [(a["model"], a["status"], a["error_class"]) for a in attempts] == [
        ("dall-e-3", "failed", "judge_rejected"),
        ("gpt-image-1", "succeeded", None),
    ]
    # The rejected picture was paid for, and the log says so, with the score and reason.
    assert attempts[0]["cost_usd"] == pytest.approx(0.04)
    assert "scored 0.20 < min_score 0.6" in attempts[0]["error"]
    assert "scripted score for 'dall-e-3'" in attempts[0]["error"]
    judged = project.rows(
        "SELECT verdict, score, reason, judge_provider FROM judgements ORDER BY judged_at"
    )
    assert [(j["verdict"], j["score"]) for j in judged] == [("rejected", 0.2), ("passed", 0.85)]
    assert judged[0]["reason"] == "scripted score for 'dall-e-3'"
    assert {j["judge_provider"] for j in judged} == {"google"}
    kinds = [r["kind"] for r in project.rows("SELECT kind FROM events ORDER BY occurred_at")]
    assert "judge_rejected" in kinds and "fallback" in kinds
    # Gemini saw each picture inline and was asked for JSON by schema.
    gemini = [r for r in fake.state.requests if "gemini-2.5-flash:generateContent" in r.path]
    config = gemini[0].json["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert "additionalProperties" not in config["responseSchema"]
    # The job's cost is everything it paid: both pictures and both judgements.
    paid = sum(a["cost_usd"] for a in attempts) + sum(
        r["cost_usd"] for r in project.rows("SELECT cost_usd FROM judgements")
    )
    assert done["cost_usd"] == pytest.approx(paid)

    shown = project.mediamix("jobs", "show", done["jobs"][0]["job_id"])
    assert shown.exit_code == 0, shown.output
    assert "judge google/gemini-2.5-flash  rejected  score 0.20 (min 0.6)" in shown.output
    assert "judge google/gemini-2.5-flash  passed  score 0.85 (min 0.6)" in shown.output


def test_retry_on_reject_asks_the_same_model_again(
    project: JudgeProject, fake: FakeProviderServer
) -> None:
    project.preset(
        "image",
        [{"provider": "openai", "model": "dall-e-3"}, {"provider": "openai", "model": "dall-e-2"}],
        judge={**JUDGE, "min_score": 0.6, "retry_on_reject": True},
        retry={"max_attempts": 2},
    )
    project.pipeline("a red bicycle")
    fake.state.script_judge([("dall-e-3", 0.3)])

    result, done = project.run()

    assert result.exit_code == 0, result.output
    assert done["jobs"][0]["artifacts"][0]["model"] == "dall-e-2"
    models = [r["model"] for r in project.rows("SELECT model FROM attempts ORDER BY started_at")]
    assert models == ["dall-e-3", "dall-e-3", "dall-e-2"]


@pytest.mark.parametrize("failure", ["down", "unparseable"])
def test_a_judge_that_cannot_answer_keeps_the_artifact_by_default(
    project: JudgeProject, fake: FakeProviderServer, failure: str
) -> None:
    project.preset(
        "image",
        [{"provider": "openai", "model": "dall-e-2"}, {"provider": "openai", "model": "dall-e-3"}],
        judge=JUDGE,
        retry={"max_attempts": 2},
    )
    project.pipeline("a red bicycle")
    if failure == "down":
        fake.state.inject("500", path_contains="chat/completions", times=100)
    else:
        fake.state.script_judge([], reply="I would give it 8/10.")

    result, done = project.run()

    assert result.exit_code == 0, result.output
    assert done["jobs"][0]["artifacts"][0]["model"] == "dall-e-2"  # kept, unjudged
    assert fake.state.count("chat/completions") == 2  # the judge was asked twice
    [judged] = project.rows("SELECT verdict, score, reason FROM judgements")
    assert (judged["verdict"], judged["score"]) == ("failed", None)
    assert ("transient" if failure == "down" else "is not JSON") in judged["reason"]
    [event] = project.rows("SELECT message FROM events WHERE kind = 'judge_failed'")
    assert "kept unjudged" in event["message"]
    assert project.rows("SELECT status FROM attempts") == [{"status": "succeeded"}]


def test_on_judge_error_reject_moves_to_the_next_candidate(
    project: JudgeProject, fake: FakeProviderServer
) -> None:
    project.preset(
        "image",
        [{"provider": "openai", "model": "dall-e-2"}, {"provider": "local", "model": "card"}],
        judge={**JUDGE, "on_judge_error": "reject"},
        retry={"max_attempts": 1},
    )
    project.pipeline("a red bicycle")
    # The judge is down for the first picture only.
    fake.state.inject("503", path_contains="chat/completions", times=1)

    result, done = project.run()

    assert result.exit_code == 0, result.output
    assert done["jobs"][0]["artifacts"][0]["provider"] == "local"
    attempts = project.rows("SELECT model, status, error_class FROM attempts ORDER BY started_at")
    assert [(a["model"], a["status"], a["error_class"]) for a in attempts] == [
        ("dall-e-2", "failed", "judge_failed"),
        ("card", "succeeded", None),
    ]
    verdicts = project.rows("SELECT verdict FROM judgements ORDER BY judged_at")
    assert [v["verdict"] for v in verdicts] == ["failed", "passed"]


def test_with_no_judge_reachable_the_run_goes_on_unjudged_and_says_so_once(
    tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = judge_project(tmp_path, fake, monkeypatch, vendors=("openai",), keys=False)
    project.preset("image", [{"provider": "local", "model": "card"}], judge=JUDGE)
    project.pipeline("card {{ item }}", for_each="range(3) | list")

    result, done = project.run()

    assert result.exit_code == 0, result.output
    assert done["jobs_succeeded"] == 3
    assert result.stderr.count("cannot be reached") == 1, result.stderr
    assert "TEST_OPENAI_KEY is not set" in result.stderr
    events = project.rows("SELECT kind FROM events WHERE kind LIKE 'judge%'")
    assert events == [{"kind": "judge_unavailable"}]
    assert project.rows("SELECT * FROM judgements") == []
    assert fake.state.requests == []  # offline stays offline


def text_budget_project(
    root: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch, *, judged: bool
) -> JudgeProject:
    project = judge_project(root, fake, monkeypatch, vendors=("openai",))
    extra: dict[str, Any] = {"retry": {"max_attempts": 1}}
    if judged:
        extra["judge"] = {**JUDGE, "model": "gpt-4.1", "params": {"max_tokens": 40}}
    project.preset(
        "text", [{"provider": "openai", "model": "gpt-4.1", "params": {"max_tokens": 30}}], **extra
    )
    project.pipeline("Note {{ item }}", for_each="range(8) | list")
    return project


def test_judge_calls_are_paid_from_the_budget(
    tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    cap = "0.004"
    plain = text_budget_project(tmp_path / "plain", fake, monkeypatch, judged=False)
    _, unjudged = plain.run("--max-cost", cap)
    judged_project = text_budget_project(tmp_path / "judged", fake, monkeypatch, judged=True)
    result, judged = judged_project.run("--max-cost", cap)

    assert result.exit_code == 1  # the budget ran out
    # Judging costs money, so the same cap buys fewer jobs.
    assert unjudged["jobs_succeeded"] == 8
    assert 0 < judged["jobs_succeeded"] < 8
    assert any(j["error_class"] == "budget" for j in judged["jobs"])
    generated = judged_project.rows("SELECT sum(cost_usd) AS usd FROM attempts")[0]["usd"]
    judging = judged_project.rows("SELECT sum(cost_usd) AS usd, count(*) AS n FROM judgements")
    assert judging[0]["n"] == judged["jobs_succeeded"] and judging[0]["usd"] > 0
    # What the run says it spent is both, and it stayed within the cap.
    assert judged["cost_usd"] == pytest.approx(generated + judging[0]["usd"])
    assert judged["cost_usd"] <= float(cap)
    summary = judged_project.mediamix("report", "--by", "preset", "--format", "json")
    [row] = json.loads(summary.stdout)
    assert row["judge_cost_usd"] == pytest.approx(judging[0]["usd"])
    assert row["mean_score"] == pytest.approx(0.9) and row["rejection_rate"] == 0
