"""Fail over before sleeping, over real HTTP against the fake provider server.

A 500 or a 429 on one account moves the job at once to another account (or the next
candidate) that can take the call now; a backoff is slept only when nothing else can.
The backoffs here are long (30 s) where the point is that none is slept, and short but
exact where the point is that one is: waits are real (``no_wait`` off), and what the run
log and the server saw tell which happened.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from runner.config.project import load_workspace
from runner.engine.api import plan_pipeline
from runner.engine.dryrun import describe_plan
from runner.engine.services import EngineOptions
from tests.engine_support import Project
from tests.fakeprovider import FakeProviderServer
from tests.test_engine_providers import (
    account,
    attempts_of,
    http_project,
    rows,
    run_project,
    write_pipeline,
    write_preset,
)

CHAT = "/chat/completions"
MODEL = {"provider": "openai", "model": "gpt-4o-mini"}
SLEEPS_FOR_REAL = EngineOptions(no_wait=False, poll_interval_s=0.0)


def project_with(
    root: Path,
    fake: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    *,
    accounts: int,
    models: list[dict[str, Any]],
    retry: dict[str, Any],
    provider: str = "openai",
    items: int = 1,
) -> tuple[Project, list[str]]:
    keys = [f"sk-test-failover-{root.name}-{n}" for n in range(accounts)]
    entries = []
    for n, key in enumerate(keys):
        variable = f"MMX_FAILOVER_{n}"
        monkeypatch.setenv(variable, key)
        entries.append(account(fake, provider, f"acct{n}", variable))
    project = http_project(root, entries)
    media = "video" if provider == "runway" else "text"
    write_preset(project, media, models, retry=retry)
    step = {"id": "each", "preset": "p", "for_each": "inputs.items", "prompt": "item {{ item }}"}
    write_pipeline(
        project, [step], inputs={"items": {"type": "list", "default": list(range(items))}}
    )
    return project, keys


def succeeded_after_one_500(
    tmp_path: Path,
    fake: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    *,
    accounts: int,
    models: list[dict[str, Any]],
    retry: dict[str, Any],
) -> tuple[Project, list[str]]:
    """The project, and its keys, after one job whose first chat call answered 500 ran to
    success with real waits."""
    project, keys = project_with(
        tmp_path, fake, monkeypatch, accounts=accounts, models=models, retry=retry
    )
    fake.state.inject("500", path_contains=CHAT)
    result = run_project(project, options=SLEEPS_FOR_REAL)
    assert result.status == "succeeded"
    return project, keys


def events(project: Project, *kinds: str) -> list[dict[str, Any]]:
    """The run's events of ``kinds``, oldest first, with their data parsed."""
    marks = ", ".join("?" for _ in kinds)
    found = rows(
        project, f"SELECT * FROM events WHERE kind IN ({marks}) ORDER BY occurred_at", list(kinds)
    )
    return [{**event, "data": json.loads(event["data"] or "{}")} for event in found]


def gap_s(earlier: datetime, later: datetime) -> float:
    return (later - earlier).total_seconds()


