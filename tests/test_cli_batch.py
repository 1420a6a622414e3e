"""`mediamix batch` as users run it: exit codes, bad rows, SIGKILL + resume, merged shards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from runner.cli.main import main
from tests.batch_support import batch_project, chat_prompts, prompt_of, query, write_rows
from tests.conftest import REPO
from tests.fakeprovider import FakeProviderServer


def mediamix(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The real entry point (error boundary included), in this process."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 0), out, err


def succeeded_prompts(root: Path) -> set[str]:
    rows = query(
        root,
        "SELECT r.inputs FROM jobs j JOIN runs r USING (run_id) WHERE j.status = 'succeeded'",
    )
    return {prompt_of(json.loads(r["inputs"])["n"]) for r in rows}


def test_bad_rows_fail_before_any_call_or_are_skipped_and_counted(
    tmp_path: Path,
    fake: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = batch_project(tmp_path, fake, monkeypatch)
    rows = write_rows(tmp_path / "rows.jsonl", 5)
    with rows.open("a", encoding="utf-8") as fh:
        fh.write('{"topic": "x", "n": "seven"}\n{"topic": oops}\n')
    root = str(project.root)

    code, out, err = mediamix(
        capsys, "-C", root, "batch", "notes", str(rows), "--on-bad-row", "fail"
    )
    assert code == 2
    assert f"{rows}:6: input 'n' expects a integer, got 'seven'" in err
    assert f"{rows}:7: invalid JSON" in err
    assert fake.state.count("") == 0  # nothing was called

    code, out, err = mediamix(capsys, "-C", root, "batch", "notes", str(rows))
    assert code == 1  # the skipped rows never ran: not a clean batch
    assert f"{rows.name}:6: input 'n'" in err and "(skipped)" in err
    assert "5 row(s) succeeded, 0 failed" in out and "2 bad row(s) skipped" in out
    assert fake.state.count("/chat/") == 5


def test_json_summary_has_no_progress_and_a_stable_shape(
    tmp_path: Path,
    fake: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = batch_project(tmp_path, fake, monkeypatch, max_attempts=1)
    rows = tmp_path / "rows.csv"
    rows.write_text("topic,n\nalpha,1\nbeta,2\ngamma,3\n", encoding="utf-8")
    fake.state.inject("400", path_contains="/chat/")
    code, out, err = mediamix(
        capsys, "-C", str(project.root), "batch", "notes", str(rows), "--json", "--concurrency", "1"
    )
    assert code == 1
    assert err == ""  # no progress in --json mode
    summary = json.loads(out)
    assert (summary["rows_succeeded"], summary["rows_failed"], summary["status"]) == (
        2,
        1,
        "failed",
    )
    failure = summary["failures"][0]
    assert (failure["row"], failure["line"], failure["step_id"]) == (1, 2, "note")
    assert "400" in failure["error"] or "Injected" in failure["error"]


MEDIAMIX = [sys.executable, "-m", "runner.cli.main"]


def _spawn_batch(root: Path, rows: Path, *extra: str) -> subprocess.Popen[str]:
    args = ["-C", str(root), "batch", "notes", str(rows), "--concurrency", "8", "--json"]
    return subprocess.Popen(
        [*MEDIAMIX, *args, *extra],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_then_resume_pays_for_no_finished_job_twice(
    tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = batch_project(tmp_path, fake, monkeypatch)
    rows = write_rows(tmp_path / "rows.jsonl", 200)
    fake.state.latency_s = 0.08  # 200 rows at 8 at once: about 2 s, time to kill partway
    batch = _spawn_batch(project.root, rows)
    deadline = time.monotonic() + 30
    while fake.state.count("/chat/") < 60 and batch.poll() is None:
        assert time.monotonic() < deadline, "the batch never got going"
        time.sleep(0.02)
    time.sleep(0.6)  # past one run-log flush interval, so some successes are durable
    batch.send_signal(signal.SIGKILL)
    batch.communicate(timeout=30)
    assert batch.returncode == -signal.SIGKILL

    done_before = succeeded_prompts(project.root)
    seen_before = chat_prompts(fake)
    assert 0 < len(done_before) < 200
    fake.state.latency_s = 0.0

    resumed = _spawn_batch(project.root, rows, "--resume")
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    summary = json.loads(out)
    assert summary["rows_done_earlier"] + summary["rows_succeeded"] == 200
    assert summary["rows_done_earlier"] >= len(done_before) - 8  # at most the rows in flight

    seen_after = chat_prompts(fake)
    assert all(seen_after[p] == seen_before[p] == 1 for p in done_before)  # not paid again
    assert set(seen_after) == {prompt_of(n) for n in range(200)}
    assert succeeded_prompts(project.root) == set(seen_after)
    # What the killed process left running is closed, with a reason.
    # (A row killed between its steps is run again; its finished step is then reused and
    # recorded as skipped with that reason: never "running", never paid twice.)
    statuses = query(project.root, "SELECT DISTINCT status FROM jobs")
    assert {s["status"] for s in statuses} <= {"succeeded", "failed", "skipped"}
    reused = query(project.root, "SELECT error FROM jobs WHERE status = 'skipped'")
    assert all(r["error"].startswith("already succeeded earlier") for r in reused)
    leftovers = query(project.root, "SELECT error_class FROM jobs WHERE status = 'failed'")
    assert all(r["error_class"] == "interrupted" for r in leftovers)
    # Every row's run has its row in runs (a row's start is written inside its batch_row
    # event), and the killed ones are closed as interrupted, not left running.
    runs = query(
        project.root,
        "SELECT e.run_id, r.status FROM events e LEFT JOIN runs r USING (run_id) "
        "WHERE e.kind = 'batch_row'",
    )
    assert {r["status"] for r in runs} <= {"succeeded", "interrupted"}
    assert sum(r["status"] == "succeeded" for r in runs) == 200


def _report(capsys: pytest.CaptureFixture[str], root: Path) -> list[dict[str, Any]]:
    code, out, err = mediamix(capsys, "-C", str(root), "report", "--format", "json")
    assert code == 0, err
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def test_two_shards_merge_into_one_report_with_nothing_counted_twice(
    tmp_path: Path,
    fake: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", 40)
    shards = []
    for i in (1, 2):
        project = batch_project(tmp_path / f"shard{i}", fake, monkeypatch)
        code, out, err = mediamix(
            capsys, "-C", str(project.root), "batch", "notes", str(rows), "--shard", f"{i}/2",
            "--json",
        )  # fmt: skip
        assert code == 0, err
        summary = json.loads(out)
        assert summary["rows_succeeded"] + summary["rows_other_shards"] == 40
        export = tmp_path / f"export{i}"
        assert mediamix(capsys, "-C", str(project.root), "log", "export", str(export))[0] == 0
        shards.append((summary["rows_succeeded"], export, _report(capsys, project.root)))
    assert shards[0][0] + shards[1][0] == 40 and min(shards[0][0], shards[1][0]) > 0
    assert fake.state.count("/chat/") == 40  # each row ran on exactly one shard

    merged = batch_project(tmp_path / "merged", fake, monkeypatch)
    exports = [str(shards[0][1]), str(shards[1][1])]
    assert mediamix(capsys, "-C", str(merged.root), "log", "import", *exports)[0] == 0
    report = _report(capsys, merged.root)
    assert len(report) == 1 and report[0]["preset"] == "chat"
    a, b = shards[0][2][0], shards[1][2][0]
    assert (report[0]["jobs"], report[0]["succeeded"]) == (40, 40)
    assert report[0]["jobs"] == a["jobs"] + b["jobs"]
    assert report[0]["attempts"] == a["attempts"] + b["attempts"]

    code, out, _ = mediamix(capsys, "-C", str(merged.root), "log", "import", *exports, "--json")
    assert code == 0 and set(json.loads(out)["rows"].values()) == {0}
    assert _report(capsys, merged.root) == report
