"""The adaptive strategy learns across runs from the run log: traffic leaves a model that
starts failing and comes back once it recovers.

Two Azure deployments on the fake server: gpt-4.1-mini (cheap, listed first) and gpt-4.1.
The preset ranks on success and cost only (latency weight 0, so timing cannot change the
order) and explores 20% of the time; every run uses a fixed --seed, so the whole sequence
is reproducible. Each run is 8 jobs, one at a time, through the `mediamix run` command
(in-process through click, so ten runs take seconds).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runner.cli.main import cli
from runner.engine.services import LiveStats
from runner.runlog.records import AttemptRecord, CandidateStats, new_id
from runner.runlog.store import RunLog
from tests.fakeprovider.server import FakeProviderServer

CHEAP, PRICEY = "gpt-4.1-mini", "gpt-4.1"
JOBS_PER_RUN = 8

PRESET = f"""\
media_type: text
strategy: adaptive
models:
  - {{provider: azure, model: {CHEAP}}}
  - {{provider: azure, model: {PRICEY}}}
adaptive:
  exploration: 0.2
  weights: {{success: 1.0, latency: 0.0, cost: 0.3}}
"""

PIPELINE = f"""\
name: notes
steps:
  - id: note
    preset: notes
    for_each: "range({JOBS_PER_RUN}) | list"
    prompt: "Note {{{{ item }}}}"
