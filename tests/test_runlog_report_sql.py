"""``report``'s numbers are the ones its definition gives, on a log with every awkward case,
however the rows reached the log.

``report`` by preset, media type or day reads per-job totals the merge keeps on ``jobs``
(runner/runlog/totals.py); by provider, model or account it is written for speed over a
million jobs (tests/benchmarks/test_scale_bench.py). This holds what ``mediamix report
--format json`` prints to the plain definition below, written the obvious way (from the
attempts and judgements themselves, count(DISTINCT ...), one join per table), on a few
thousand jobs made by SQL: NULL accounts, jobs without attempts, jobs whose attempt count
differs from their rows, unknown costs, judged and unjudged attempts, skipped attempts, an
old run outside --since, jobs whose attempts straddle --since, attempts that started at
the same moment, attempts without a start time or a job.

The same rows reach a log three ways, as they reach users' logs:
- **migrated**: written under schema version 3 (before the totals existed), then read by
  this mediamix, which migrates the file (m004 fills the totals in);
- **merged**: through the inbox in three merges, as journals of several processes land:
  first the jobs' first records with only their first attempts (some attempts before their
  job's row); then the other attempts, the judgements, the other jobs and newer records of
  some (jobs that gain attempts after they were merged: a resume, a second process, cluster
  workers); then the second batch again (a re-merge after a crash) with stale job records
  (lower seq) and lines that claim totals of their own;
- **imported**: ``mediamix log import`` of Parquet exports an older mediamix wrote (no
  totals columns), the second export twice.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from runner.cli.main import cli
from runner.runlog.migrations import MIGRATIONS
from runner.runlog.queries import REPORT_BY
from runner.runlog.store import RunLog
from tests.old_runlog import old_log_file, old_schema

NOW = datetime(2026, 11, 20, 12, 0)
LAST_WEEK = NOW - timedelta(days=7)

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
SELECT md5('att' || i || '-' || n),
       CASE WHEN i % 19 = 0 AND n = 2 THEN NULL ELSE md5('job' || i) END,
       'run' || (i // 50), n,
       ['openai', 'google', 'runway'][1 + (i + n) % 3], ['m1', 'm2', 'm3', 'm4'][1 + (i * n) % 4],
       CASE WHEN i % 17 = 0 AND n = 1 THEN NULL
            ELSE TIMESTAMP '{NOW}' - to_microseconds(CAST(i * 600e6 AS BIGINT))
                 + INTERVAL (least(n, 2 + i % 2) * 250) SECOND END,
       ['succeeded', 'failed', 'skipped'][1 + (i + 2 * n) % 3],
       CASE WHEN (i + n) % 4 = 0 THEN NULL ELSE ['main', 'backup'][1 + n % 2] END, n - 1,
       NULL, 50 + (i * 7 + n) % 500, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       CASE WHEN (i + n) % 6 = 0 THEN NULL ELSE 0.001 * n END, NULL, NULL
FROM range(3000) r(i), range(1, 4) a(n)
WHERE i % 13 <> 0 AND n <= 1 + (i * 5) % 3;

-- Jobs at the week's edge: three attempts each on one provider, model and account, at the
-- same moment, or the first before the edge and the last after it.
INSERT INTO jobs
SELECT md5('edge' || i), 1, 'run-edge', 'step', 'image', TIMESTAMP '{LAST_WEEK}' - INTERVAL 2 HOUR,
       ['succeeded', 'failed'][1 + i % 2], 'edge', 'fallback', NULL, 'edge' || i, NULL, 3,
       NULL, NULL, 0.5, 300, 'openai', 'm1', 'main', NULL, NULL
FROM range(30) r(i);

INSERT INTO attempts
SELECT md5('edge-att' || i || '-' || n), md5('edge' || i), 'run-edge', n, 'openai', 'm1',
       TIMESTAMP '{LAST_WEEK}' + to_microseconds(CAST((n - 2) * (i % 3) * 1800e6 AS BIGINT)),
       CASE WHEN n = 1 OR (n = 3 AND i % 2 = 0) THEN 'succeeded' ELSE 'failed' END,
       'main', 0, NULL, 100 * n, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0.01, NULL, NULL
FROM range(30) r(i), range(1, 4) a(n);

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

#: Jobs whose totals differ from what their attempts and judgements add up to (must be 0).
WRONG_TOTALS = """
    WITH a AS (SELECT job_id, count(*) AS n, sum(cost_usd) AS cost FROM attempts GROUP BY job_id),
    jd AS (
        SELECT job_id, count(*) FILTER (WHERE verdict = 'passed') AS passed,
               count(*) FILTER (WHERE verdict = 'rejected') AS rejected,
               count(score) AS scored, sum(score) AS score_sum, sum(cost_usd) AS cost
        FROM judgements GROUP BY job_id
    )
    SELECT count(*) FROM jobs j LEFT JOIN a USING (job_id) LEFT JOIN jd USING (job_id)
    WHERE j.attempts_logged IS DISTINCT FROM coalesce(a.n, 0)
       OR j.judge_passed IS DISTINCT FROM coalesce(jd.passed, 0)
       OR j.judge_rejected IS DISTINCT FROM coalesce(jd.rejected, 0)
       OR j.judge_scored IS DISTINCT FROM coalesce(jd.scored, 0)
       OR (j.attempts_cost_usd IS NULL) <> (a.cost IS NULL)
       OR abs(j.attempts_cost_usd - a.cost) > 1e-12
       OR (j.judge_score_sum IS NULL) <> (jd.score_sum IS NULL)
       OR abs(j.judge_score_sum - jd.score_sum) > 1e-12
       OR (j.judge_cost_usd IS NULL) <> (jd.cost IS NULL)
       OR abs(j.judge_cost_usd - jd.cost) > 1e-12
