"""A run log of a million jobs, made by DuckDB SQL in seconds (for test_scale_bench.py).

Jobs, attempts, events, artifacts and judgements as a busy project makes them, written in
the schema an earlier mediamix wrote (version 3, tests/old_runlog.py); opening it with this
mediamix migrates it, which fills in the per-job totals the merge keeps from then on.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from runner.runlog.store import RunLog
from tests.old_runlog import old_log_file

JOBS = 1_000_000
JOBS_PER_RUN = 100
TABLES = ("runs", "jobs", "attempts", "events", "artifacts", "judgements")

# Providers, models and accounts as a busy project has them: (provider, model, media type).
_MODELS = """
    (0, 'openai', 'gpt-image-1', 'image'), (1, 'openai', 'gpt-4.1-mini', 'text'),
    (2, 'openai', 'tts-1', 'audio'), (3, 'google', 'imagen-4.0-generate-001', 'image'),
    (4, 'google', 'gemini-2.5-flash', 'text'), (5, 'stability', 'stable-image-core', 'image'),
    (6, 'runway', 'gen4.5', 'video'), (7, 'elevenlabs', 'eleven_multilingual_v2', 'audio'),
    (8, 'anthropic', 'claude-sonnet-4-5', 'text'), (9, 'openai', 'sora-2', 'video')
