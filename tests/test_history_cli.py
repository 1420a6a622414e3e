"""Run real pipelines (local generators and the fake provider server), then ask the run log.

Faults injected into the fake server decide every attempt, so each number `mediamix jobs`,
`report` and `sql` print here is worked out by hand below. Runs are real `mediamix run`
processes (exit codes matter); most reads go through the same click commands in-process,
and a few through the real entry point for their exit codes.

Run 1 (pipeline brief, --concurrency 1 so the notes jobs meet the faults in item order):
  notes[0] alpha  gpt-4.1 500, gpt-4.1 500 (retried: the preset says failover: accounts),
                 gpt-4.1-mini 400, local/template ok
  notes[1] beta   gpt-4.1 400, gpt-4.1-mini ok
  notes[2] gamma  gpt-4.1 ok
  cover           local/card ok
Run 2 (pipeline haiku): gpt-4.1-nano 500, 500 -> the job fails, exit 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runner.cli.main import cli
from tests.fakeprovider.server import FakeProviderServer

#: USD per 1M tokens (input, output), as runner/pricing.py lists them.
PRICES = {"gpt-4.1": (2.00, 8.00), "gpt-4.1-mini": (0.40, 1.60), "gpt-4.1-nano": (0.10, 0.40)}


def chat_cost(model: str, prompt: str) -> float:
    """What one fake chat answer costs: the fake server counts ~4 characters per token and
    answers "Fake reply from MODEL: PROMPT"."""
    tokens_in = len(prompt) // 4 + 1
    tokens_out = len(f"Fake reply from {model}: {prompt}") // 4 + 1
    per_in, per_out = PRICES[model]
    return (tokens_in * per_in + tokens_out * per_out) / 1e6


def quantile_cont(values: list[float], q: float) -> float:
    """DuckDB's quantile_cont: linear interpolation between the closest ranks."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


PROJECT_FILES = {
    "mediamix.yaml": "storage: {url: file://outputs}\nrunlog: .mediamix/runlog\n",
    "presets/notes-gpt.yaml": """\
media_type: text
strategy: fallback
models:
  - {provider: openai, model: gpt-4.1}
  - {provider: openai, model: gpt-4.1-mini}
  - {provider: local, model: template}
retry: {max_attempts: 2, failover: accounts}
""",
    "presets/cover-card.yaml": """\
media_type: image
models:
  - {provider: local, model: card, params: {width: 320, height: 180}}
""",
    "presets/haiku-nano.yaml": """\
media_type: text
models:
  - {provider: openai, model: gpt-4.1-nano}
retry: {max_attempts: 2}
""",
    "pipelines/brief.yaml": """\
name: brief
inputs:
  topics: {type: list, default: [alpha, beta, gamma]}
steps:
  - {id: notes, preset: notes-gpt, for_each: inputs.topics, prompt: "Notes on {{ item }}"}
  - {id: cover, preset: cover-card, prompt: "Cover"}
""",
    "pipelines/haiku.yaml": """\
name: haiku
steps:
  - {id: haiku, preset: haiku-nano, prompt: "A haiku about logs"}
""",
}


def write_project(root: Path, server: FakeProviderServer) -> None:
    files = dict(PROJECT_FILES)
    files["accounts.yaml"] = (
        "accounts:\n"
        f"  - {{name: oa-main, provider: openai, api_key_env: TEST_OPENAI_KEY,"
        f" base_url: '{server.base_url('openai')}'}}\n"
    )
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def cli_env(state_dir: Path) -> dict[str, str]:
    """The test isolation conftest gives in-process tests, for a child process."""
    env = dict(os.environ)
    env.pop("MEDIAMIX_PROJECT", None)
    env.update(
        HOME="/nonexistent-home-for-mediamix-tests",
        MEDIAMIX_STATE_DIR=str(state_dir),
        MEDIAMIX_NO_WAIT="1",
        TEST_OPENAI_KEY="sk-history-test",
    )
    return env