def test_a_500_is_retried_at_once_on_the_idle_second_account(
    tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    retry = {"initial_backoff_s": 30, "jitter_s": 0}
    project, keys = succeeded_after_one_500(
        tmp_path, fake, monkeypatch, accounts=2, models=[MODEL], retry=retry
    )
    first, second = attempts_of(project)
    assert (first["status"], first["error_class"], first["http_status"]) == (
        "failed",
        "transient",
        500,
    )
    assert second["status"] == "succeeded" and second["account"] != first["account"]
    # Each key reached the server once: the failed account was not asked again.
    assert [fake.state.count(CHAT, key=key) for key in keys] == [1, 1]
    # No backoff: the event says "at once", and no 30 s wait went by.
    moved = events(project, "failover", "retry_wait")
    assert [(e["kind"], e["data"]["wait_s"]) for e in moved] == [("failover", 0.0)]
    assert f"account {first['account']} failed with transient" in moved[0]["message"]
    assert gap_s(first["finished_at"], second["started_at"]) < 30


def test_with_one_account_and_one_model_the_backoff_still_happens(
    tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    retry = {"initial_backoff_s": 0.4, "jitter_s": 0}
    project, _ = succeeded_after_one_500(
        tmp_path, fake, monkeypatch, accounts=1, models=[MODEL], retry=retry
    )
    first, second = attempts_of(project)
    assert first["account"] == second["account"] == "acct0"
    waited = events(project, "failover", "retry_wait")
    assert [(e["kind"], e["data"]["wait_s"]) for e in waited] == [("retry_wait", 0.4)]
    assert "retrying openai/gpt-4o-mini in 0.4s after transient" in waited[0]["message"]
    assert gap_s(first["finished_at"], second["started_at"]) >= 0.4


def test_with_one_account_a_500_moves_to_the_next_candidate_at_once(
    tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fallback = {"provider": "openai", "model": "gpt-4o"}
    retry = {"initial_backoff_s": 30, "jitter_s": 0}
    project, _ = succeeded_after_one_500(
        tmp_path, fake, monkeypatch, accounts=1, models=[MODEL, fallback], retry=retry
    )
    assert [(a["model"], a["status"]) for a in attempts_of(project)] == [
        ("gpt-4o-mini", "failed"),
        ("gpt-4o", "succeeded"),
    ]
    moved = events(project, "fallback", "retry_wait")
    assert [(e["kind"], e["data"]["at_once"]) for e in moved] == [("fallback", True)]
    assert "openai/gpt-4o can take the call now" in moved[0]["message"]


def test_failover_accounts_keeps_the_preferred_model_through_its_backoff(
    tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fallback = {"provider": "openai", "model": "gpt-4o"}
    retry = {"initial_backoff_s": 0.2, "jitter_s": 0, "failover": "accounts"}
    project, _ = succeeded_after_one_500(
        tmp_path, fake, monkeypatch, accounts=1, models=[MODEL, fallback], retry=retry
    )
    assert [(a["model"], a["status"]) for a in attempts_of(project)] == [
        ("gpt-4o-mini", "failed"),
        ("gpt-4o-mini", "succeeded"),
    ]
    assert [e["kind"] for e in events(project, "fallback", "retry_wait")] == ["retry_wait"]


def test_a_429_moves_on_at_once_and_its_retry_after_rules_that_account(
    tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    retry = {"initial_backoff_s": 30, "jitter_s": 0}
    project, keys = project_with(
        tmp_path, fake, monkeypatch, accounts=2, models=[MODEL], retry=retry, items=4
    )
    fake.state.inject("429", path_contains=CHAT, retry_after=60)
    result = run_project(
        project, options=EngineOptions(no_wait=False, poll_interval_s=0.0, concurrency=1)
    )

    assert result.status == "succeeded"
    tried = [(a["account"], a["status"]) for a in attempts_of(project)]
    limited = tried[0][0]
    other = "acct1" if limited == "acct0" else "acct0"
    # The 429 moved the job to the other account at once; for the next 60 s (the whole
    # run) the account that sent it is not asked again.
    assert tried == [(limited, "failed")] + [(other, "succeeded")] * 4
    assert fake.state.count(CHAT, key=keys[int(limited[-1])]) == 1
    cooled = events(project, "account_cooldown")
    assert cooled and cooled[0]["data"]["cooldown_s"] == 60


def test_a_paid_video_task_is_polled_again_on_its_own_account_not_bought_elsewhere(
    tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    retry = {"initial_backoff_s": 0.05, "jitter_s": 0}
    video = {"provider": "runway", "model": "gen4.5"}
    project, keys = project_with(
        tmp_path, fake, monkeypatch, accounts=2, models=[video], retry=retry, provider="runway"
    )
    fake.state.inject("500", path_contains="/tasks/")
    result = run_project(project, options=SLEEPS_FOR_REAL)

    assert result.status == "succeeded"
    created = [fake.state.count("_to_video", key=key, method="POST") for key in keys]
    assert sorted(created) == [0, 1]  # one task bought, on one account
    owner = keys[created.index(1)]
    polls = [r for r in fake.state.requests if "/tasks/" in r.path]
    assert len(polls) >= 2 and all(r.api_key == owner for r in polls)


def test_the_last_candidate_hands_back_at_once_before_any_backoff(
    tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gpt-4o-mini fails and hands the job to gpt-4o, which fails too: the job goes back
    to gpt-4o-mini at once for its remaining attempts, since its account can take the
    call now; no 30 s backoff is slept while an account is free."""
    fallback = {"provider": "openai", "model": "gpt-4o"}
    retry = {"initial_backoff_s": 30, "jitter_s": 0}
    project, _ = project_with(
        tmp_path, fake, monkeypatch, accounts=1, models=[MODEL, fallback], retry=retry
    )
    fake.state.inject("500", path_contains=CHAT, times=2)
    result = run_project(project, options=SLEEPS_FOR_REAL)

    assert result.status == "succeeded"
    tried = [(a["model"], a["status"]) for a in attempts_of(project)]
    assert tried == [
        ("gpt-4o-mini", "failed"),
        ("gpt-4o", "failed"),
        ("gpt-4o-mini", "succeeded"),
    ]
    moved = events(project, "fallback", "retry_wait")
    assert [(e["kind"], e["data"]["at_once"]) for e in moved] == [
        ("fallback", True),
        ("fallback", True),
    ]
    first, _, last = attempts_of(project)
    assert gap_s(first["finished_at"], last["started_at"]) < 30


def test_moving_to_another_account_does_not_use_up_an_attempt(
    tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one attempt per candidate, a 500 on the first account still ends in success
    on the second: going on at once on an idle account is the same attempt. Each account
    is asked once per attempt, so when both fail, the attempt is used up."""
    retry = {"max_attempts": 1, "initial_backoff_s": 30, "jitter_s": 0}
    project, keys = succeeded_after_one_500(
        tmp_path, fake, monkeypatch, accounts=2, models=[MODEL], retry=retry
    )
    assert [a["status"] for a in attempts_of(project)] == ["failed", "succeeded"]
    assert [fake.state.count(CHAT, key=key) for key in keys] == [1, 1]

    both_fail, _ = project_with(
        tmp_path / "both", fake, monkeypatch, accounts=2, models=[MODEL], retry=retry
    )
    fake.state.inject("500", path_contains=CHAT, times=2)
    result = run_project(both_fail, options=SLEEPS_FOR_REAL)
    assert result.status == "failed"
    assert [a["status"] for a in attempts_of(both_fail)] == ["failed", "failed"]


def test_with_one_account_a_failed_attempt_is_used_up(
    tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    retry = {"max_attempts": 1, "initial_backoff_s": 30, "jitter_s": 0}
    project, _ = project_with(tmp_path, fake, monkeypatch, accounts=1, models=[MODEL], retry=retry)
    fake.state.inject("500", path_contains=CHAT)
    result = run_project(project, options=SLEEPS_FOR_REAL)
    assert result.status == "failed"
    assert [a["status"] for a in attempts_of(project)] == ["failed"]


@pytest.mark.parametrize("accounts", [1, 2])
def test_the_dry_runs_worst_case_counts_a_timeout_on_every_account(
    tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch, accounts: int
) -> None:
    """An attempt that times out on one account goes on at once on the next: the worst
    case of one attempt is one timeout per account serving the model."""
    retry = {"max_attempts": 2, "initial_backoff_s": 1, "jitter_s": 0}
    model = {**MODEL, "timeout": 10}
    project, _ = project_with(
        tmp_path, fake, monkeypatch, accounts=accounts, models=[model], retry=retry
    )
    ws = load_workspace(project.root)
    plan = plan_pipeline(project.root / "pipelines/p.yaml", ws, {})
    info = describe_plan(plan, ws)
    # Two attempts of 10 s on each account, and the one backoff (1 s) between them.
    assert info["steps"][0]["worst_case_s"] == 2 * accounts * 10 + 1
    assert info["worst_case_all_candidates_s"] == 2 * accounts * 10 + 1
