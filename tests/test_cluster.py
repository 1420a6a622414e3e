"""`mediamix batch --cluster` on a real Dask LocalCluster of 2 worker processes.

One cluster for the module (starting one costs seconds). Providers are the loopback fake
server over real HTTP; the run log is the client's, read with SQL as a user would.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.cli.main import main
from tests.batch_support import chat_prompts, prompt_of, write_rows
from tests.benchmarks.test_transport_bench import fake_server_process
from tests.cluster_support import (
    S3_KEY_ENV,
    S3_SECRET_ENV,
    FakeServerProcess,
    cluster_environment,
    cluster_project,
    local_cluster,
    spawn,
    until,
)
from tests.engine_support import log_rows
from tests.fakeprovider import FakeProviderServer
from tests.s3server import S3Server
from tests.test_cli_batch import succeeded_prompts

pytest.importorskip("distributed", reason="the cluster extra: pip install 'mediamix[cluster]'")


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with cluster_environment(tmp_path_factory.mktemp("home")), local_cluster(2) as cluster:
        yield cluster.scheduler_address


def mediamix(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 0), out, err


def rows_of(root: Path, sql: str) -> list[dict[str, Any]]:
    return log_rows(root / ".mediamix" / "runlog", sql)


CHAT = "/chat/completions"
RPM = 120  # 2 requests a second, enforced by the fake server per key
PER_SECOND = RPM // 60


def test_an_account_rpm_holds_across_workers_with_no_429_at_near_full_rate(
    tmp_path: Path, scheduler: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # As vendors quantize minute limits, over 2 s here, with one request of tolerance:
    # on a busy 2-core machine a worker's request can leave ~150 ms after its slot (the
    # server's own log shows it), so a tight window would count that jitter, not the
    # pace. Two workers each pacing at the full rate would still get 429s at once; the
    # cluster's one pace gets none.
    with fake_server_process(0.0) as url:
        server = FakeServerProcess(url)
        server.configure(rate_limit_rpm=2 * PER_SECOND + 1, rate_window_s=2.0)
        project = cluster_project(tmp_path, server, rpm=RPM)
        rows = write_rows(tmp_path / "rows.jsonl", 14)
        code, _, err = mediamix(
            capsys, "-C", str(project.root), "batch", "notes", str(rows),
            "--cluster", scheduler, "--concurrency", "4", "--json",
        )  # fmt: skip
        assert code == 0, err
        sent = sorted(r["timestamp"] for r in server.requests() if CHAT in r["path"])
    assert len(sent) == 14  # nothing was refused and sent again
    attempts = rows_of(project.root, "SELECT http_status, error_class, worker FROM attempts")
    assert not [a for a in attempts if a["http_status"] == 429 or a["error_class"]]
    assert len({a["worker"] for a in attempts}) == 2
    rate = (len(sent) - 1) / (sent[-1] - sent[0])
    print(f"\n2 workers, rpm {RPM}: {rate:.2f} requests/s, {rate / PER_SECOND:.0%} of the limit")
    assert 0.9 * PER_SECOND <= rate <= 1.1 * PER_SECOND, rate


def test_a_429_cools_the_account_on_every_worker(
    tmp_path: Path,
    fake: FakeProviderServer,
    scheduler: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = cluster_project(tmp_path, fake)  # no limits declared: only the 429 says wait
    rows = write_rows(tmp_path / "rows.jsonl", 60)
    fake.state.latency_s = 0.05
    cooldown = 1.0

    def refuse_once_both_are_busy() -> None:
        until(lambda: fake.state.count(CHAT) >= 16, 60, "both workers to be calling")
        fake.state.inject("429", path_contains=CHAT, retry_after=cooldown)

    injector = threading.Thread(target=refuse_once_both_are_busy)
    injector.start()
    code, _, err = mediamix(
        capsys, "-C", str(project.root), "batch", "notes", str(rows),
        "--cluster", scheduler, "--concurrency", "3", "--json",
    )  # fmt: skip
    injector.join()
    assert code == 0, err
    attempts = rows_of(
        project.root, "SELECT started_at, finished_at, error_class, worker FROM attempts"
    )
    (hit,) = [a for a in attempts if a["error_class"] == "rate_limited"]
    told = hit["finished_at"]  # when its worker learned of the 429
    slack = timedelta(seconds=0.15)  # a call already past the pool when the news came
    during = [
        a for a in attempts if told + slack < a["started_at"] < told + timedelta(seconds=cooldown)
    ]
    assert during == [], (told, hit, sorted((a["started_at"], a["worker"]) for a in attempts)[:60])
    after = {a["worker"] for a in attempts if a["started_at"] >= told + timedelta(seconds=cooldown)}
    before = {a["worker"] for a in attempts if a["started_at"] < told}
    assert len(before) == len(after) == 2  # both were calling before, and both went on after


PRICED = {
    "media_type": "text",
    "models": [{"provider": "openai", "model": "gpt-4.1", "params": {"max_tokens": 9}}],
    "retry": {"max_attempts": 1},
}
SHORT = {
    "name": "notes",
    "inputs": {"topic": {"type": "string"}, "n": {"type": "integer", "default": 0}},
    "steps": [{"id": "note", "preset": "chat", "prompt": "Note {{ inputs.n }}"}],
}


def test_max_cost_is_one_budget_for_the_whole_cluster(
    tmp_path: Path,
    fake: FakeProviderServer,
    scheduler: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Priced as in tests/test_budget.py: each call is estimated at $0.000076 and costs
    # $0.000068, so $0.0005 pays for 7 calls whoever makes them; a budget per worker
    # would let two workers make up to 14.
    cap = 0.0005
    project = cluster_project(tmp_path, fake, pipeline=SHORT)
    project.write("presets/chat.yaml", json.dumps(PRICED))
    rows = write_rows(tmp_path / "rows.jsonl", 16)
    fake.state.latency_s = 0.05
    code, out, err = mediamix(
        capsys, "-C", str(project.root), "batch", "notes", str(rows), "--cluster", scheduler,
        "--concurrency", "2", "--max-cost", str(cap), "--json",
    )  # fmt: skip
    assert code == 1, err
    summary = json.loads(out)
    assert summary["stopped"] == "budget"
    paid = rows_of(project.root, "SELECT cost_usd, worker FROM attempts WHERE status = 'succeeded'")
    assert 0 < len(paid) <= 7
    assert sum(p["cost_usd"] for p in paid) <= cap
    assert fake.state.count(CHAT) == len(paid) == summary["jobs_succeeded"]
    assert summary["cost_usd"] == pytest.approx(sum(p["cost_usd"] for p in paid))
    refused = rows_of(project.root, "SELECT worker FROM jobs WHERE error_class = 'budget'")
    everyone = {p["worker"] for p in paid} | {r["worker"] for r in refused}
    assert len(everyone) == 2  # both workers asked the one budget
    left = summary["rows_failed"] + summary["rows_not_run"]
    assert summary["rows_succeeded"] + left == 16 and left > 0


def test_every_row_runs_once_over_both_workers_into_s3_and_one_run_log(
    tmp_path: Path,
    fake: FakeProviderServer,
    s3_server: S3Server,
    scheduler: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    storage = f"""\
