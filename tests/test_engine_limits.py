"""Account limits through the real engine against a fake server enforcing the same rate.

The fake server enforces each account's rpm per second, as vendors quantize minute limits
(OpenAI: "60,000 requests/minute may be enforced as 1,000 requests/second"), with one
request of tolerance for timing jitter between client and server. A client that sent in
bursts would get 429s at once; one that paces gets none and takes about the time the limit
allows. Times come from the server's own request log.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.engine.results import RunResult
from tests.engine_support import Project
from tests.fakeprovider import FakeProviderServer
from tests.test_engine_providers import (
    account,
    attempts_of,
    http_project,
    run_project,
    write_pipeline,
    write_preset,
)

RPM = 600  # 10 requests per second per account
PER_SECOND = RPM // 60
JOBS = 24
CHAT = "/chat/completions"


def enforce_rpm(fake: FakeProviderServer) -> None:
    fake.state.set_rate_limit(PER_SECOND + 1, window_s=1.0)


def batch_project(
    root: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch, accounts: int
) -> tuple[Project, list[str]]:
    """``accounts`` OpenAI accounts of RPM each and a step fanned out over JOBS items."""
    keys = [f"sk-test-limits-{root.name}-{n}" for n in range(accounts)]
    entries: list[dict[str, Any]] = []
    for n, key in enumerate(keys):
        variable = f"MMX_LIMITS_{root.name.upper()}_{n}"
        monkeypatch.setenv(variable, key)
        entries.append(account(fake, "openai", f"acct{n}", variable, rpm=RPM))
    project = http_project(root, entries)
    write_preset(project, "text", [{"provider": "openai", "model": "gpt-4o-mini"}])
    write_pipeline(
        project,
        [{"id": "each", "preset": "p", "for_each": "inputs.items", "prompt": "item {{ item }}"}],
        inputs={"items": {"type": "list", "default": list(range(JOBS))}},
    )
    return project, keys


def timed_run(project: Project) -> tuple[RunResult, float]:
    started = time.monotonic()
    result = run_project(project)
    return result, time.monotonic() - started


def sent_at(fake: FakeProviderServer, key: str) -> list[float]:
    return sorted(r.timestamp for r in fake.state.requests if r.api_key == key and CHAT in r.path)


def rate_limited(project: Project) -> int:
    return sum(1 for a in attempts_of(project) if a["error_class"] == "rate_limited")


def test_a_batch_within_the_limit_gets_no_429_and_is_paced(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    enforce_rpm(fake)
    project, (key,) = batch_project(tmp_path, fake, monkeypatch, accounts=1)
    result, wall = timed_run(project)

    assert result.succeeded == JOBS
    assert rate_limited(project) == 0
    times = sent_at(fake, key)
    assert len(times) == JOBS  # every job went once: nothing was refused and retried
    ideal = (JOBS - 1) / PER_SECOND
    # The pool paced the sends (a burst would take ~0 s and earn 429s) ...
    assert times[-1] - times[0] >= 0.9 * ideal
    # ... and did not dawdle: generous, only catches a pool that waits whole windows.
    assert wall < ideal + 5.0


def test_two_accounts_share_the_load_and_double_the_throughput(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    enforce_rpm(fake)
    one_project, (one_key,) = batch_project(tmp_path / "one", fake, monkeypatch, accounts=1)
    two_project, two_keys = batch_project(tmp_path / "two", fake, monkeypatch, accounts=2)
    one, one_wall = timed_run(one_project)
    two, two_wall = timed_run(two_project)

    assert one.succeeded == two.succeeded == JOBS
    assert rate_limited(one_project) == rate_limited(two_project) == 0
    per_account = [sent_at(fake, key) for key in two_keys]
    assert all(JOBS // 3 <= len(times) <= JOBS * 2 // 3 for times in per_account)
    assert sum(len(times) for times in per_account) == JOBS
    one_span = sent_at(fake, one_key)[-1] - sent_at(fake, one_key)[0]
    two_span = max(t[-1] for t in per_account) - min(t[0] for t in per_account)
    # Each account still kept its own pace ...
    longest = max(len(t) for t in per_account)
    assert two_span >= 0.9 * (longest - 1) / PER_SECOND
    # ... and together they got through the batch in about half the time.
    assert two_span < 0.7 * one_span, (one_span, two_span)
    assert two_wall < one_wall


def test_a_429_cools_only_that_account_while_the_other_keeps_serving(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, _ = batch_project(tmp_path, fake, monkeypatch, accounts=2)
    cooldown = 1.0
    fake.state.inject("429", path_contains=CHAT, retry_after=cooldown)
    result, _ = timed_run(project)

    assert result.succeeded == JOBS
    attempts = attempts_of(project)
    (hit,) = [a for a in attempts if a["status"] == "failed"]
    assert (hit["error_class"], hit["retry_after_s"]) == ("rate_limited", cooldown)
    told = hit["finished_at"]  # when the client learned of the 429
    later = [a for a in attempts if a["started_at"] > told]
    cooled = [a["started_at"] for a in later if a["account"] == hit["account"]]
    assert cooled, "the cooled account came back once its Retry-After had passed"
    assert min(cooled) - told >= timedelta(seconds=cooldown)
    meanwhile = [
        a
        for a in later
        if a["account"] != hit["account"] and a["started_at"] - told < timedelta(seconds=cooldown)
    ]
    assert len(meanwhile) >= PER_SECOND // 2, "the other account kept serving meanwhile"
