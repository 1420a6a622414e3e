"""`--max-cost`: stop dispatching before the budget would be exceeded, and say so.

Twelve priced gpt-4.1 calls (a for_each step) against the fake server. Before each call
the engine reserves an estimate (prompt tokens ~ characters / 4 + 1, output tokens =
the preset's max_tokens); after it, the actual cost from the answer's usage replaces the
reservation. The numbers below follow that rule by hand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runner.runlog.store import RunLog
from tests.fakeprovider.server import FakeProviderServer

PER_IN, PER_OUT = 2.00 / 1e6, 8.00 / 1e6  # gpt-4.1, USD per token (runner/pricing.py)
MAX_TOKENS = 9
PROMPTS = [f"Note {i}" for i in range(12)]

PRESET = f"""\
media_type: text
models:
  - {{provider: openai, model: gpt-4.1, params: {{max_tokens: {MAX_TOKENS}}}}}
retry: {{max_attempts: 1}}
"""

PIPELINE = """\
name: notes
steps:
  - {id: note, preset: priced, for_each: "range(12) | list", prompt: "Note {{ item }}"}
"""


def estimate(prompt: str) -> float:
    return (len(prompt) // 4 + 1) * PER_IN + MAX_TOKENS * PER_OUT


def actual(prompt: str) -> float:
    """The fake answers "Fake reply from gpt-4.1: PROMPT" and counts ~4 characters a token."""
    return (len(prompt) // 4 + 1) * PER_IN + (
        len(f"Fake reply from gpt-4.1: {prompt}") // 4 + 1
    ) * PER_OUT


def calls_within(cap: float) -> list[float]:
    """The actual costs of the calls a cap lets through, one job at a time in item order."""
    spent: list[float] = []
    for prompt in PROMPTS:
        if sum(spent) + estimate(prompt) > cap:
            break
        spent.append(actual(prompt))
    return spent


def make_project(
    root: Path, server: FakeProviderServer, *, project_cap: float | None = None
) -> None:
    cap = f"budget: {{max_cost_usd: {project_cap}}}\n" if project_cap is not None else ""
    files = {
        "mediamix.yaml": "storage: {url: file://outputs}\n" + cap,
        "accounts.yaml": "accounts:\n  - {name: oa, provider: openai, api_key_env: TEST_OPENAI_KEY,"
        f" base_url: '{server.base_url('openai')}'}}\n",
        "presets/priced.yaml": PRESET,
        "pipelines/notes.yaml": PIPELINE,
    }
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def mediamix(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner.cli.main", "run", "pipelines/notes.yaml", *args],
        cwd=root,
        env={**os.environ, "TEST_OPENAI_KEY": "sk-budget"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def logged_cost(root: Path, run_id: str) -> tuple[float, int]:
    with RunLog(root / ".mediamix" / "runlog").connect_readonly() as con:
        row = con.execute(
            "SELECT coalesce(sum(cost_usd), 0), count(*) FILTER (WHERE status = 'succeeded') "
            "FROM attempts WHERE run_id = ?",
            [run_id],
        ).fetchone()
    assert row is not None
    return float(row[0]), int(row[1])


def test_a_cap_stops_dispatch_before_it_would_be_passed(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    cap = 0.0005
    allowed = calls_within(cap)
    assert len(allowed) == 7  # 7 x $0.000068 = $0.000476; an 8th (~$0.000076 more) would pass it
    make_project(tmp_path, fake)
    done = mediamix(tmp_path, "--max-cost", str(cap), "--concurrency", "1", "--json")
    assert done.returncode == 1, done.stderr  # jobs were left undone
    result: dict[str, Any] = json.loads(done.stdout)
    jobs = result["jobs"]
    assert [j["status"] for j in jobs] == ["succeeded"] * 7 + ["failed"] * 5
    assert result["cost_usd"] == pytest.approx(sum(allowed))
    refused = jobs[7]
    assert refused["error_class"] == "budget"
    assert refused["error"].startswith("budget of $0.0005 reached (spent $0.000476, this call")
    assert all(j["error_class"] == "budget" and "budget" in j["error"] for j in jobs[8:])
    assert all(j["cost_usd"] is None and not j["artifacts"] for j in jobs[7:])
    # Nothing was dispatched past the budget, and the run log agrees to the cent.
    assert fake.state.count("chat/completions") == 7
    cost, succeeded = logged_cost(tmp_path, result["run_id"])
    assert succeeded == 7
    assert cost == pytest.approx(sum(allowed)) and cost <= cap


def test_a_project_cap_holds_with_concurrent_jobs_and_is_reported(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    cap = 0.0005
    make_project(tmp_path, fake, project_cap=cap)  # mediamix.yaml's budget.max_cost_usd
    done = mediamix(tmp_path, "--concurrency", "6")
    assert done.returncode == 1
    assert "FAILED: budget of $0.0005 reached" in done.stderr
    summary = done.stderr.strip().splitlines()[-1]
    assert summary.startswith("run ") and "failed, cost $0.000" in summary
    run_id = summary.split()[1].rstrip(":")
    cost, succeeded = logged_cost(tmp_path, run_id)
    # Reservations of in-flight calls count too: never more than the cap, whatever the timing.
    assert 0 < succeeded < 12 and cost <= cap
    assert fake.state.count("chat/completions") == succeeded


def test_a_budget_that_allows_everything_changes_nothing(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    everything = sum(actual(p) for p in PROMPTS)
    assert calls_within(10.0) == [actual(p) for p in PROMPTS]
    make_project(tmp_path, fake)
    capped = mediamix(tmp_path, "--max-cost", "10", "--json")
    # The same run again would reuse every job; this one must call to compare costs.
    uncapped = mediamix(tmp_path, "--json", "--no-reuse")
    assert (capped.returncode, uncapped.returncode) == (0, 0), capped.stderr + uncapped.stderr
    results = [json.loads(capped.stdout), json.loads(uncapped.stdout)]
    for result in results:
        assert result["jobs_succeeded"] == 12 and result["jobs_failed"] == 0
        assert result["cost_usd"] == pytest.approx(everything)
    assert [j["cost_usd"] for j in results[0]["jobs"]] == [
        j["cost_usd"] for j in results[1]["jobs"]
    ]
    assert fake.state.count("chat/completions") == 24
