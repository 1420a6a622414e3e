"""The first hour with mediamix, from the command line: offline output says it is offline
(and what key would change that), --dry-run plans with what can run, run and generate
reuse identical jobs, report lists skipped candidates, and the small seams are closed.

"With a key" means OPENAI_API_KEY set and the project's openai account pointed at the
loopback fake provider server; ANTHROPIC_API_KEY stays unset throughout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner.cli.main import main
from tests.engine_support import log_rows
from tests.fakeprovider import FakeProviderServer

PIPELINE = """\
name: firsthour
inputs:
  topic: {type: string, default: tides}
  sections: {type: list, default: [The Moon, Two bulges]}
steps:
  - id: script
    preset: text-gpt-simple
    prompt: |
      Explain {{ inputs.topic }} in about 80 words, in parts titled:
      {{ inputs.sections | join(", ") }}.
  - id: cards
    preset: image-dalle3-simple
    for_each: inputs.sections
    prompt: "{{ inputs.topic }}: {{ item }}"
    params:
      local: {width: 320, height: 256}
"""

RUN_KEYS = [
    "run_id", "pipeline", "status", "started_at", "finished_at", "jobs_succeeded",
    "jobs_failed", "jobs_reused", "jobs_offline", "cost_usd", "offline", "missing_keys", "jobs",
]  # fmt: skip
JOB_KEYS = [
    "job_id", "step_id", "item_index", "status", "reused", "attempts", "cost_usd", "error",
    "error_class", "item_number", "served_by", "offline", "skipped_candidates", "warnings",
    "artifacts",
]  # fmt: skip


def mediamix(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 0), out, err


@pytest.fixture
def project(tmp_path: Path, capsys: pytest.CaptureFixture[str], fake: FakeProviderServer) -> Path:
    """``mediamix init``, its openai account at the fake server, and a small pipeline."""
    root = tmp_path / "p"
    assert mediamix(capsys, "init", str(root))[0] == 0
    (root / "accounts.yaml").write_text(
        "accounts:\n"
        f"  - {{name: openai-main, provider: openai, api_key_env: OPENAI_API_KEY,"
        f" base_url: '{fake.base_url('openai')}'}}\n"
        "  - {name: anthropic-main, provider: anthropic, api_key_env: ANTHROPIC_API_KEY}\n",
        encoding="utf-8",
    )
    (root / "pipelines" / "firsthour.yaml").write_text(PIPELINE, encoding="utf-8")
    return root


def run(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, str, str]:
    return mediamix(capsys, "-C", str(root), "run", "pipelines/firsthour.yaml", *args)


def events(root: Path, kind: str) -> list[dict[str, Any]]:
    found = log_rows(
        root / ".mediamix" / "runlog", "SELECT message, data FROM events WHERE kind = ?", [kind]
    )
    return [{"message": r["message"], **json.loads(r["data"])} for r in found]


# -- offline made visible ---------------------------------------------------------------


def test_offline_run_says_what_served_each_step_and_which_key_to_set(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, project)
    assert code == 0, err
    assert "skip   openai/gpt-4.1  OPENAI_API_KEY is not set (account openai-main); " in err
    assert "done   script  local/template (offline)" in err
    assert "done   cards #1 (1/2 done)" in err or "done   cards #2 (1/2 done)" in err
    summary = err[err.index("run ") :].splitlines()
    assert summary[1] == (
        "served offline: 3 of 3 job(s) made by mediamix's local generators, not by a vendor:"
    )
    assert summary[2].split() == [
        "script", "local/template", "instead", "of", "openai/gpt-4.1", "(OPENAI_API_KEY",
        "not", "set),", "anthropic/claude-sonnet-4-5", "(ANTHROPIC_API_KEY", "not", "set)",
    ]  # fmt: skip
    assert summary[3].split()[:3] == ["cards", "×2", "local/card"]
    assert "set OPENAI_API_KEY to use openai/gpt-4.1, openai/dall-e-3, openai/gpt-image-1" in err
    assert "set ANTHROPIC_API_KEY to use anthropic/claude-sonnet-4-5" in err

    # The script is an outline with its prose marked, not made-up explanation.
    script = Path(out.splitlines()[0].split(": ", 1)[1]).read_text(encoding="utf-8")
    assert "no text model wrote this" in script
    assert "1. The Moon" in script and "2. Two bulges" in script
    assert script.count("[prose: a text model writes") == 2

    skipped = events(project, "candidate_skipped")
    assert {e["missing_env"][0] for e in skipped} == {"OPENAI_API_KEY", "ANTHROPIC_API_KEY"}
    assert "set OPENAI_API_KEY to use openai/gpt-4.1" in {e.get("enable") for e in skipped}


def test_offline_run_json_names_offline_steps_and_missing_keys(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, project, "--json")
    assert code == 0
    result = json.loads(out)
    assert list(result) == RUN_KEYS
    assert all(list(job) == JOB_KEYS for job in result["jobs"])
    assert result["jobs_offline"] == 3
    assert result["missing_keys"] == [
        {"env": "OPENAI_API_KEY", "candidates": ["openai/gpt-4.1", "openai/dall-e-3",
                                                 "openai/gpt-image-1"]},
        {"env": "ANTHROPIC_API_KEY", "candidates": ["anthropic/claude-sonnet-4-5"]},
    ]  # fmt: skip
    script = result["offline"][0]
    assert (script["step_id"], script["jobs"], script["served_by"]) == (
        "script",
        1,
        ["local/template"],
    )
    assert script["by_design"] is False
    assert [s["enable"] for s in script["skipped"]] == [
        "set OPENAI_API_KEY to use openai/gpt-4.1",
        "set ANTHROPIC_API_KEY to use anthropic/claude-sonnet-4-5",
    ]
    cards = [j for j in result["jobs"] if j["step_id"] == "cards"]
    assert [(j["item_index"], j["item_number"]) for j in cards] == [(0, 1), (1, 2)]
    assert [Path(j["artifacts"][0]["path"]).name for j in cards] == ["cards-1.png", "cards-2.png"]
    assert all(j["served_by"] == "local/card" and j["offline"] for j in cards)


def test_with_a_key_the_vendor_serves_and_nothing_is_called_offline(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    fake: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-firsthour")
    code, out, err = run(capsys, project, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["jobs_offline"] == 0 and result["offline"] == [] and result["missing_keys"] == []
    assert [j["served_by"] for j in result["jobs"]] == ["openai/gpt-4.1", *["openai/dall-e-3"] * 2]
    assert all(not j["offline"] and j["skipped_candidates"] == [] for j in result["jobs"])
    assert fake.state.count("/chat/completions") == 1
    assert fake.state.count("/images/generations") == 2
    assert "served offline" not in err


# -- dry run ----------------------------------------------------------------------------


def test_dry_run_without_a_key_marks_vendors_unavailable_and_costs_nothing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, project, "--dry-run")
    assert code == 0
    assert (
        "    1. openai/gpt-4.1: UNAVAILABLE, skipped: set OPENAI_API_KEY to use openai/gpt-4.1"
        in out
    )
    assert "    3. local/template: up to 3 attempts, 120s each, free, offline" in out
    assert (
        "step cards: image via image-dalle3-simple [fallback] for each of inputs.sections (2 jobs)"
        in out
    )
    assert "$0.0000 over 3 job(s)" in out
    assert "4 candidate(s) unavailable here and left out of these figures:" in out

    code, out, _ = run(capsys, project, "--dry-run", "--json")
    plan = json.loads(out)
    script = plan["steps"][0]
    assert [c["available"] for c in script["candidates"]] == [False, False, True]
    assert script["candidates"][0]["missing_env"] == ["OPENAI_API_KEY"]
    assert script["offline"] is True and script["available_candidates"] == 1
    # The worst case counts only what can run: one local candidate, not three.
    assert script["worst_case_s"] < script["worst_case_all_candidates_s"] / 2
    assert plan["worst_case_cost_usd"] == 0.0 and plan["jobs_known"] is True
    assert [s["jobs"] for s in plan["steps"]] == [1, 2]


def test_dry_run_with_a_key_plans_the_vendor_and_prices_it(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-firsthour")
    code, out, _ = run(capsys, project, "--dry-run", "--json")
    assert code == 0
    plan = json.loads(out)
    script, cards = plan["steps"]
    assert [c["available"] for c in script["candidates"]] == [True, False, True]
    assert script["candidates"][1]["enable"] == (
        "set ANTHROPIC_API_KEY to use anthropic/claude-sonnet-4-5"
    )
    assert script["offline"] is False
    dalle = cards["candidates"][0]
    assert dalle["available"] and dalle["cost_per_attempt_usd"] == pytest.approx(0.04)
    # Worst case: every attempt of every available candidate paid, per job, times jobs.
    assert cards["worst_case_cost_usd"] == pytest.approx(3 * (0.04 + 0.042), abs=0.05)
    assert plan["worst_case_cost_usd"] == pytest.approx(
        script["worst_case_cost_usd"] + 2 * cards["worst_case_cost_usd"]
    )
    assert plan["worst_case_cost_usd"] > 0 and plan["unpriced_candidates"] == []
    code, text, _ = run(capsys, project, "--dry-run")
    assert "    1. openai/gpt-4.1: up to 3 attempts, 120s each, ~$" in text
    assert "1 candidate(s) unavailable here" in text


# -- reuse ------------------------------------------------------------------------------


def test_run_reuses_identical_jobs_unless_told_not_to(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    fake: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-firsthour")
    first = json.loads(run(capsys, project, "--json")[1])
    code, out, err = run(capsys, project)
    assert code == 0
    assert "(0 job(s) succeeded, 3 reused, 0 failed)" in err
    assert "reused 3 earlier identical job(s) whose files still exist" in err
    assert "reuse  cards #1" in err or "reuse  cards #2" in err
    first_paths = {a["path"] for j in first["jobs"] for a in j["artifacts"]}
    assert {line.split(": ", 1)[1] for line in out.splitlines()} == first_paths
    assert fake.state.count("/chat/completions") == 1  # nothing called the second time

    again = json.loads(run(capsys, project, "--json", "--no-reuse")[1])
    assert (again["jobs_succeeded"], again["jobs_reused"]) == (3, 0)
    assert fake.state.count("/chat/completions") == 2
    statuses = log_rows(
        project / ".mediamix" / "runlog",
        "SELECT status, count(*) AS n FROM jobs GROUP BY status ORDER BY status",
    )
    assert statuses == [{"status": "skipped", "n": 3}, {"status": "succeeded", "n": 6}]


def test_an_offline_result_is_not_reused_once_the_vendor_can_run(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    fake: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert json.loads(run(capsys, project, "--json")[1])["jobs_offline"] == 3
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-firsthour")
    result = json.loads(run(capsys, project, "--json")[1])
    assert (result["jobs_reused"], result["jobs_offline"]) == (0, 0)
    assert fake.state.count("/chat/completions") == 1
    declined = events(project, "reuse_declined")
    assert {e["candidate"] for e in declined} == {"openai/gpt-4.1", "openai/dall-e-3"}


def test_generate_text_offline_is_an_outline_and_is_reused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompt = "Explain tides to a child"
    code, out, err = mediamix(capsys, "-C", str(project), "generate", "-t", "text", "-p", prompt)
    assert code == 0, err
    text = Path(out.strip().split(": ", 1)[1]).read_text(encoding="utf-8")
    assert text != prompt + "\n" and text.startswith(f"# {prompt}\n")
    assert "[prose: a text model answers the brief here]" in text
    assert "served offline: 1 of 1 job(s)" in err
    code, out, err = mediamix(
        capsys, "-C", str(project), "generate", "-t", "text", "-p", prompt, "--json"
    )
    assert json.loads(out)["jobs_reused"] == 1
    code, out, err = mediamix(
        capsys, "-C", str(project), "generate", "-t", "text", "-p", prompt, "--json",
        "--no-reuse",
    )  # fmt: skip
    assert (json.loads(out)["jobs_reused"], json.loads(out)["jobs_succeeded"]) == (0, 1)


# -- report and jobs --------------------------------------------------------------------


def test_report_skipped_lists_candidates_and_what_enables_them(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, project)
    code, out, _ = mediamix(capsys, "-C", str(project), "report", "--skipped", "--format", "json")
    assert code == 0
    found = {r["candidate"]: r for r in json.loads(out)}
    assert found["openai/dall-e-3"]["jobs"] == 2 and found["openai/gpt-4.1"]["jobs"] == 1
    assert found["openai/gpt-4.1"]["enable"] == "set OPENAI_API_KEY to use openai/gpt-4.1"
    assert set(json.loads(out)[0]) == {
        "candidate", "jobs", "runs", "reason", "enable", "first_seen", "last_seen",
    }  # fmt: skip
    code, table, _ = mediamix(capsys, "-C", str(project), "report", "--skipped")
    assert table.splitlines()[0].split() == ["candidate", "jobs", "runs", "enable", "last_seen"]
    code, _, err = mediamix(capsys, "-C", str(project), "report", "--skipped", "--format", "html")
    assert code == 2 and "not HTML" in err


def test_jobs_show_numbers_items_like_files_and_an_unknown_id_exits_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = json.loads(run(capsys, project, "--json")[1])
    second = next(j for j in result["jobs"] if j["item_number"] == 2)
    code, out, _ = mediamix(capsys, "-C", str(project), "jobs", "show", second["job_id"])
    assert code == 0
    assert "  step cards #2  " in out.splitlines()[0]
    assert "cards-2.png" in out
    table = mediamix(capsys, "-C", str(project), "jobs")[1]
    assert "cards #2" in table and "cards #1" in table
    # ... latency_ms  cost_usd  started_at (date time)  error
    latencies = [line.split()[-5] for line in table.splitlines()[2:]]
    assert all(value.isdigit() for value in latencies)  # whole milliseconds, one format

    code, out, err = mediamix(capsys, "-C", str(project), "jobs", "show", "nope")
    assert code == 2
    assert err.strip() == "mediamix: error: no job with an id starting 'nope' in the run log"
