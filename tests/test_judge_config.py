"""The judge block as a user writes it: on presets and steps (a step's overrides its
preset's, field by field), checked by `mediamix validate` with one line per problem
pointing at the spot, before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from runner.cli.main import cli
from runner.config.project import load_workspace
from runner.engine.api import plan_pipeline

ACCOUNTS = """\
accounts:
  - {name: oa, provider: openai, api_key_env: OPENAI_API_KEY, models: [dall-e-3, gpt-4.1-mini]}
  - {name: co, provider: cohere, api_key_env: CO_API_KEY}
"""


def write(root: Path, files: dict[str, str]) -> None:
    for relative, text in {"mediamix.yaml": "{}\n", "accounts.yaml": ACCOUNTS, **files}.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def validate(root: Path) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, ["-C", str(root), "validate"])
    lines = [line for line in result.output.splitlines() if ": " in line and ".yaml:" in line]
    # Files are named relative to where the command runs; keep the project-relative part.
    return result.exit_code, [line.split(f"{root.name}/", 1)[-1] for line in lines]


PRESET = """\
media_type: image
models:
  - {provider: openai, model: dall-e-3}
judge:
  provider: openai
  model: gpt-4.1-mini
  rubric: "Does it show {{ prompt }}?"
  min_score: 0.7
"""


def test_a_good_judge_validates_and_a_step_overrides_it_field_by_field(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "presets/p.yaml": PRESET,
            "pipelines/p.yaml": """\
inputs: {subject: {default: lighthouse}}
steps:
  - id: a
    preset: p
    prompt: "a {{ inputs.subject }}"
    judge:
      min_score: 0.9
      rubric: "Is the {{ inputs.subject }} in {{ prompt }} clear?"
""",
        },
    )
    code, lines = validate(tmp_path)
    assert (code, lines) == (0, [])
    ws = load_workspace(tmp_path)
    judge = plan_pipeline(tmp_path / "pipelines/p.yaml", ws).steps[0].judge
    assert judge is not None
    assert (judge.provider, judge.model, judge.min_score) == ("openai", "gpt-4.1-mini", 0.9)
    assert judge.rubric == "Is the {{ inputs.subject }} in {{ prompt }} clear?"
    assert (judge.on_judge_error, judge.retry_on_reject, judge.frames) == ("keep", False, 4)


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        (
            PRESET.replace("provider: openai\n  model: gpt-4.1", "provider: opneai\n  model: gpt"),
            "presets/p.yaml:5:13: judge.provider: 'opneai' is not a known provider "
            "(did you mean 'openai'?); judges: anthropic, azure, cohere, google, openai, "
            "openai_compatible",
        ),
        (
            PRESET.replace("gpt-4.1-mini", "gpt-4o"),
            "presets/p.yaml:6:10: judge.model: no active account in accounts.yaml serves the "
            "judge openai/gpt-4o; add the model to an account's models (without one every "
            "artifact would go unjudged)",
        ),
        (
            PRESET.replace("{{ prompt }}", "{{ promt }}"),
            "presets/p.yaml:7:11: judge.rubric: rubric uses undefined variable 'promt' (did "
            "you mean 'prompt'?); a preset's rubric can use media_type, prompt (a step's "
            "judge can also use inputs, item, steps)",
        ),
        (
            PRESET.replace(
                "provider: openai\n  model: gpt-4.1-mini", "provider: cohere\n  model: c"
            ),
            "presets/p.yaml:5:13: judge.provider: provider 'cohere' cannot see pictures, so it "
            "cannot judge image; use one of: anthropic, azure, google, openai, openai_compatible",
        ),
        (
            PRESET.replace("min_score: 0.7", "min_score: 7"),
            "presets/p.yaml:8:14: judge.min_score: must be at most 1, got 7",
        ),
        (
            PRESET.replace("media_type: image", "media_type: audio").replace(
                "model: dall-e-3", "model: tts-1"
            ),
            "presets/p.yaml:5:3: judge: judging audio needs a speech-to-text model: the judge "
            "reads a transcript; add transcribe: {provider: openai, model: "
            "gpt-4o-mini-transcribe}",
        ),
    ],
    ids=["unknown-provider", "unserved-model", "rubric-name", "blind-judge", "range", "no-stt"],
)
def test_validate_points_at_a_bad_judge(tmp_path: Path, preset: str, expected: str) -> None:
    write(tmp_path, {"presets/p.yaml": preset})
    code, lines = validate(tmp_path)
    assert code == 1
    assert expected in lines, lines


def test_a_step_judge_needs_a_model_and_only_known_names(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pipelines/p.yaml": """\
steps:
  - id: a
    media_type: image
    models: [{provider: openai, model: dall-e-3}]
    prompt: "a lighthouse"
    judge: {min_score: 0.8}
  - id: b
    media_type: image
    models: [{provider: openai, model: dall-e-3}]
    prompt: "a lighthouse"
    judge: {provider: openai, model: gpt-4.1-mini, rubric: "{{ subject }} in {{ prompt }}"}
""",
        },
    )
    code, lines = validate(tmp_path)
    assert code == 1
    assert lines == [
        "pipelines/p.yaml:6:12: steps[0].judge: the judge needs a provider and model (the "
        "preset has no judge to take it from)",
        "pipelines/p.yaml:11:60: steps[1].judge.rubric: template uses undefined variable "
        "'subject'; templates can use inputs.<name>, steps.<id>.<field>, item, run (a rubric "
        "also prompt, media_type)",
    ]