@dataclass
class History:
    root: Path
    env: dict[str, str]
    run1: dict[str, Any]
    run2: dict[str, Any]

    def mediamix(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "runner.cli.main", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def read(self, *args: str) -> str:
        """A read command in-process (same click code, no interpreter start-up)."""
        result = CliRunner().invoke(cli, ["-C", str(self.root), *args])
        assert result.exit_code == 0, (result.output, result.exception)
        return result.stdout

    def read_json(self, *args: str) -> Any:
        return json.loads(self.read(*args))

    def job(self, run: dict[str, Any], step: str, item: int | None = None) -> dict[str, Any]:
        return next(j for j in run["jobs"] if j["step_id"] == step and j["item_index"] == item)


@pytest.fixture(scope="module")
def history(
    tmp_path_factory: pytest.TempPathFactory, fake_server: FakeProviderServer
) -> Iterator[History]:
    root = tmp_path_factory.mktemp("history")
    write_project(root, fake_server)
    state = fake_server.state
    state.reset()
    h = History(root, cli_env(root / "state"), {}, {})

    state.inject("500", path_contains="chat/completions", times=2)
    state.inject("400", path_contains="chat/completions", times=2)
    first = h.mediamix("run", "pipelines/brief.yaml", "--concurrency", "1", "--json")
    assert first.returncode == 0, first.stderr
    assert not state.faults, "every injected fault was used"

    state.inject("500", path_contains="chat/completions", times=2)
    second = h.mediamix("run", "pipelines/haiku.yaml", "--json")
    assert second.returncode == 1, second.stderr  # a job failed
    assert "Traceback" not in first.stderr + second.stderr

    h.run1, h.run2 = json.loads(first.stdout), json.loads(second.stdout)
    # 4 + 2 + 1 chat calls in run 1 (one of them local), 2 in run 2.
    assert state.count("chat/completions") == 3 + 2 + 1 + 2
    state.reset()
    yield h


def test_runs_report_what_happened(history: History) -> None:
    run1, run2 = history.run1, history.run2
    assert (run1["status"], run1["jobs_succeeded"], run1["jobs_failed"]) == ("succeeded", 4, 0)
    assert [history.job(run1, "notes", i)["attempts"] for i in range(3)] == [4, 2, 1]
    served = [history.job(run1, "notes", i)["artifacts"][0]["model"] for i in range(3)]
    assert served == ["template", "gpt-4.1-mini", "gpt-4.1"]
    expected = chat_cost("gpt-4.1-mini", "Notes on beta") + chat_cost("gpt-4.1", "Notes on gamma")
    assert run1["cost_usd"] == pytest.approx(expected)

    (haiku,) = run2["jobs"]
    assert (run2["status"], haiku["status"], haiku["attempts"]) == ("failed", "failed", 2)
    assert "HTTP 500" in haiku["error"]


def test_jobs_filters(history: History) -> None:
    run1_id, run2_id = history.run1["run_id"], history.run2["run_id"]
    everything = history.read_json("jobs", "--json")
    assert len(everything) == 5
    assert {j["job_id"] for j in everything} == {
        j["job_id"] for run in (history.run1, history.run2) for j in run["jobs"]
    }

    def ids(*filters: str) -> set[str]:
        return {j["job_id"] for j in history.read_json("jobs", "--json", *filters)}

    (haiku,) = history.run2["jobs"]
    assert ids("--status", "failed") == {haiku["job_id"]}
    assert ids("--media-type", "image") == {history.job(history.run1, "cover")["job_id"]}
    notes = {history.job(history.run1, "notes", i)["job_id"] for i in range(3)}
    assert ids("--preset", "notes-gpt") == notes
    assert ids("--run", run1_id[:8]) == notes | {history.job(history.run1, "cover")["job_id"]}
    assert ids("--run", run2_id) == {haiku["job_id"]}
    assert ids("--status", "succeeded", "--media-type", "text") == notes
    assert len(ids("--since", "1h")) == 5
    assert ids("--since", "2999-01-01") == set()

    alpha_id = history.job(history.run1, "notes", 0)["job_id"]
    alpha = next(j for j in everything if j["job_id"] == alpha_id)
    assert (alpha["provider"], alpha["model"], alpha["account"]) == ("local", "template", "local")
    assert (alpha["attempts"], alpha["cost_usd"], alpha["preset"]) == (4, 0.0, "notes-gpt")

    table = history.read("jobs", "--status", "failed")
    header, _, row = table.splitlines()
    assert header.split()[:4] == ["job_id", "status", "media_type", "preset"]
    assert row.startswith(haiku["job_id"][:12]) and "haiku-nano" in row
    assert "every candidate failed" in row  # long errors are cut in tables, kept in --json


def test_jobs_show_tells_why_each_fallback_fired(history: History) -> None:
    alpha = history.job(history.run1, "notes", 0)["job_id"]
    text = history.read("jobs", "show", alpha[:10])
    head, timeline = text.split("\ntimeline\n")
    assert f"job {alpha}  succeeded  text  step notes #1  preset notes-gpt" in head
    assert "served by local/template [local]" in head
    lines = [line.strip() for line in timeline.splitlines()]
    story = [
        ("attempt 1  openai/gpt-4.1 [oa-main]  failed", "transient (HTTP 500)"),
        ("retry_wait: retrying openai/gpt-4.1", "transient"),
        ("attempt 2  openai/gpt-4.1 [oa-main]  failed", "transient (HTTP 500)"),
        ("candidate_failed: openai/gpt-4.1: transient", "Injected fault 500"),
        ("fallback: openai/gpt-4.1 gave no valid artifact", "falling back to openai/gpt-4.1-mini"),
        ("attempt 3  openai/gpt-4.1-mini [oa-main]  failed", "permanent (HTTP 400)"),
        ("candidate_failed: openai/gpt-4.1-mini: permanent", "Injected fault 400"),
        ("fallback: openai/gpt-4.1-mini gave no valid artifact", "falling back to local/template"),
        ("attempt 4  local/template [local]  succeeded", "bytes"),
    ]
    told = [line.split("  ", 1)[1] for line in lines if line.startswith("+")]
    assert len(told) == len(story), timeline
    for line, (start, detail) in zip(told, story, strict=True):
        assert line.startswith(start) and detail in line, line
    assert "HTTP 200" not in text  # a success's status is not shown as an error

    gamma = history.job(history.run1, "notes", 2)["job_id"]
    shown = history.read_json("jobs", "show", gamma, "--json")
    (attempt,) = shown["attempts"]
    assert attempt["status"] == "succeeded"
    assert attempt["input_tokens"] == len("Notes on gamma") // 4 + 1
    assert attempt["cost_usd"] == pytest.approx(chat_cost("gpt-4.1", "Notes on gamma"))
    assert shown["events"] == []  # nothing went wrong, nothing to explain


def test_report_numbers_by_every_dimension(history: History) -> None:
    beta = chat_cost("gpt-4.1-mini", "Notes on beta")
    gamma = chat_cost("gpt-4.1", "Notes on gamma")

    def report(by: str) -> dict[Any, dict[str, Any]]:
        rows = history.read_json("report", "--by", by, "--format", "json")
        return {r[by]: r for r in rows}

    def check(row: dict[str, Any], jobs: int, ok: int, attempts: int, cost: float | None) -> None:
        assert (row["jobs"], row["succeeded"], row["failed"]) == (jobs, ok, jobs - ok)
        assert row["attempts"] == attempts
        assert row["success_rate"] == pytest.approx(ok / jobs)
        if ok:
            assert row["attempts_per_success"] == pytest.approx(attempts / ok)
        else:
            assert row["attempts_per_success"] is None and row["p50_latency_ms"] is None
        assert row["cost_usd"] == (None if cost is None else pytest.approx(cost))

    by_preset = report("preset")
    assert set(by_preset) == {"notes-gpt", "cover-card", "haiku-nano"}
    check(by_preset["notes-gpt"], 3, 3, 4 + 2 + 1, beta + gamma)
    check(by_preset["cover-card"], 1, 1, 1, 0.0)
    check(by_preset["haiku-nano"], 1, 0, 2, None)  # failed calls have no known cost
    # Job latency percentiles, checked against the jobs' own latencies.
    notes_latency = [
        j["latency_ms"] for j in history.read_json("jobs", "--preset", "notes-gpt", "--json")
    ]
    assert by_preset["notes-gpt"]["p50_latency_ms"] == pytest.approx(
        quantile_cont(notes_latency, 0.5)
    )
    assert by_preset["notes-gpt"]["p95_latency_ms"] == pytest.approx(
        quantile_cont(notes_latency, 0.95)
    )

    # Per provider/model/account: the jobs that tried them, and how many of those they served.
    by_provider = report("provider")
    check(by_provider["openai"], 4, 2, 3 + 2 + 1 + 2, beta + gamma)
    check(by_provider["local"], 2, 2, 2, 0.0)
    # One account per provider here, so the account rows repeat the provider rows.
    by_account = report("account")
    assert set(by_account) == {"oa-main", "local"}
    for account, provider in (("oa-main", "openai"), ("local", "local")):
        assert list(by_account[account].values())[1:] == list(by_provider[provider].values())[1:]
    by_model = report("model")
    assert set(by_model) == {"gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "template", "card"}
    check(by_model["gpt-4.1"], 3, 1, 2 + 1 + 1, gamma)
    check(by_model["gpt-4.1-mini"], 2, 1, 2, beta)
    check(by_model["gpt-4.1-nano"], 1, 0, 2, None)
    check(by_model["template"], 1, 1, 1, 0.0)
    # Attempt latency percentiles: the successful openai attempts, from `jobs show --json`.
    served_by_openai = [
        a["latency_ms"]
        for i in (1, 2)
        for a in history.read_json(
            "jobs", "show", history.job(history.run1, "notes", i)["job_id"], "--json"
        )["attempts"]
        if a["status"] == "succeeded"
    ]
    assert by_provider["openai"]["p50_latency_ms"] == pytest.approx(
        quantile_cont(served_by_openai, 0.5)
    )

    by_media = report("media_type")
    check(by_media["text"], 4, 3, 4 + 2 + 1 + 2, beta + gamma)
    check(by_media["image"], 1, 1, 1, 0.0)

    by_day = report("day")
    days = {j["started_at"][:10] for j in history.read_json("jobs", "--json")}
    assert set(by_day) == days  # one UTC day (two if the runs straddled midnight)
    assert sum(r["jobs"] for r in by_day.values()) == 5
    assert sum(r["attempts"] for r in by_day.values()) == 10
    assert sum(r["cost_usd"] or 0.0 for r in by_day.values()) == pytest.approx(beta + gamma)


def test_sql_in_every_format(history: History) -> None:
    query = (
        "SELECT step_id, count(*) AS jobs, sum(attempts) AS attempts "
        "FROM jobs GROUP BY ALL ORDER BY step_id"
    )
    csv_text = history.read("sql", query, "--format", "csv")
    assert csv_text.splitlines() == ["step_id,jobs,attempts", "cover,1,1", "haiku,1,2", "notes,3,7"]
    assert history.read_json("sql", query, "--format", "json") == [
        {"step_id": "cover", "jobs": 1, "attempts": 1},
        {"step_id": "haiku", "jobs": 1, "attempts": 2},
        {"step_id": "notes", "jobs": 3, "attempts": 7},
    ]
    table = history.read("sql", query).splitlines()
    assert table[0].split() == ["step_id", "jobs", "attempts"]
    assert table[-1].split() == ["notes", "3", "7"]
    # The documented views answer the everyday questions.
    failures = history.read_json(
        "sql", "SELECT error_class, attempts, jobs FROM v_failures_by_error_class ORDER BY 1",
        "--format", "json",
    )  # fmt: skip
    assert failures == [
        {"error_class": "permanent", "attempts": 2, "jobs": 2},
        {"error_class": "transient", "attempts": 4, "jobs": 2},
    ]
    fallbacks = history.read_json(
        "sql", "SELECT count(*) AS n FROM events WHERE kind = 'fallback'", "--format", "json"
    )
    assert fallbacks == [{"n": 3}]  # alpha fell back twice, beta once


def test_exit_codes_through_the_real_entry_point(history: History) -> None:
    report = history.mediamix("report", "--by", "provider", "--format", "json")
    assert report.returncode == 0, report.stderr
    assert {r["provider"] for r in json.loads(report.stdout)} == {"openai", "local"}

    bad_since = history.mediamix("jobs", "--since", "last tuesday")
    assert bad_since.returncode == 2
    assert "--since 'last tuesday'" in bad_since.stderr

    missing = history.mediamix("jobs", "show", "no-such-job")
    assert missing.returncode == 2  # bad input, as the README's exit codes say
    assert missing.stderr.strip() == (
        "mediamix: error: no job with an id starting 'no-such-job' in the run log"
    )

    write = history.mediamix("sql", "UPDATE jobs SET status = 'succeeded'")
    assert write.returncode == 2 and "read-only" in write.stderr
    assert "Traceback" not in report.stderr + bad_since.stderr + missing.stderr + write.stderr