"""


def write_project(root: Path, server: FakeProviderServer) -> None:
    for relative, text in {
        "mediamix.yaml": "storage: {url: file://outputs}\n",
        "accounts.yaml": "accounts:\n  - {name: az, provider: azure, api_key_env: TEST_AZURE_KEY,"
        f" base_url: '{server.base_url('azure')}'}}\n",
        "presets/notes.yaml": PRESET,
        "pipelines/notes.yaml": PIPELINE,
    }.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def first_choices(root: Path) -> list[str]:
    """Per run, oldest first: the model each job tried first, as a string ("c" cheap, "P")."""
    result = CliRunner().invoke(
        cli,
        [
            "-C", str(root), "sql", "--format", "json",
            "SELECT j.run_id, j.item_index, a.model FROM attempts a JOIN jobs j USING (job_id) "
            "JOIN runs r ON r.run_id = j.run_id WHERE a.number = 1 "
            "ORDER BY r.started_at, j.item_index",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    runs: dict[str, str] = {}
    for row in json.loads(result.stdout):
        runs[row["run_id"]] = runs.get(row["run_id"], "") + ("c" if row["model"] == CHEAP else "P")
    return list(runs.values())


def test_traffic_moves_away_from_a_failing_model_and_back(
    tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(tmp_path, fake)
    monkeypatch.setenv("TEST_AZURE_KEY", "az-adaptive")
    seeds = iter(range(1, 100))

    def run(n: int) -> None:
        for _ in range(n):
            args = ["-C", str(tmp_path), "run", str(tmp_path / "pipelines" / "notes.yaml")]
            # Every run must call (learning needs traffic), not reuse the last one's jobs.
            args += ["--concurrency", "1", "--seed", str(next(seeds)), "--json", "--no-reuse"]
            result = CliRunner().invoke(cli, args)
            assert result.exit_code == 0, (result.output, result.exception)
            done: dict[str, Any] = json.loads(result.stdout)
            assert done["jobs_succeeded"] == JOBS_PER_RUN  # the fallback saves every job

    run(2)  # healthy
    fake.state.inject("500", path_contains=f"deployments/{CHEAP}/", times=10_000)
    run(3)  # the cheap model answers 500 to everything
    fake.state.reset()
    run(5)  # recovered
    history = first_choices(tmp_path)
    assert len(history) == 10 and all(len(r) == JOBS_PER_RUN for r in history)
    cheap_first = [r.count("c") for r in history]

    # Healthy: the cheap model carries most traffic (the rest is exploration).
    assert cheap_first[1] >= 5, history
    # Failing: the first jobs of the outage try it (each fails once, then moves to the
    # healthy model at once: one failure per job is all the evidence a job gives now);
    # within that run the pricier healthy model takes the lead, and after it goes first,
    # the cheap one only when exploring.
    failing = history[2:5]
    assert failing[0][0] == "c" and failing[0][-2:] == "PP", history
    assert all(r[0] == "P" for r in failing[1:]), history
    assert sum(r.count("c") for r in failing[1:]) <= 4, history
    # Recovered: exploration finds it working again and traffic comes back.
    recovered = history[5:]
    assert all(r[0] == "c" for r in recovered[-2:]), history
    assert sum(r.count("c") for r in recovered[-2:]) >= 12, history

    # The run log tells the same story per model: failures only during the outage.
    rows = CliRunner().invoke(
        cli,
        ["-C", str(tmp_path), "sql", "--format", "json",
         "SELECT model, status, count(*) AS n FROM attempts GROUP BY ALL"],
    )  # fmt: skip
    outcome = Counter({(r["model"], r["status"]): r["n"] for r in json.loads(rows.stdout)})
    failed_jobs = sum(r.count("c") for r in failing)  # each tried the cheap model once
    assert outcome[(CHEAP, "failed")] == failed_jobs
    assert outcome[(PRICEY, "failed")] == 0


def stats(model: str, attempts: int, successes: int, cost: float) -> CandidateStats:
    return CandidateStats("azure", model, "az", attempts, successes, 100.0, cost)


def test_live_outcomes_push_old_history_out_of_the_window() -> None:
    # The run log remembers 10 failures; this process then sees 4 successes.
    live = LiveStats([stats(CHEAP, 10, 0, 0.001)], recent=10)
    for _ in range(4):
        live.record("azure", CHEAP, True, 50.0, 0.002)
    attempts, successes, latency, cost = live.stats("azure", CHEAP)
    assert (attempts, successes) == (10, 4)  # 4 new successes + 6 of the 10 old failures
    assert latency == pytest.approx(50.0)  # failures carry no latency
    assert cost == pytest.approx((4 * 0.002 + 6 * 0.001) / 10)


def test_a_failure_never_makes_a_model_look_cheaper() -> None:
    live = LiveStats([])
    live.record("azure", PRICEY, True, 80.0, 0.004)
    live.record("azure", PRICEY, False, 5.0, None)
    attempts, successes, latency, cost = live.stats("azure", PRICEY)
    assert (attempts, successes, latency, cost) == (2, 1, 80.0, 0.004)


def test_history_accounts_are_merged_per_model() -> None:
    live = LiveStats(
        [stats(PRICEY, 4, 4, 0.004), CandidateStats("azure", PRICEY, "az2", 4, 0, None, None)]
    )
    assert live.stats("azure", PRICEY)[:2] == (8, 4)
    assert live.stats("azure", "never-tried") == (0, 0, None, None)


def test_model_stats_counts_each_models_latest_attempts(tmp_path: Path) -> None:
    log = RunLog(tmp_path / "runlog")
    start = datetime.now(UTC) - timedelta(hours=1)
    with log.writer() as writer:
        # 5 failures, then 7 successes split over two accounts; another model untouched.
        for n in range(12):
            writer.write(
                AttemptRecord(
                    new_id(), "job", "run", 1, "azure", CHEAP, start + timedelta(seconds=n),
                    "succeeded" if n >= 5 else "failed", account="az" if n % 2 else "az2",
                )
            )  # fmt: skip
        writer.write(AttemptRecord(new_id(), "job", "run", 1, "azure", PRICEY, start, "succeeded"))
    with log.queries() as q:
        latest, everything, last_four = (q.model_stats(24, recent=n) for n in (10, None, 4))

    def totals(rows: list[CandidateStats], model: str) -> tuple[int, int]:
        mine = [s for s in rows if s.model == model]
        return sum(s.attempts for s in mine), sum(s.successes for s in mine)

    assert totals(latest, CHEAP) == (10, 7)  # the 2 oldest failures fell out
    assert totals(everything, CHEAP) == (12, 7)
    assert totals(latest, PRICEY) == (1, 1)
    # The window is per model, then split by account: attempts 8..11.
    assert {s.account: (s.attempts, s.successes) for s in last_four if s.model == CHEAP} == {
        "az": (2, 2),
        "az2": (2, 2),
    }
    assert LiveStats(latest).stats("azure", CHEAP)[:2] == (10, 7)


JUDGED_PRESET = (
    PRESET.replace("cost: 0.3}", "cost: 0.3, quality: 1.0}")
    + """\
