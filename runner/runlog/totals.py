"""Per-job totals on ``jobs``: what a job's attempts and judgements add up to, kept by the merge.

``report`` by preset, media type or day reads one row per job. Without these columns it
grouped every attempt and judgement by job on each call (a million groups for a million
jobs, most of a second); with them it is one scan of ``jobs``.

The totals are derived, never written by the engine: every merge (inbox ingest, ``log
import``) recomputes them from the ``attempts`` and ``judgements`` tables for each job the
merge touched, in the same transaction as the rows. Recomputing rather than adding makes
them exact whatever order records arrive in: an attempt merged before its job's row, a
job that gains attempts in a later merge (a second process, cluster workers streaming, a
re-merge after a crash), or the same batch merged twice. Migration ``m004_job_totals``
fills them in for logs written before they existed.
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

#: Table -> columns a merge never takes from its source (the merge computes them).
DERIVED: dict[str, frozenset[str]] = {"jobs": frozenset(JOB_TOTALS)}

#: Tables whose rows carry a ``job_id`` that the totals depend on.
TOTALLED_FROM: tuple[str, ...] = ("jobs", "attempts", "judgements")

_TOUCHED = "mediamix_touched_jobs"

# Both aggregates read only the touched jobs' rows; a job with none gets 0 and NULL.
_REFRESH = f"""
UPDATE jobs SET
    attempts_logged = coalesce(a.n, 0),
    attempts_cost_usd = a.cost,
    judge_passed = coalesce(jd.passed, 0),
    judge_rejected = coalesce(jd.rejected, 0),
    judge_scored = coalesce(jd.scored, 0),
    judge_score_sum = jd.score_sum,
    judge_cost_usd = jd.cost
FROM {_TOUCHED} t
LEFT JOIN (
    SELECT job_id, count(*) AS n, sum(cost_usd) AS cost FROM attempts
    WHERE job_id IN (SELECT job_id FROM {_TOUCHED}) GROUP BY job_id
) a ON a.job_id = t.job_id
LEFT JOIN (
    SELECT job_id,
           count(*) FILTER (WHERE verdict = 'passed') AS passed,
           count(*) FILTER (WHERE verdict = 'rejected') AS rejected,
           count(score) AS scored,
           sum(score) AS score_sum,
           sum(cost_usd) AS cost
    FROM judgements
    WHERE job_id IN (SELECT job_id FROM {_TOUCHED}) GROUP BY job_id
) jd ON jd.job_id = t.job_id
WHERE jobs.job_id = t.job_id
"""


def refresh_job_totals(con: duckdb.DuckDBPyConnection, job_ids: str) -> int:
    """Recompute the totals of the jobs ``job_ids`` (a SQL query with a ``job_id`` column)
    names; return how many job rows were updated. Call it inside the merge's transaction,
    after the attempts and judgements are in."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_TOUCHED} AS "
        f"SELECT DISTINCT job_id FROM ({job_ids}) WHERE job_id IS NOT NULL"
    )
    try:
        rows = con.execute(_REFRESH).fetchall()
    finally:
        with suppress(duckdb.Error):  # an aborted transaction drops it anyway
            con.execute(f"DROP TABLE IF EXISTS {_TOUCHED}")
    return int(rows[0][0]) if rows else 0
