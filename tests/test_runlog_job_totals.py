"""A job's records often land in several merges; what users read counts all of them.

A batch merges every minute while it runs, cluster workers stream records as they happen,
and a killed process's journal is merged by the next mediamix that comes along: so a job's
row can be merged before its attempts, and a resumed batch rewrites a job its dead process
left "running". The per-job totals on ``jobs`` (attempts_logged, attempts_cost_usd, ...)
are recomputed by each merge, so ``report``, ``jobs`` and ``sql`` agree with the attempts
themselves after every merge. Here the records come from the real writer (journals in
the inbox), as the engine writes them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from runner.cli.main import cli
from runner.runlog.records import AttemptRecord, JobRecord, RunRecord
from runner.runlog.store import RunLog
from runner.runlog.totals import ATTEMPT_FLAGS, JOB_TOTALS

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _cli(log: RunLog, *args: str) -> Any:
    done = CliRunner().invoke(cli, [*args, "--log", str(log.directory)])
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def _report(log: RunLog) -> dict[str, Any]:
    (row,) = _cli(log, "report", "--by", "preset", "--format", "json")
    return {k: row[k] for k in ("jobs", "succeeded", "failed", "attempts", "cost_usd")}


def _job(job_id: str, **fields: Any) -> JobRecord:
    return JobRecord(
        job_id=job_id, run_id="r1", step_id="cover", media_type="image", started_at=T0,
        preset="cover", **fields,
    )  # fmt: skip


def _attempt(attempt_id: str, job_id: str, number: int, status: str, cost: float) -> AttemptRecord:
    return AttemptRecord(
        attempt_id=attempt_id, job_id=job_id, run_id="r1", number=number, provider="openai",
        model="gpt-image-1", started_at=T0 + timedelta(seconds=number), status=status,  # type: ignore[arg-type]
        account="main", latency_ms=100.0, cost_usd=cost,
    )  # fmt: skip


def test_a_job_whose_records_land_in_several_merges_is_counted_whole(tmp_path: Path) -> None:
    log = RunLog(tmp_path / "log")
    writer = log.writer()
    writer.write(RunRecord(run_id="r1", pipeline="explainer", started_at=T0))
    job = _job("a1b2")
    writer.write(job)
    writer.write(_attempt("att-1", "a1b2", 1, "failed", 0.01))
    writer.flush()
    log.ingest()  # a batch's every-minute merge: the job is still running
    assert _report(log) == {
        "jobs": 1, "succeeded": 0, "failed": 0, "attempts": 1, "cost_usd": 0.01,
    }  # fmt: skip

    writer.write(_attempt("att-2", "a1b2", 2, "succeeded", 0.02))
    writer.write(replace(job, status="succeeded", attempts=2, finished_at=T0 + timedelta(5)))
    writer.close()
    log.ingest()
    assert _report(log) == {
        "jobs": 1, "succeeded": 1, "failed": 0, "attempts": 2, "cost_usd": 0.03,
    }  # fmt: skip
    (listed,) = _cli(log, "jobs", "--json")
    assert (listed["attempts"], listed["cost_usd"]) == (2, 0.03)


def test_a_job_a_killed_process_left_running_keeps_its_paid_attempts(tmp_path: Path) -> None:
    log = RunLog(tmp_path / "log")
    dead = log.writer()
    dead.write(RunRecord(run_id="r1", pipeline="explainer", started_at=T0))
    job = _job("dead01")
    dead.write(job)
    dead.flush()
    log.ingest()  # merged while it ran: the job row says 0 attempts
    dead.write(_attempt("paid-1", "dead01", 1, "failed", 0.04))
    dead.write(_attempt("paid-2", "dead01", 2, "failed", 0.05))
    dead.flush()  # its journal; then the process is killed before the job's last record
    # `batch --resume` marks it interrupted from the row it read (attempts 0, no cost),
    # and its merge takes the dead process's journal along.
    resumed = log.writer()
    resumed.write(replace(job, status="failed", error_class="interrupted", finished_at=T0))
    resumed.close()
    log.ingest()
    assert _report(log) == {
        "jobs": 1, "succeeded": 0, "failed": 1, "attempts": 2, "cost_usd": 0.09,
    }  # fmt: skip
    (row,) = _cli(log, "sql", "SELECT attempts, attempts_logged, attempts_cost_usd FROM jobs",
                  "--format", "json")  # fmt: skip
    assert row == {"attempts": 0, "attempts_logged": 2, "attempts_cost_usd": 0.09}
    dead.close()


def test_jobs_show_keeps_its_keys(tmp_path: Path) -> None:
    """The derived columns are there for SQL; `jobs show --json` prints the job's and its
    attempts' own fields as before (the serve API's job pages have the same keys)."""
    log = RunLog(tmp_path / "log")
    with log.writer() as writer:
        writer.write(RunRecord(run_id="r1", pipeline="explainer", started_at=T0))
        writer.write(_job("c0de", status="succeeded", attempts=1))
        writer.write(_attempt("att-c", "c0de", 1, "succeeded", 0.02))
    shown = _cli(log, "jobs", "show", "c0de", "--json")
    assert not set(JOB_TOTALS) & set(shown)
    assert shown["attempt_count"] == 1 and len(shown["attempts"]) == 1
    assert not set(ATTEMPT_FLAGS) & set(shown["attempts"][0])