judge:
  provider: azure
  model: gpt-4.1-nano
  rubric: "Is this a good note for: {{ prompt }}?"
  min_score: 0.5
"""
)


def run_sequence(root: Path, runs: int, seeds: range) -> list[str]:
    for seed in seeds[:runs]:
        args = ["-C", str(root), "run", str(root / "pipelines" / "notes.yaml")]
        args += ["--concurrency", "1", "--seed", str(seed), "--json", "--no-reuse"]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, (result.output, result.exception)
        assert json.loads(result.stdout)["jobs_succeeded"] == JOBS_PER_RUN
    return first_choices(root)


def test_a_cheap_model_that_scores_low_loses_its_place(
    tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both models always succeed and the cheap one costs a fifth as much, so on success
    and cost alone it stays first. A judge scores its notes 0.55 (above min_score: every
    note is kept) and the pricier model's 0.95: the mean score, learned within a run and
    from the run log across runs, moves the traffic to the better model. Same seeds, so
    the two projects explore alike; the whole sequence is reproducible:

        no judge   ccccccPP PccPcccc ccccPccc Pccccccc
        judged     ccccccPP PccPPPPP PPPPcPPP cPPPPPPP
    """
    monkeypatch.setenv("TEST_AZURE_KEY", "az-adaptive")
    fake.state.script_judge(
        [(f"Fake reply from {CHEAP}:", 0.55), (f"Fake reply from {PRICEY}:", 0.95)]
    )
    unjudged, judged = tmp_path / "unjudged", tmp_path / "judged"
    write_project(unjudged, fake)
    write_project(judged, fake)
    (judged / "presets" / "notes.yaml").write_text(JUDGED_PRESET, encoding="utf-8")
    seeds = range(11, 15)

    without = run_sequence(unjudged, 4, seeds)
    with_judge = run_sequence(judged, 4, seeds)

    # No judge: the cheap model carries the traffic in every run.
    assert all(r.count("c") >= 5 for r in without), without
    # Judged: it starts first (no history), until exploration has the pricier model
    # scored; from then on the pricier model goes first, the cheap one only explored.
    assert with_judge[0][:6] == "cccccc", with_judge
    assert with_judge[0][-1] == "P", with_judge  # learned within the run
    assert with_judge[1][0] == "P", with_judge  # learned from the run log, a new process
    assert sum(r.count("P") for r in with_judge[-2:]) >= 12, with_judge
    assert sum(r.count("P") for r in with_judge[1:]) > 3 * sum(r.count("P") for r in without[1:])
    # The run log has the reason: every note judged, the scores per model.
    rows = CliRunner().invoke(
        cli,
        ["-C", str(judged), "sql", "--format", "json",
         "SELECT model, judged, rejected, mean_score FROM v_quality_by_model ORDER BY model"],
    )  # fmt: skip
    quality = {r["model"]: r for r in json.loads(rows.stdout)}
    assert quality[PRICEY]["mean_score"] == pytest.approx(0.95)
    assert quality[CHEAP]["mean_score"] == pytest.approx(0.55)
    assert quality[CHEAP]["rejected"] == quality[PRICEY]["rejected"] == 0
    assert quality[CHEAP]["judged"] + quality[PRICEY]["judged"] == 4 * JOBS_PER_RUN


def test_mean_score_takes_live_scores_first_then_history() -> None:
    past = CandidateStats("azure", CHEAP, "az", 10, 10, 100.0, 0.001, mean_score=0.2, scored=10)
    live = LiveStats([past], recent=10)
    # 0.2 over ten judged attempts, shrunk toward 0.5 by one imaginary middling score.
    assert live.quality("azure", CHEAP) == pytest.approx((10 * 0.2 + 0.5) / 11)
    for _ in range(6):
        live.record_score("azure", CHEAP, 0.9)
    assert live.quality("azure", CHEAP) == pytest.approx((6 * 0.9 + 4 * 0.2 + 0.5) / 11)
    assert live.quality("azure", PRICEY) is None  # never judged
