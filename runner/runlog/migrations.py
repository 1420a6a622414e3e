"""Numbered schema migrations for ``runlog.duckdb``: applied once, in order, recorded.

A shipped migration is never edited: change the schema by appending ``m002_...``.
``schema_migrations`` holds one row per applied migration; the highest ``version`` is
the file's schema version. Times are TIMESTAMP in UTC (DuckDB's TIMESTAMPTZ would
need pytz in every Python client); costs are USD, NULL when unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from runner.errors import RunLogError
from runner.runlog.merge import transaction


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


# Rate limiting, as the engine records it: the error kind, the class name, or the status.
_RATE_LIMITED = "(error_class IN ('rate_limited', 'RateLimitedError') OR http_status IN (429, 529))"

m001_initial = Migration(
    1,
    "m001_initial",
    f"""
CREATE TABLE runs (
    run_id VARCHAR PRIMARY KEY,
    seq BIGINT NOT NULL,
    pipeline VARCHAR,
    started_at TIMESTAMP,
    status VARCHAR,
    finished_at TIMESTAMP,
    inputs JSON,
    workflow VARCHAR,
    host VARCHAR,
    shard VARCHAR,
    mediamix_version VARCHAR,
    jobs_total INTEGER,
    jobs_succeeded INTEGER,
    jobs_failed INTEGER,
    cost_usd DOUBLE
);

CREATE TABLE jobs (
    job_id VARCHAR PRIMARY KEY,
    seq BIGINT NOT NULL,
    run_id VARCHAR,
    step_id VARCHAR,
    media_type VARCHAR,
    started_at TIMESTAMP,
    status VARCHAR,
    preset VARCHAR,
    strategy VARCHAR,
    item_index INTEGER,
    idempotency_key VARCHAR,
    finished_at TIMESTAMP,
    attempts INTEGER,
    error_class VARCHAR,
    error VARCHAR,
    cost_usd DOUBLE,
    latency_ms DOUBLE,
    provider VARCHAR,
    model VARCHAR,
    account VARCHAR,
    task_id VARCHAR
);

CREATE TABLE attempts (
    attempt_id VARCHAR PRIMARY KEY,
    job_id VARCHAR,
    run_id VARCHAR,
    number INTEGER,
    provider VARCHAR,
    model VARCHAR,
    started_at TIMESTAMP,
    status VARCHAR,
    account VARCHAR,
    candidate_index INTEGER,
    finished_at TIMESTAMP,
    latency_ms DOUBLE,
    error_class VARCHAR,
    error VARCHAR,
    http_status INTEGER,
    retry_after_s DOUBLE,
    bytes BIGINT,
    input_tokens BIGINT,
    output_tokens BIGINT,
    units DOUBLE,
    cost_usd DOUBLE,
    task_id VARCHAR
);

CREATE TABLE events (
    event_id VARCHAR PRIMARY KEY,
    run_id VARCHAR,
    occurred_at TIMESTAMP,
    kind VARCHAR,
    message VARCHAR,
    job_id VARCHAR,
    attempt_id VARCHAR,
    data JSON
);

CREATE TABLE artifacts (
    artifact_id VARCHAR PRIMARY KEY,
    job_id VARCHAR,
    run_id VARCHAR,
    uri VARCHAR,
    media_type VARCHAR,
    mime VARCHAR,
    size BIGINT,
    sha256 VARCHAR,
    created_at TIMESTAMP,
    public_url VARCHAR,
    width INTEGER,
    height INTEGER,
    duration_s DOUBLE,
    pages INTEGER
);

CREATE VIEW account_health AS
SELECT
    provider,
    account,
    count(*) FILTER (WHERE status = 'succeeded') AS successes,
    count(*) FILTER (WHERE status = 'failed') AS failures,
    count(*) FILTER (WHERE status = 'failed' AND {_RATE_LIMITED}) AS rate_limited,
    sum(cost_usd) AS cost_usd,
    arg_max(status, coalesce(finished_at, started_at)) AS last_status,
    max(coalesce(finished_at, started_at)) FILTER (WHERE status = 'failed') AS last_error_at,
    max(coalesce(finished_at, started_at) + to_microseconds(CAST(retry_after_s * 1e6 AS BIGINT)))
        FILTER (WHERE {_RATE_LIMITED} AND retry_after_s IS NOT NULL) AS cooldown_until