"""

# One statement per table, all from range(): ids are md5s (32 hex digits, as new_id()
# makes), times spread over the last 30 days, 1-3 attempts per job (a failed first
# attempt falls back), an event per failed attempt plus task and adaptive events, an
# artifact per succeeded job, a judgement for every tenth.
_FILL = f"""
SET enable_progress_bar = false;
CREATE TEMP TABLE models(m INTEGER, provider VARCHAR, model VARCHAR, media_type VARCHAR);
INSERT INTO models VALUES {_MODELS};
CREATE TEMP TABLE g AS
SELECT i,
       md5('job' || i) AS job_id,
       md5('run' || (i // {JOBS_PER_RUN})) AS run_id,
       (now() AT TIME ZONE 'UTC') - INTERVAL 30 DAY
           + to_microseconds(CAST((i // {JOBS_PER_RUN}) * (30 * 86400e6 / ({JOBS} / {JOBS_PER_RUN}))
                                  + (i % {JOBS_PER_RUN}) * 2e6 AS BIGINT)) AS t,
       CAST(hash(i, 1) % 10 AS INTEGER) AS m,
       CAST(hash(i, 2) % 100 AS INTEGER) AS roll,
       CASE WHEN hash(i, 3) % 100 < 70 THEN 1 WHEN hash(i, 3) % 100 < 92 THEN 2 ELSE 3 END
           AS tries
FROM range({JOBS}) r(i);

INSERT INTO runs
SELECT run_id, 1, 'pipeline-' || (any_value(i) // {JOBS_PER_RUN} % 7), min(t),
       'succeeded', max(t) + INTERVAL 1 MINUTE, '{{"topic": "tides"}}',
       'simple', 'host-' || (any_value(i) // {JOBS_PER_RUN} % 3), NULL, '0.9.0',
       count(*), count(*) FILTER (WHERE roll >= 4), count(*) FILTER (WHERE roll < 4), NULL
FROM g GROUP BY run_id;

INSERT INTO jobs
SELECT g.job_id, 2, g.run_id, 'step-' || (g.i % 5), md.media_type, g.t,
       CASE WHEN g.roll < 4 THEN 'failed' WHEN g.roll < 5 THEN 'skipped' ELSE 'succeeded' END,
       'preset-' || (g.m * 3 + g.i % 3), CASE WHEN g.i % 4 = 0 THEN 'adaptive' ELSE 'fallback' END,
       g.i % {JOBS_PER_RUN}, md5('key' || g.i) || md5('key2' || g.i),
       g.t + to_microseconds(CAST(800e3 + hash(g.i, 4) % 20000e3 AS BIGINT)), g.tries,
       CASE WHEN g.roll < 4 THEN 'permanent' END,
       CASE WHEN g.roll < 4 THEN 'content policy violation' END,
       0.002 + (g.m % 4) * 0.01 * g.tries, 800 + hash(g.i, 4) % 20000,
       md.provider, md.model, CASE WHEN g.i % 3 = 0 THEN 'backup' ELSE 'main' END,
       CASE WHEN md.media_type = 'video' THEN 'task-' || g.i END, NULL
FROM g JOIN models md USING (m);

INSERT INTO attempts
SELECT md5('att' || g.i || '-' || n), g.job_id, g.run_id, n, md.provider, md.model,
       g.t + to_microseconds(CAST((n - 1) * 3e6 AS BIGINT)),
       CASE WHEN n < g.tries OR g.roll < 4 THEN 'failed' ELSE 'succeeded' END,
       CASE WHEN (g.i + n) % 3 = 0 THEN 'backup' ELSE 'main' END, n - 1,
       g.t + to_microseconds(CAST((n - 1) * 3e6 + 500e3 + hash(g.i, n) % 9000e3 AS BIGINT)),
       500 + hash(g.i, n) % 9000,
       CASE WHEN n < g.tries THEN (CASE WHEN n = 1 THEN 'rate_limited' ELSE 'transient' END)
            WHEN g.roll < 4 THEN 'permanent' END,
       CASE WHEN n < g.tries THEN 'HTTP 429 from upstream: rate limit reached'
            WHEN g.roll < 4 THEN 'content policy violation' END,
       CASE WHEN n < g.tries THEN (CASE WHEN n = 1 THEN 429 ELSE 503 END) END,
       CASE WHEN n = 1 AND n < g.tries THEN 2.0 END,
       100000 + hash(g.i, n) % 4000000, 40 + g.i % 400, 300 + g.i % 900, NULL,
       CASE WHEN n = g.tries THEN 0.002 + (g.m % 4) * 0.01 END,
       CASE WHEN md.media_type = 'video' THEN 'task-' || g.i || '-' || n END, NULL
FROM g JOIN models md USING (m), range(1, 4) a(n) WHERE n <= g.tries;

INSERT INTO events
SELECT md5('ev' || g.i || '-' || n), g.run_id, g.t + to_microseconds(n * 1000000),
       CASE n WHEN 1 THEN 'retry_wait' WHEN 2 THEN 'fallback' ELSE 'candidate_failed' END,
       'rate limited; waiting 2.0s', g.job_id, md5('att' || g.i || '-' || n),
       '{{"wait_s": 2.0, "provider": "openai", "model": "gpt-image-1"}}'
FROM g, range(1, 3) e(n) WHERE n < g.tries
UNION ALL
SELECT md5('task' || g.i), g.run_id, g.t, 'task_created', 'task created', g.job_id,
       md5('att' || g.i || '-1'), '{{"task_id": "task-' || g.i || '", "provider": "runway"}}'
FROM g JOIN models md USING (m) WHERE md.media_type = 'video'
UNION ALL
SELECT md5('order' || g.i), g.run_id, g.t, 'adaptive_order', 'candidates ordered', g.job_id,
       NULL, '{{"order": ["openai/gpt-image-1", "google/imagen-4.0-generate-001"]}}'
FROM g WHERE g.i % 4 = 0;

INSERT INTO artifacts
SELECT md5('art' || g.i), g.job_id, g.run_id,
       's3://media/' || g.run_id || '/' || g.job_id || '.bin', md.media_type,
       'application/octet-stream', 100000 + g.i % 4000000, md5('a' || g.i) || md5('b' || g.i),
       g.t + INTERVAL 10 SECOND, NULL, 1024, 1024, NULL, NULL
FROM g JOIN models md USING (m) WHERE g.roll >= 5;

INSERT INTO judgements
SELECT md5('judge' || g.i), g.job_id, g.run_id, md5('att' || g.i || '-' || g.tries),
       md5('a' || g.i) || md5('b' || g.i), g.t + INTERVAL 12 SECOND, 'openai', 'gpt-4.1-mini',
       'main', CASE WHEN g.i % 7 = 0 THEN 'rejected' ELSE 'passed' END,
       0.4 + (g.i % 60) / 100, 0.6, 'looks right', 0.0004, 900, NULL
FROM g WHERE g.roll >= 5 AND g.i % 10 = 0;
"""


def million_job_log(directory: Path) -> tuple[dict[str, int], float]:
    """A run log of JOBS jobs at ``directory``, migrated to this mediamix's schema: the
    row count of each table, and the seconds the migration took (a user's first command
    after upgrading pays them once)."""
    log = RunLog(directory)
    old_log_file(log.db_path, _FILL, applied_at=datetime.now(UTC).replace(tzinfo=None))
    started = time.perf_counter()
    log.ingest()  # nothing waits in the inbox: this opens the file and migrates it
    migrated = time.perf_counter() - started
    with log.connect_readonly() as con:
        counts = {t: int(con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]) for t in TABLES}
    return counts, migrated
