"""What the run log already knows that a batch needs, read once at the batch's start.

- the pipeline's succeeded jobs with their artifacts, by idempotency key (reuse);
- for ``--resume``: which batch to continue, which of its rows already succeeded, the
  vendor task ids of its unfinished long-running jobs, and its runs a killed process
  left "running".

Batch rows are found through ``batch_row`` events (one per row's run; ``data`` holds
``batch_id``, ``row``, ``line``, ``row_digest``, ``shard``, ``inputs_file``, ``pipeline``).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from runner.engine.api import learned_history
from runner.engine.plan import Plan
from runner.engine.reuse import StoredArtifact, succeeded_by_key
from runner.engine.run import History
from runner.errors import RunLogError, UsageError
from runner.runlog.codec import as_aware
from runner.runlog.queries import Queries
from runner.runlog.records import JobRecord, ResumeTask, RunRecord
from runner.runlog.store import RunLog

BATCH_ROW_EVENT = "batch_row"


@dataclass
class BatchHistory:
    #: idempotency key -> artifacts of its latest succeeded job (this pipeline only).
    succeeded: dict[str, list[StoredArtifact]] = field(default_factory=dict)
    #: The batch being resumed (None: a new batch).
    resumed_batch: str | None = None
    #: Row digest -> how many of the resumed batch's runs of such a row succeeded.
    done_rows: Counter[str] = field(default_factory=Counter)
    #: idempotency key -> vendor task id, for the resumed batch's unfinished jobs.
    resume_tasks: dict[str, ResumeTask] = field(default_factory=dict)
    #: The resumed batch's runs and jobs still marked running (their process died).
    stale_runs: list[RunRecord] = field(default_factory=list)
    stale_jobs: list[JobRecord] = field(default_factory=list)
    #: What every run learns from the log (account health, adaptive stats) for the plan.
    learned: History = field(default_factory=History)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    try:
        cursor = con.execute(sql, params)
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    except duckdb.Error as exc:
        raise RunLogError(f"run-log query failed: {exc}") from exc


def load_history(
    runlog: RunLog,
    *,
    pipeline: str,
    inputs_file: str,
    resume: str | None,
    resume_latest: bool,
    plan: Plan | None = None,
) -> BatchHistory:
    """One read of the run log. ``resume`` names a batch; ``resume_latest`` picks the newest
    batch of ``pipeline`` over ``inputs_file``; with ``plan``, what its runs learn from the
    log too (:func:`~runner.engine.api.learned_history`)."""
    history = BatchHistory()
    if not runlog.exists():
        if resume is not None:
            raise UsageError(f"--resume {resume}: the run log is empty")
        return history
    with runlog.connect_readonly() as con:
        history.succeeded = succeeded_by_key(Queries(con), pipeline)
        batch = resume
        if batch is None and resume_latest:
            batch = _latest_batch(con, pipeline, inputs_file)
        if batch is not None:
            _load_resume(con, batch, history)
        if plan is not None:
            history.learned = learned_history(Queries(con), plan)
    return history


def _latest_batch(con: duckdb.DuckDBPyConnection, pipeline: str, inputs_file: str) -> str:
    rows = _rows(
        con,
        """
        SELECT data->>'$.batch_id' AS batch_id, max(occurred_at) AS last_at
        FROM events
        WHERE kind = ? AND data->>'$.pipeline' = ? AND data->>'$.inputs_file' = ?
        GROUP BY 1 ORDER BY last_at DESC LIMIT 1
        """,
        [BATCH_ROW_EVENT, pipeline, inputs_file],
    )
    if not rows:
        raise UsageError(
            f"--resume: no earlier batch of {pipeline} over {inputs_file} in the run log"
        )
    return str(rows[0]["batch_id"])


def _load_resume(con: duckdb.DuckDBPyConnection, batch: str, history: BatchHistory) -> None:
    batch_runs = """
        batch_runs AS (
            SELECT DISTINCT run_id, data->>'$.row_digest' AS digest FROM events
            WHERE kind = ? AND data->>'$.batch_id' = ?
        )
    """
    runs = _rows(
        con,
        f"WITH {batch_runs} SELECT b.digest, r.* FROM batch_runs b JOIN runs r USING (run_id)",
        [BATCH_ROW_EVENT, batch],
    )
    if not runs:
        raise UsageError(f"--resume {batch}: no batch with that id in the run log")
    history.resumed_batch = batch
    for r in runs:
        if r["status"] == "succeeded":
            history.done_rows[r["digest"]] += 1
        elif r["status"] == "running":
            history.stale_runs.append(_run_record(r, status="interrupted"))
    history.resume_tasks = Queries(con).task_ids_for_runs(r["run_id"] for r in runs)
    stale = {r.run_id for r in history.stale_runs}
    if stale:
        jobs = _rows(
            con,
            "SELECT * EXCLUDE (seq) FROM jobs WHERE status = 'running' "
            "AND run_id IN (SELECT unnest(?::VARCHAR[]))",
            [sorted(stale)],
        )
        history.stale_jobs = [_job_record(j) for j in jobs]


def _time(value: Any) -> datetime | None:
    return as_aware(value) if isinstance(value, datetime) else None


def _run_record(r: dict[str, Any], *, status: str) -> RunRecord:
    inputs = r["inputs"]
    return RunRecord(
        run_id=r["run_id"],
        pipeline=r["pipeline"],
        started_at=_time(r["started_at"]) or datetime.min,
        status=status,  # type: ignore[arg-type]
        finished_at=_time(r["finished_at"]),
        inputs=json.loads(inputs) if isinstance(inputs, str) else dict(inputs or {}),
        workflow=r["workflow"],
        host=r["host"],
        shard=r["shard"],
        mediamix_version=r["mediamix_version"],
        jobs_total=r["jobs_total"],
        jobs_succeeded=r["jobs_succeeded"],
        jobs_failed=r["jobs_failed"],
        cost_usd=r["cost_usd"],
    )


def _job_record(j: dict[str, Any]) -> JobRecord:
    # Only the record's own fields: jobs also holds columns the merge derives (totals).
    fields = {k: v for k, v in j.items() if k in JobRecord.__dataclass_fields__}
    fields["started_at"] = _time(fields["started_at"])
    fields["finished_at"] = _time(fields["finished_at"])
    fields["attempts"] = fields["attempts"] or 0
    return JobRecord(**fields)