FROM attempts
WHERE status <> 'skipped'
GROUP BY provider, account;

CREATE VIEW v_success_by_preset AS
SELECT
    preset,
    count(*) AS jobs,
    count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
    count(*) FILTER (WHERE status = 'failed') AS failed,
    count(*) FILTER (WHERE status = 'succeeded')
        / nullif(count(*) FILTER (WHERE status IN ('succeeded', 'failed')), 0) AS success_rate
FROM jobs
GROUP BY preset;

CREATE VIEW v_cost_by_account_day AS
SELECT
    CAST(started_at AS DATE) AS day,
    provider,
    account,
    count(*) AS attempts,
    count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
    sum(cost_usd) AS cost_usd
FROM attempts
GROUP BY CAST(started_at AS DATE), provider, account;

CREATE VIEW v_failures_by_error_class AS
SELECT
    error_class,
    count(*) AS attempts,
    count(DISTINCT job_id) AS jobs,
    list_sort(list(DISTINCT provider)) AS providers,
    max(started_at) AS last_at,
    arg_max(error, started_at) AS last_error
FROM attempts
WHERE status = 'failed'
GROUP BY error_class;

CREATE VIEW v_latency_by_model AS
SELECT
    provider,
    model,
    count(*) AS attempts,
    quantile_cont(latency_ms, 0.5) AS p50_latency_ms,
    quantile_cont(latency_ms, 0.95) AS p95_latency_ms,
    avg(latency_ms) AS avg_latency_ms
FROM attempts
WHERE status = 'succeeded' AND latency_ms IS NOT NULL
GROUP BY provider, model;
""",
)

m002_judgements = Migration(
    2,
    "m002_judgements",
    """
CREATE TABLE judgements (
    judgement_id VARCHAR PRIMARY KEY,
    job_id VARCHAR,
    run_id VARCHAR,
    attempt_id VARCHAR,
    artifact_sha256 VARCHAR,
    judged_at TIMESTAMP,
    judge_provider VARCHAR,
    judge_model VARCHAR,
    judge_account VARCHAR,
    verdict VARCHAR,
    score DOUBLE,
    min_score DOUBLE,
    reason VARCHAR,
    cost_usd DOUBLE,
    latency_ms DOUBLE,
    transcribed_by VARCHAR
);

CREATE VIEW v_quality_by_model AS
SELECT
    a.provider,
    a.model,
    count(*) AS judged,
    count(*) FILTER (WHERE j.verdict = 'passed') AS passed,
    count(*) FILTER (WHERE j.verdict = 'rejected') AS rejected,
    count(*) FILTER (WHERE j.verdict = 'failed') AS judge_failed,
    avg(j.score) AS mean_score,
    min(j.score) AS lowest_score,
    count(*) FILTER (WHERE j.verdict = 'rejected')
        / nullif(count(*) FILTER (WHERE j.verdict IN ('passed', 'rejected')), 0)
        AS rejection_rate,
    sum(j.cost_usd) AS judge_cost_usd
FROM judgements j JOIN attempts a USING (attempt_id)
GROUP BY a.provider, a.model;
""",
)


# Cluster batches (issue 13): which Dask worker ran each job and attempt (NULL for a
# batch or run on one machine); runs already carry the host they ran on.
m003_worker = Migration(
    3,
    "m003_worker",
    """
ALTER TABLE jobs ADD COLUMN worker VARCHAR;
ALTER TABLE attempts ADD COLUMN worker VARCHAR;
""",
)


def _mark_latest(column: str, key: str, success: bool) -> str:
    """Flag each job's latest attempt per ``key`` (of those succeeded when ``success``);
    ties on started_at go to the highest attempt_id, so exactly one is flagged."""
    status = "status = 'succeeded'" if success else "status <> 'skipped'"
    return f"""
