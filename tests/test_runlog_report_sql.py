"""``report``'s numbers are the ones its definition gives, on a log with every awkward case.

The report's SQL is written for speed over a million jobs (tests/benchmarks/
test_scale_bench.py); this holds it to the plain definition below, written the obvious way
(count(DISTINCT ...), one join per table), on a few thousand jobs made by SQL: NULL
accounts, jobs without attempts, jobs whose attempt count differs from their rows,
unknown costs, judged and unjudged attempts, skipped attempts, an old run outside --since.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runner.runlog.database import open_database
from runner.runlog.queries import REPORT_BY
from runner.runlog.store import RunLog

NOW = datetime(2026, 11, 20, 12, 0)

_FILL = f"""
INSERT INTO jobs
SELECT md5('job' || i), 1, 'run' || (i // 50), 'step', ['image', 'audio', NULL][1 + i % 3],
       TIMESTAMP '{NOW}' - to_microseconds(CAST(i * 600e6 AS BIGINT)),
       ['succeeded', 'failed', 'running', 'skipped'][1 + i % 4],
       ['cover', 'voice', NULL][1 + i % 3], 'fallback', i % 5,
       'key' || i, NULL, CASE WHEN i % 11 = 0 THEN NULL ELSE 1 + i % 3 END,
       NULL, NULL, CASE WHEN i % 5 = 0 THEN NULL ELSE 0.01 * (i % 4) END,
       100 + i % 900, NULL, NULL, NULL, NULL, NULL
FROM range(3000) r(i);

INSERT INTO attempts
SELECT md5('att' || i || '-' || n), md5('job' || i), 'run' || (i // 50), n,
       ['openai', 'google', 'runway'][1 + (i + n) % 3], ['m1', 'm2', 'm3', 'm4'][1 + (i * n) % 4],
       TIMESTAMP '{NOW}' - to_microseconds(CAST(i * 600e6 AS BIGINT)) + INTERVAL (n) SECOND,
       ['succeeded', 'failed', 'skipped'][1 + (i + 2 * n) % 3],
       CASE WHEN (i + n) % 4 = 0 THEN NULL ELSE ['main', 'backup'][1 + n % 2] END, n - 1,
       NULL, 50 + (i * 7 + n) % 500, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       CASE WHEN (i + n) % 6 = 0 THEN NULL ELSE 0.001 * n END, NULL, NULL
FROM range(3000) r(i), range(1, 4) a(n)
WHERE i % 13 <> 0 AND n <= 1 + (i * 5) % 3;

INSERT INTO judgements
SELECT md5('j' || i || '-' || n), md5('job' || i), 'run', md5('att' || i || '-' || n), NULL,
       TIMESTAMP '{NOW}', 'openai', 'judge', NULL,
       ['passed', 'rejected', 'failed'][1 + (i + n) % 3],
       CASE WHEN (i + n) % 3 = 2 THEN NULL ELSE 0.1 * ((i + n) % 10) END, 0.5, 'r',
       CASE WHEN i % 4 = 0 THEN NULL ELSE 0.0002 END, 10, NULL
FROM range(3000) r(i), range(1, 3) a(n) WHERE i % 3 = 0;
"""

_JUDGED = """
    SELECT {by}, sum(score) AS score_sum, count(score) AS scored,
           count(*) FILTER (WHERE verdict = 'rejected') AS rejected,
           count(*) FILTER (WHERE verdict IN ('passed', 'rejected')) AS decided,
           sum(cost_usd) AS judge_cost
    FROM judgements GROUP BY {by}
"""
_JUDGED_SUMS = """
    sum(jd.score_sum) AS score_sum, coalesce(sum(jd.scored), 0) AS scored,
    coalesce(sum(jd.rejected), 0) AS rejected, coalesce(sum(jd.decided), 0) AS decided,
    sum(jd.judge_cost) AS judge_cost
"""

#: The report's definition, per job for preset, media_type and day.
_BY_JOB = f"""
    WITH a AS (SELECT job_id, count(*) AS n, sum(cost_usd) AS cost FROM attempts GROUP BY job_id),
    jd AS ({_JUDGED.format(by="job_id")}),
    j AS (SELECT *, {{dimension}} AS key FROM jobs WHERE started_at >= ?)
    SELECT key, count(*) AS jobs,
           count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           sum(greatest(coalesce(j.attempts, 0), coalesce(a.n, 0))) AS attempts,
           quantile_cont(latency_ms, 0.5) FILTER (WHERE status = 'succeeded') AS p50,
           quantile_cont(latency_ms, 0.95) FILTER (WHERE status = 'succeeded') AS p95,
           sum(coalesce(a.cost, j.cost_usd)) AS cost, {_JUDGED_SUMS}
    FROM j LEFT JOIN a USING (job_id) LEFT JOIN jd USING (job_id)
    GROUP BY key ORDER BY key NULLS FIRST
"""

#: ... and per job that tried them for provider, model and account.
_BY_ATTEMPT = f"""
    WITH jd AS ({_JUDGED.format(by="attempt_id")})
    SELECT {{dimension}} AS key,
           count(DISTINCT job_id) AS jobs,
           count(DISTINCT job_id) FILTER (WHERE status = 'succeeded') AS succeeded,
           count(DISTINCT job_id) - count(DISTINCT job_id) FILTER (WHERE status = 'succeeded')
               AS failed,
           count(*) AS attempts,
           quantile_cont(latency_ms, 0.5) FILTER (WHERE status = 'succeeded') AS p50,
           quantile_cont(latency_ms, 0.95) FILTER (WHERE status = 'succeeded') AS p95,
           sum(cost_usd) AS cost, {_JUDGED_SUMS}
    FROM attempts LEFT JOIN jd USING (attempt_id)
    WHERE started_at >= ? AND status <> 'skipped'
    GROUP BY key ORDER BY key NULLS FIRST
"""

_DIMENSIONS = {
    "preset": (_BY_JOB, "preset"),
    "media_type": (_BY_JOB, "media_type"),
    "day": (_BY_JOB, "CAST(started_at AS DATE)"),
    "provider": (_BY_ATTEMPT, "provider"),
    "model": (_BY_ATTEMPT, "model"),
    "account": (_BY_ATTEMPT, "account"),
}


@pytest.fixture(scope="module")
def awkward_log(tmp_path_factory: pytest.TempPathFactory) -> RunLog:
    log = RunLog(tmp_path_factory.mktemp("report") / "log")
    log.ingest()  # the schema, through mediamix's migrations
    con = open_database(log.db_path, read_only=False)
    try:
        con.execute(_FILL)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return log


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


@pytest.mark.parametrize("since", [None, NOW - timedelta(days=7)], ids=["all", "last-week"])
@pytest.mark.parametrize("by", REPORT_BY)
def test_report_gives_what_its_definition_gives(
    awkward_log: RunLog, by: str, since: datetime | None
) -> None:
    template, dimension = _DIMENSIONS[by]
    start = since or datetime(1970, 1, 1)
    with awkward_log.connect_readonly() as con:
        expected = con.execute(template.format(dimension=dimension), [start]).fetchall()
    with awkward_log.queries() as q:
        got = q.report(by, since=since.replace(tzinfo=UTC) if since else None)
    assert len(got) == len(expected) > 1
    names = ("jobs", "succeeded", "failed", "attempts", "p50_latency_ms", "p95_latency_ms")
    for row, want in zip(got, expected, strict=True):
        assert row[by] == want[0]
        for name, value in zip((*names, "cost_usd"), want[1:8], strict=True):
            assert _close(row[name], value), (by, want[0], name, row[name], value)
        score_sum, scored, rejected, decided, judge_cost = want[8:]
        assert _close(row["mean_score"], score_sum / scored if scored else None)
        assert row["rejection_rate"] == (rejected / decided if decided else None)
        assert _close(row["judge_cost_usd"], judge_cost)
    if by == "account":
        assert got[0]["account"] is None  # attempts without an account are a group too
