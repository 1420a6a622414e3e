"""Derived columns the merge keeps, so ``report`` never aggregates a million jobs' attempts.

- On ``jobs``, what the job's attempts and judgements add up to (``attempts_logged``,
  ``attempts_cost_usd``, ``judge_*``): ``report`` by preset, media type or day is then one
  scan of ``jobs``.
- On ``attempts``, which attempt is the job's latest on its provider, model and account,
  and its latest successful one (``job_latest_by_*``, ``job_latest_success_by_*``): the
  jobs that tried a model within ``--since`` are the flagged attempts in the window (a job
  tried it in the window exactly when its latest try is in it), so ``report`` by provider,
  model or account counts flags in one scan instead of grouping attempts by job.

The engine never writes these. Every merge (inbox ingest, ``log import``) recomputes them
from ``attempts`` and ``judgements`` for each job the merge touched, in the same
transaction as the rows. Recomputing rather than adding makes them exact whatever order
records arrive in: an attempt merged before its job's row, a job that gains attempts in a
later merge (a second process, cluster workers streaming, a re-merge after a crash), or
the same batch merged twice. Migration ``m004_job_totals`` fills them in for logs written
before they existed.
"""

from __future__ import annotations

from contextlib import suppress

import duckdb

#: The derived columns of ``jobs`` (docs/runlog.md): counts are 0 when there is nothing to
#: count, sums NULL when no value is known.
JOB_TOTALS: tuple[str, ...] = (
    "attempts_logged",
    "attempts_cost_usd",
    "judge_passed",
    "judge_rejected",
    "judge_scored",
    "judge_score_sum",
    "judge_cost_usd",
)

#: The report dimensions counted per job that tried them, each with its attempt flags.
FLAGGED_BY: tuple[str, ...] = ("provider", "model", "account")


def latest_flag(dimension: str, *, success: bool = False) -> str:
    """The ``attempts`` column flagging each job's latest (successful) attempt per value
    of ``dimension``."""
    return f"job_latest{'_success' if success else ''}_by_{dimension}"


ATTEMPT_FLAGS: tuple[str, ...] = tuple(
    latest_flag(key, success=success) for success in (False, True) for key in FLAGGED_BY
)

#: Table -> columns a merge never takes from its source (the merge computes them).
DERIVED: dict[str, frozenset[str]] = {
    "jobs": frozenset(JOB_TOTALS),
    "attempts": frozenset(ATTEMPT_FLAGS),
}

#: Tables whose rows carry a ``job_id`` that the derived columns depend on.
TOTALLED_FROM: tuple[str, ...] = ("jobs", "attempts", "judgements")

_JOBS = "mediamix_touched_jobs"
_ATTEMPTS = "mediamix_touched_attempts"

# A job with no attempt or judgement rows gets 0 and NULL.
_REFRESH_JOBS = f"""
UPDATE jobs SET
    attempts_logged = coalesce(a.n, 0),
    attempts_cost_usd = a.cost,
    judge_passed = coalesce(jd.passed, 0),
    judge_rejected = coalesce(jd.rejected, 0),
    judge_scored = coalesce(jd.scored, 0),
    judge_score_sum = jd.score_sum,
    judge_cost_usd = jd.cost
FROM {_JOBS} t
LEFT JOIN (
    SELECT job_id, count(*) AS n, sum(cost_usd) AS cost FROM {_ATTEMPTS} GROUP BY job_id
) a ON a.job_id = t.job_id
LEFT JOIN (
    SELECT job_id,
           count(*) FILTER (WHERE verdict = 'passed') AS passed,
           count(*) FILTER (WHERE verdict = 'rejected') AS rejected,
           count(score) AS scored,
           sum(score) AS score_sum,
           sum(cost_usd) AS cost
    FROM judgements
    WHERE job_id IN (SELECT job_id FROM {_JOBS}) GROUP BY job_id
) jd ON jd.job_id = t.job_id
WHERE jobs.job_id = t.job_id
"""


def _latest_ids(key: str, *, success: bool) -> str:
    # An attempt without a start time is in no --since window: it is never the one counted.
    status = "status = 'succeeded'" if success else "status <> 'skipped'"
    return (
        f"SELECT max({{'t': started_at, 'id': attempt_id}}).id FROM {_ATTEMPTS} "
        f"WHERE {status} AND started_at IS NOT NULL GROUP BY job_id, {key}"
    )


_FLAGS = ",\n".join(
    f"attempt_id IN ({_latest_ids(key, success=success)}) AS {latest_flag(key, success=success)}"
    for success in (False, True)
    for key in FLAGGED_BY
)

# Only rows whose flags change are written (usually the new attempts and the sibling that
# was the latest before them). Rows are found by the rowid noted a moment ago in this
# transaction: DuckDB then reads only their row groups, not every attempt's id.
_REFRESH_ATTEMPTS = f"""
UPDATE attempts SET {", ".join(f"{c} = f.{c}" for c in ATTEMPT_FLAGS)}
FROM (SELECT attempt_row, {_FLAGS} FROM {_ATTEMPTS}) f
WHERE attempts.rowid = f.attempt_row
  AND ({" OR ".join(f"attempts.{c} IS DISTINCT FROM f.{c}" for c in ATTEMPT_FLAGS)})
"""


def refresh_derived(con: duckdb.DuckDBPyConnection, job_ids: str) -> None:
    """Recompute the derived columns of the jobs ``job_ids`` (a SQL query with a
    ``job_id`` column) names, and of their attempts. Call it inside the merge's
    transaction, after the attempts and judgements are in."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_JOBS} AS "
        f"SELECT DISTINCT job_id FROM ({job_ids}) WHERE job_id IS NOT NULL"
    )
    try:
        if not con.execute(f"SELECT count(*) FROM {_JOBS}").fetchall()[0][0]:
            return  # only runs, events or artifacts merged: no job's totals changed
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_ATTEMPTS} AS "
            "SELECT rowid AS attempt_row, attempt_id, job_id, provider, model, account, status, "
            f"started_at, cost_usd FROM attempts WHERE job_id IN (SELECT job_id FROM {_JOBS})"
        )
        con.execute(_REFRESH_JOBS).fetchall()
        con.execute(_REFRESH_ATTEMPTS).fetchall()
    finally:
        for table in (_ATTEMPTS, _JOBS):
            with suppress(duckdb.Error):  # an aborted transaction drops them anyway
                con.execute(f"DROP TABLE IF EXISTS {table}")