UPDATE attempts SET {column} = true WHERE attempt_id IN (
    SELECT max({{'t': started_at, 'id': attempt_id}}).id FROM attempts
    WHERE {status} AND job_id IS NOT NULL AND started_at IS NOT NULL
    GROUP BY job_id, {key}
);
"""


# Per-job totals (issue 16), so `report` reads one row per job instead of grouping a
# million jobs' attempts on every call: on jobs, what its attempts and judgements add up
# to; on attempts, which one is the job's latest (and latest successful) on its provider,
# model and account, so counting the jobs that tried each needs no count(DISTINCT job_id).
# The merge keeps them (runner/runlog/totals.py); this fills them in for an existing log.
# Counts default to 0 and flags to false; sums stay NULL when nothing is known.
m004_job_totals = Migration(
    4,
    "m004_job_totals",
    """
ALTER TABLE jobs ADD COLUMN attempts_logged INTEGER DEFAULT 0;
ALTER TABLE jobs ADD COLUMN attempts_cost_usd DOUBLE;
ALTER TABLE jobs ADD COLUMN judge_passed INTEGER DEFAULT 0;
ALTER TABLE jobs ADD COLUMN judge_rejected INTEGER DEFAULT 0;
ALTER TABLE jobs ADD COLUMN judge_scored INTEGER DEFAULT 0;
ALTER TABLE jobs ADD COLUMN judge_score_sum DOUBLE;
ALTER TABLE jobs ADD COLUMN judge_cost_usd DOUBLE;

UPDATE jobs SET attempts_logged = a.n, attempts_cost_usd = a.cost
FROM (
    SELECT job_id, count(*) AS n, sum(cost_usd) AS cost FROM attempts
    WHERE job_id IS NOT NULL GROUP BY job_id
) a
WHERE jobs.job_id = a.job_id;

UPDATE jobs SET judge_passed = jd.passed, judge_rejected = jd.rejected,
    judge_scored = jd.scored, judge_score_sum = jd.score_sum, judge_cost_usd = jd.cost
FROM (
    SELECT job_id,
           count(*) FILTER (WHERE verdict = 'passed') AS passed,
           count(*) FILTER (WHERE verdict = 'rejected') AS rejected,
           count(score) AS scored,
           sum(score) AS score_sum,
           sum(cost_usd) AS cost
    FROM judgements WHERE job_id IS NOT NULL GROUP BY job_id
) jd
WHERE jobs.job_id = jd.job_id;
"""
    + "".join(
        f"ALTER TABLE attempts ADD COLUMN job_latest{kind}_by_{key} BOOLEAN DEFAULT false;\n"
        for kind in ("", "_success")
        for key in ("provider", "model", "account")
    )
    + "".join(
        _mark_latest(f"job_latest{kind}_by_{key}", key, success=bool(kind))
        for kind in ("", "_success")
        for key in ("provider", "model", "account")
    ),
)

MIGRATIONS: tuple[Migration, ...] = (
    m001_initial,
    m002_judgements,
    m003_worker,
    m004_job_totals,
)

SCHEMA_VERSION = MIGRATIONS[-1].version

_BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name VARCHAR NOT NULL,
    applied_at TIMESTAMP NOT NULL
)
"""


def applied_versions(con: duckdb.DuckDBPyConnection) -> set[int]:
    return {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply every migration not yet applied, each in its own transaction; return names.

    The caller holds the run log's exclusive lock, so no two processes migrate at once.
    """
    con.execute(_BOOTSTRAP)
    done = applied_versions(con)
    newest = max(done, default=0)
    if newest > SCHEMA_VERSION:
        raise RunLogError(
            f"the run log has schema version {newest}, newer than this mediamix "
            f"understands ({SCHEMA_VERSION}); upgrade mediamix to read it"
        )
    applied: list[str] = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        with transaction(con):
            con.execute(migration.sql)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                [migration.version, migration.name, datetime.now(UTC).replace(tzinfo=None)],
            )
        applied.append(migration.name)
    return applied