"""


def _is_latest(key: str, status: str) -> str:
    return (
        f"coalesce({status} AND row_number() OVER (PARTITION BY job_id, {key}, {status} "
        "ORDER BY started_at DESC, attempt_id DESC) = 1, false)"
    )


#: Attempts whose flags are not what they say: the job's latest (successful) attempt on
#: each provider, model and account, among attempts with a job, a start time and not
#: skipped (must be 0).
WRONG_FLAGS = f"""
    WITH expected AS (
        SELECT attempt_id,
               {_is_latest("provider", "status <> 'skipped'")} AS p,
               {_is_latest("model", "status <> 'skipped'")} AS m,
               {_is_latest("account", "status <> 'skipped'")} AS a,
               {_is_latest("provider", "status = 'succeeded'")} AS sp,
               {_is_latest("model", "status = 'succeeded'")} AS sm,
               {_is_latest("account", "status = 'succeeded'")} AS sa
        FROM attempts WHERE job_id IS NOT NULL AND started_at IS NOT NULL
    )
    SELECT count(*) FROM attempts LEFT JOIN expected e USING (attempt_id)
    WHERE job_latest_by_provider <> coalesce(e.p, false)
       OR job_latest_by_model <> coalesce(e.m, false)
       OR job_latest_by_account <> coalesce(e.a, false)
       OR job_latest_success_by_provider <> coalesce(e.sp, false)
       OR job_latest_success_by_model <> coalesce(e.sm, false)
       OR job_latest_success_by_account <> coalesce(e.sa, false)