storage:
  url: s3://{s3_server.bucket}/cluster
  endpoint_url: {s3_server.endpoint_url}
  region: us-east-1
  options: {{key_env: {S3_KEY_ENV}, secret_env: {S3_SECRET_ENV}}}
"""
    project = cluster_project(tmp_path, fake, storage=storage)
    rows = write_rows(tmp_path / "rows.jsonl", 24)
    fake.state.latency_s = 0.02
    code, out, err = mediamix(
        capsys, "-C", str(project.root), "batch", "notes", str(rows),
        "--cluster", scheduler, "--concurrency", "3", "--json",
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["rows_succeeded"], summary["rows_failed"], summary["status"]) == (
        24,
        0,
        "succeeded",
    )
    assert chat_prompts(fake) == {prompt_of(n): 1 for n in range(24)}
    jobs = rows_of(project.root, "SELECT status, worker FROM jobs")
    assert len(jobs) == 24 and {j["status"] for j in jobs} == {"succeeded"}
    workers = {j["worker"] for j in jobs}
    assert len(workers) == 2 and all(w.startswith("tcp://127.0.0.1:") for w in workers)
    attempts = rows_of(project.root, "SELECT DISTINCT worker FROM attempts")
    assert {a["worker"] for a in attempts} == workers
    runs = rows_of(project.root, "SELECT status, host FROM runs")
    assert len(runs) == 24 and all(r["status"] == "succeeded" and r["host"] for r in runs)
    artifacts = rows_of(project.root, "SELECT uri FROM artifacts")
    assert len(artifacts) == 24
    s3 = s3_server.client()
    for a in artifacts:
        assert a["uri"].startswith(f"s3://{s3_server.bucket}/cluster/")
        key = a["uri"].removeprefix(f"s3://{s3_server.bucket}/")
        body = s3.get_object(Bucket=s3_server.bucket, Key=key)["Body"].read().decode()
        assert body.startswith("Fake reply from gpt-4o-mini: Note ")


def _worker_pids(scheduler: str) -> dict[str, int]:
    from distributed import Client

    with Client(scheduler, timeout=30) as client:
        pids: dict[str, int] = client.run(os.getpid)
        return pids


def test_resume_after_the_client_is_killed_pays_for_no_recorded_job_twice(
    tmp_path: Path,
    fake: FakeProviderServer,
    scheduler: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = cluster_project(tmp_path, fake)
    rows = write_rows(tmp_path / "rows.jsonl", 40)
    fake.state.latency_s = 0.1
    args = ["-C", str(project.root), "batch", "notes", str(rows), "--cluster", scheduler]
    client = spawn([sys.executable, "-m", "runner.cli.main", *args, "--concurrency", "3"])
    until(lambda: fake.state.count(CHAT) >= 14, 60, "the batch to get going")
    client.send_signal(signal.SIGKILL)
    client.wait(timeout=30)
    recorded = succeeded_prompts(project.root)
    assert 0 < len(recorded) < 40
    seen_before = chat_prompts(fake)
    fake.state.latency_s = 0.0

    code, out, err = mediamix(capsys, *args, "--resume", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["rows_done_earlier"] + summary["rows_succeeded"] == 40
    seen_after = chat_prompts(fake)
    assert all(seen_after[p] == seen_before[p] == 1 for p in recorded)  # not paid again
    assert set(seen_after) == {prompt_of(n) for n in range(40)}
    assert succeeded_prompts(project.root) == set(seen_after)


def test_a_worker_killed_mid_batch_loses_no_row_and_no_recorded_answer_is_paid_twice(
    tmp_path: Path,
    fake: FakeProviderServer,
    scheduler: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Last in the module: the nanny starts a fresh worker in the killed one's place.
    project = cluster_project(tmp_path, fake)
    rows = write_rows(tmp_path / "rows.jsonl", 80)
    fake.state.latency_s = 0.08
    victim_address, victim = sorted(_worker_pids(scheduler).items())[0]

    def kill_partway() -> None:
        until(lambda: fake.state.count(CHAT) >= 24, 60, "the batch to get going")
        os.kill(victim, signal.SIGKILL)

    killer = threading.Thread(target=kill_partway)
    killer.start()
    code, out, err = mediamix(
        capsys, "-C", str(project.root), "batch", "notes", str(rows),
        "--cluster", scheduler, "--concurrency", "3", "--json",
    )  # fmt: skip
    killer.join()
    assert code == 0, err
    summary = json.loads(out)
    assert summary["rows_succeeded"] == 80  # every row done, the dead worker's elsewhere
    jobs = rows_of(
        project.root,
        "SELECT r.inputs, j.status, j.error_class, j.worker FROM jobs j JOIN runs r USING (run_id)",
    )
    succeeded = Counter(
        prompt_of(json.loads(j["inputs"])["n"]) for j in jobs if j["status"] == "succeeded"
    )
    assert succeeded == {prompt_of(n): 1 for n in range(80)}  # nothing lost, nothing twice
    assert victim_address in {j["worker"] for j in jobs}  # it did work before it died
    # Only answers the dead worker had not recorded yet (its calls in flight) were bought
    # again: at most its rows in flight, each at most twice.
    seen = chat_prompts(fake)
    again = {p: n for p, n in seen.items() if n > 1}
    assert len(again) <= 3 and all(n == 2 for n in again.values()), again
    # What the dead worker left running is closed, with why; nothing stays "running".
    assert {j["status"] for j in jobs} <= {"succeeded", "failed", "skipped"}
    assert all(j["error_class"] == "interrupted" for j in jobs if j["status"] == "failed")
    runs = rows_of(project.root, "SELECT DISTINCT status FROM runs")
    assert {r["status"] for r in runs} <= {"succeeded", "interrupted"}
