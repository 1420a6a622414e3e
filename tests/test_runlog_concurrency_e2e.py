"""No lost history: two `mediamix run` processes on one project while a third keeps asking
`mediamix report` and `mediamix sql`. Everyone finishes, nobody sees a lock error, and
every attempt of both runs is in the log exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.fakeprovider.server import FakeProviderServer

LOCK_ERRORS = ("database is locked", "Could not set lock", "Conflicting lock", "Traceback")

PRESET = """\
media_type: text
strategy: adaptive
models:
  - {provider: openai, model: gpt-4.1}
  - {provider: openai, model: gpt-4.1-mini}
  - {provider: local, model: template}
retry: {max_attempts: 2}
"""

PIPELINE = """\
name: many
inputs:
  n: {type: integer, default: 24}
  tag: {type: string, default: ""}
steps:
  - id: note
    preset: notes
    for_each: "range(inputs.n) | list"
    prompt: "Note {{ item }} {{ inputs.tag }}"
"""


def mediamix(root: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runner.cli.main", *args],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


def test_two_runs_and_a_reader_lose_nothing(tmp_path: Path, fake: FakeProviderServer) -> None:
    root = tmp_path / "project"
    (root / "presets").mkdir(parents=True)
    (root / "pipelines").mkdir()
    (root / "mediamix.yaml").write_text("storage: {url: file://outputs}\nconcurrency: 3\n")
    (root / "accounts.yaml").write_text(
        "accounts:\n  - {name: oa, provider: openai, api_key_env: TEST_OPENAI_KEY,"
        f" base_url: '{fake.base_url('openai')}'}}\n"
    )
    (root / "presets" / "notes.yaml").write_text(PRESET)
    (root / "pipelines" / "many.yaml").write_text(PIPELINE)
    env = {**os.environ, "TEST_OPENAI_KEY": "sk-concurrency"}
    # Slow answers keep both runs writing for a while; some failures add retries/fallbacks.
    fake.state.latency_s = 0.1
    fake.state.inject("500", path_contains="chat/completions", times=6)
    fake.state.inject("400", path_contains="chat/completions", times=3)

    # Different inputs: two runs of the same jobs at once would share them (one pays, one
    # reuses: tests/test_ledger_signals.py); --no-reuse: no earlier history is reused.
    runs = [
        mediamix(
            root, env, "run", "pipelines/many.yaml", "-i", f"tag={tag}", "--json", "--no-reuse"
        )
        for tag in ("a", "b")
    ]
    reads: list[tuple[int, str, str]] = []

    def reader() -> None:
        # Ask until both runs are done, then once more.
        queries = (
            ("sql", "SELECT count(*) AS n FROM attempts", "--format", "json"),
            ("report", "--by", "model", "--format", "json"),
        )
        turn = 0
        while True:
            done = all(r.poll() is not None for r in runs)
            reads.append(finish(mediamix(root, env, *queries[turn % 2])))
            turn += 1
            if done:
                return

    # The reader starts once the runs have begun writing (before that, "no run log" is right).
    inbox = root / ".mediamix" / "runlog" / "inbox"
    while not inbox.is_dir() and all(r.poll() is None for r in runs):
        time.sleep(0.01)
    thread = threading.Thread(target=reader)
    thread.start()
    results = [finish(r) for r in runs]
    thread.join(timeout=120)

    for code, out, err in results + reads:
        assert code == 0, err
        assert not [e for e in LOCK_ERRORS if e in out + err], err
    seen = [json.loads(out)[0]["n"] for _, out, _ in reads[0::2]]
    assert seen == sorted(seen), "the visible history only grows"
    models = {r["model"] for _, out, _ in reads[1::2] for r in json.loads(out)}
    assert models <= {"gpt-4.1", "gpt-4.1-mini", "template"}

    outputs: list[dict[str, Any]] = [json.loads(out) for _, out, _ in results]
    expected = {j["job_id"]: (run["run_id"], j["attempts"]) for run in outputs for j in run["jobs"]}
    assert len(expected) == 48 and all(run["status"] == "succeeded" for run in outputs)
    final = finish(
        mediamix(
            root,
            env,
            "sql",
            "SELECT job_id, any_value(run_id) AS run_id, count(*) AS attempts,"
            " count(DISTINCT attempt_id) AS distinct_ids FROM attempts GROUP BY job_id",
            "--format",
            "json",
        )
    )
    assert final[0] == 0, final[2]
    logged = {r["job_id"]: (r["run_id"], r["attempts"]) for r in json.loads(final[1])}
    assert logged == expected
    assert all(r["attempts"] == r["distinct_ids"] for r in json.loads(final[1]))
    # Every HTTP call the fake server answered is one logged attempt (the rest were local).
    total = sum(attempts for _, attempts in expected.values())
    assert total > 48  # the injected faults caused retries and fallbacks
    assert seen[0] < total, "the first read saw a history still being written"
    local = sum(
        1 for run in outputs for j in run["jobs"] if j["artifacts"][0]["provider"] == "local"
    )
    assert fake.state.count("chat/completions") == total - local
