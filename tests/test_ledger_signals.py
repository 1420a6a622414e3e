"""The ledger through kills: a counting vendor (the fake server logs every call it answers,
per prompt) and 240-row text batches killed mid-flight, then resumed.

- SIGKILL at random moments, then ``--resume``: every row ends done, no stored answer is
  ever bought again (one answer file per prompt, every file known to the run log), and
  the calls paid twice are at most the ones in flight at each kill.
- SIGTERM (what CI runners, Kubernetes and systemd send): the process stops dispatching,
  lets the calls in flight finish and be recorded, prints its summary, exits 143; resuming
  pays for nothing twice.
- two batches over the same rows at once: each prompt is paid once.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.batch_support import (
    batch_command,
    batch_project,
    chat_prompts,
    prompt_of,
    query,
    write_rows,
)
from tests.fakeprovider import FakeProviderServer

ROWS = 240
CONCURRENCY = 16


def start_batch(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        batch_command(CONCURRENCY, *args),
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_calls(fake: FakeProviderServer, more_than: int, timeout: float = 60) -> None:
    """Until the vendor has answered more than ``more_than`` calls in all."""
    deadline = time.monotonic() + timeout
    while sum(chat_prompts(fake).values()) <= more_than:
        assert time.monotonic() < deadline, "the batch made no calls"
        time.sleep(0.01)


def finish(proc: subprocess.Popen[str], timeout: float = 180) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def answer_files(root: Path) -> Counter[str]:
    """Prompts of the stored answers (the fake's reply quotes the prompt)."""
    seen: Counter[str] = Counter()
    for path in (root / "outputs").rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            reply = path.read_text(encoding="utf-8")
            seen[reply.split(": ", 1)[1].strip()] += 1
    return seen


def known_artifact_files(root: Path) -> set[str]:
    rows = query(root, "SELECT uri FROM artifacts")
    return {Path(r["uri"].removeprefix("file://")).name + "|" + r["uri"] for r in rows}


def assert_ledger_exact(root: Path, fake: FakeProviderServer, *, kills: int) -> Counter[str]:
    paid = chat_prompts(fake)
    prompts = {prompt_of(n) for n in range(ROWS)}
    assert set(paid) == prompts
    stored = answer_files(root)
    # Every prompt has exactly one stored answer: none was bought again after storing.
    assert stored == Counter({p: 1 for p in prompts})
    # Every stored file is in the run log (no answer the ledger does not know).
    uris = {r["uri"] for r in query(root, "SELECT uri FROM artifacts")}
    for path in (root / "outputs").rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            assert path.resolve().as_uri() in uris, path
    # Every row ended with one succeeded (or reused) job.
    done = query(
        root,
        "SELECT count(DISTINCT idempotency_key) AS n FROM jobs WHERE status = 'succeeded'",
    )
    assert done == [{"n": ROWS}]
    extra = Counter({p: c - 1 for p, c in paid.items() if c > 1})
    assert sum(extra.values()) <= kills * CONCURRENCY
    return extra


@pytest.fixture
def project(tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    fake.state.latency_s = 0.03  # calls are in flight when the signals land
    project = batch_project(tmp_path / "p", fake, monkeypatch)
    write_rows(project.root / "rows.jsonl", ROWS)
    return project.root


def test_sigkill_at_random_moments_then_resume_never_rebuys_a_stored_answer(
    project: Path, fake: FakeProviderServer
) -> None:
    rng = random.Random(11)
    kills = 0
    for round_ in range(3):
        proc = start_batch(project, *(["--resume"] if round_ else []))
        wait_for_calls(fake, sum(chat_prompts(fake).values()) + rng.randint(10, 50))
        time.sleep(rng.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)
        finish(proc)
        kills += 1
    code, out, err = finish(start_batch(project, "--resume"))
    assert code == 0, err
    assert json.loads(out)["status"] == "succeeded"
    extra = assert_ledger_exact(project, fake, kills=kills)
    assert "Traceback" not in err
    print(f"calls paid twice after {kills} SIGKILLs: {sum(extra.values())}")


def test_sigterm_stops_gracefully_and_resume_pays_nothing_twice(
    project: Path, fake: FakeProviderServer
) -> None:
    rng = random.Random(5)
    for round_ in range(3):
        proc = start_batch(project, *(["--resume"] if round_ else []))
        wait_for_calls(fake, sum(chat_prompts(fake).values()) + rng.randint(10, 50))
        time.sleep(rng.uniform(0, 0.05))
        proc.send_signal(signal.SIGTERM)
        code, out, err = finish(proc)
        if code == 0:  # finished before the signal: nothing left to stop
            break
        assert code == 143, err
        summary = json.loads(out)
        assert summary["status"] == "interrupted"
        assert "SIGTERM: stopping" in err and "Traceback" not in err
    code, out, err = finish(start_batch(project, "--resume"))
    assert code == 0, err
    extra = assert_ledger_exact(project, fake, kills=0)
    assert sum(extra.values()) == 0


def test_two_batches_over_the_same_rows_pay_each_prompt_once(
    project: Path, fake: FakeProviderServer
) -> None:
    first, second = start_batch(project), start_batch(project)
    results = [finish(first), finish(second)]
    for code, _, err in results:
        assert code == 0, err
    paid = chat_prompts(fake)
    assert paid == Counter({prompt_of(n): 1 for n in range(ROWS)})
    summaries = [json.loads(out) for _, out, _ in results]
    # Between them, every row was made once and reused once.
    assert sum(s["jobs_reused"] for s in summaries) == ROWS
    assert answer_files(project) == Counter({prompt_of(n): 1 for n in range(ROWS)})