"""


def awkward_rows() -> duckdb.DuckDBPyConnection:
    """The awkward rows in an in-memory database of the old schema."""
    con = duckdb.connect()
    old_schema(con, applied_at=NOW)
    con.execute(_FILL)
    return con


def wrong_totals(log: RunLog) -> int:
    """Jobs and attempts whose derived columns are not what their rows say."""
    with log.connect_readonly() as con:
        return sum(int(con.execute(q).fetchall()[0][0]) for q in (WRONG_TOTALS, WRONG_FLAGS))


def _migrated(directory: Path) -> RunLog:
    log = RunLog(directory)
    old_log_file(log.db_path, _FILL, applied_at=NOW)
    return log  # the first reader migrates it


def _to_inbox(con: duckdb.DuckDBPyConnection, inbox: Path, name: str, query: str) -> None:
    """Rows of ``query`` (with "table" and seq columns) as an inbox batch file, made as
    the writer makes them: under a hidden name, then renamed."""
    inbox.mkdir(parents=True, exist_ok=True)
    temp, final = inbox / f".{name}.jsonl.tmp", inbox / f"{name}.jsonl"
    con.execute(f"COPY ({query}) TO '{temp}' (FORMAT json)")
    os.replace(temp, final)


#: Jobs split into halves (and a third of one half) by their ids.
_EVEN = "hash(job_id) % 2 = 0"
_NEWER = f"{_EVEN} AND hash(job_id) % 3 = 0"


def _merged(directory: Path) -> RunLog:
    src = awkward_rows()
    log = RunLog(directory)
    jobs = "SELECT *, 'jobs' AS \"table\" FROM jobs"
    attempts = "SELECT *, 'attempts' AS \"table\", 1 AS seq FROM attempts"
    judgements = "SELECT *, 'judgements' AS \"table\", 1 AS seq FROM judgements"
    # 1. Half the jobs' first records, and only first attempts: the other half's attempts
    #    arrive before their job's row.
    _to_inbox(
        src,
        log.inbox,
        "1-first",
        f"{jobs} WHERE {_EVEN} UNION ALL BY NAME {attempts} WHERE number = 1",
    )
    log.ingest()
    assert wrong_totals(log) == 0
    # 2. The other jobs, later attempts, judgements, and newer records of some jobs.
    newer = f"""
        SELECT * REPLACE (2 AS seq, 'succeeded' AS status,
                          coalesce(attempts, 0) + 1 AS attempts, 0.5 AS cost_usd),
               'jobs' AS "table"
        FROM jobs WHERE {_NEWER}
    """
    second = (
        f"{jobs} WHERE NOT ({_EVEN}) UNION ALL BY NAME {attempts} WHERE number > 1 "
        f"UNION ALL BY NAME {judgements} UNION ALL BY NAME {newer}"
    )
    _to_inbox(src, log.inbox, "2-second", second)
    log.ingest()
    assert wrong_totals(log) == 0
    # 3. The second batch again, stale job records (seq 0: they lose) and lines that claim
    #    totals of their own (derived columns are never read from a line).
    stale = """
        SELECT * REPLACE (0 AS seq, 'failed' AS status, 'stale' AS preset),
               'jobs' AS "table", 999 AS attempts_logged, 1e6 AS attempts_cost_usd
        FROM jobs WHERE hash(job_id) % 5 = 0
    """
    _to_inbox(src, log.inbox, "3-again", f"{second} UNION ALL BY NAME {stale}")
    log.ingest()
    src.close()
    return log


def _imported(directory: Path) -> RunLog:
    src = awkward_rows()
    first, second = directory.parent / "export-1", directory.parent / "export-2"
    for folder, tables in (
        (first, {"jobs": "jobs", "attempts": "attempts WHERE number = 1"}),
        (second, {"attempts": "attempts WHERE number > 1", "judgements": "judgements"}),
    ):
        folder.mkdir()
        for table, rows in tables.items():
            src.execute(f"COPY (SELECT * FROM {rows}) TO '{folder / table}.parquet'")
    src.close()
    for folder in (first, second, second):
        done = CliRunner().invoke(cli, ["log", "import", str(folder), "--log", str(directory)])
        assert done.exit_code == 0, done.output
    return RunLog(directory)


ARRIVALS: dict[str, Callable[[Path], RunLog]] = {
    "migrated": _migrated,
    "merged": _merged,
    "imported": _imported,
}


@pytest.fixture(scope="module", params=list(ARRIVALS))
def awkward_log(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> RunLog:
    make = ARRIVALS[request.param]
    return make(tmp_path_factory.mktemp(request.param) / "log")


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def _key(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def test_every_job_and_attempt_carries_what_its_rows_say(awkward_log: RunLog) -> None:
    assert wrong_totals(awkward_log) == 0
    with awkward_log.connect_readonly() as con:
        version = con.execute("SELECT max(version) FROM schema_migrations").fetchall()[0][0]
        # Stale records and forged totals lost; the newer records won.
        stale = con.execute("SELECT count(*) FROM jobs WHERE preset = 'stale'").fetchall()
        logged = con.execute("SELECT max(attempts_logged) FROM jobs").fetchall()
    assert version == MIGRATIONS[-1].version
    assert stale == [(0,)] and logged == [(3,)]


@pytest.mark.parametrize("since", [None, LAST_WEEK], ids=["all", "last-week"])
@pytest.mark.parametrize("by", REPORT_BY)
def test_report_gives_what_its_definition_gives(
    awkward_log: RunLog, by: str, since: datetime | None
) -> None:
    template, dimension = _DIMENSIONS[by]
    with awkward_log.connect_readonly() as con:
        expected = con.execute(
            template.format(dimension=dimension), [since or datetime(1970, 1, 1)]
        ).fetchall()
    args = ["report", "--by", by, "--log", str(awkward_log.directory), "--format", "json"]
    if since is not None:
        args += ["--since", since.isoformat()]
    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 0, done.output
    got = json.loads(done.stdout)
    assert len(got) == len(expected) > 1
    names = ("jobs", "succeeded", "failed", "attempts", "p50_latency_ms", "p95_latency_ms")
    for row, want in zip(got, expected, strict=True):
        assert row[by] == _key(want[0])
        for name, value in zip((*names, "cost_usd"), want[1:8], strict=True):
            assert _close(row[name], value), (by, want[0], name, row[name], value)
        score_sum, scored, rejected, decided, judge_cost = want[8:]
        assert _close(row["mean_score"], score_sum / scored if scored else None)
        assert row["rejection_rate"] == (rejected / decided if decided else None)
        assert _close(row["judge_cost_usd"], judge_cost)
    if by == "account":
        assert got[0]["account"] is None  # attempts without an account are a group too
