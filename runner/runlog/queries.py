"""Questions the engine and the CLI ask the run log, over one open DuckDB connection.

Get one with ``RunLog(dir).queries()``. Row dicts carry plain Python values: times are
aware UTC datetimes, ``day`` is a date, costs are USD floats or ``None`` when unknown.
The keys of every dict are part of mediamix's stable interface (``--json``); see
docs/runlog.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

import duckdb

from runner.errors import RunLogError, UsageError
from runner.runlog.codec import as_aware
from runner.runlog.records import RECENT_ATTEMPTS, CandidateStats, ResumeTask
from runner.runlog.totals import ATTEMPT_FLAGS, JOB_TOTALS, latest_flag

ReportBy = Literal["preset", "provider", "model", "account", "media_type", "day"]
REPORT_BY: tuple[str, ...] = get_args(ReportBy)

#: Report groupings counted per job, and per attempt (a job tried several candidates).
_JOB_DIMENSIONS = {
    "preset": "preset",
    "media_type": "media_type",
    "day": "CAST(started_at AS DATE)",
}
_ATTEMPT_DIMENSIONS = {"provider": "provider", "model": "model", "account": "account"}

_JSON_COLUMNS = frozenset({"data", "inputs"})

#: A job's attempts: what the engine counted, or the attempt rows the log holds for it
#: when there are more (a later process added some).
_JOB_ATTEMPTS = "greatest(coalesce(attempts, 0), coalesce(attempts_logged, 0))"


@dataclass(frozen=True)
class JobFilter:
    status: str | None = None
    media_type: str | None = None
    preset: str | None = None
    #: A run id or a prefix of one.
    run: str | None = None
    since: datetime | None = None
    limit: int | None = 50
    #: The provider that made the job's artifact (the winning candidate).
    provider: str | None = None
    #: Keyset paging: only jobs after this ``(started_at, job_id)`` in the list's order
    #: (newest first), i.e. the last row of the previous page.
    after: tuple[datetime, str] | None = None
    error_class: str | None = None


def _db_time(moment: datetime) -> datetime:
    """An aware datetime as the naive UTC value the TIMESTAMP columns hold."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _value(name: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return as_aware(value)
    if name in _JSON_COLUMNS and isinstance(value, str):
        return json.loads(value)
    return value


class Queries:
    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        try:
            cursor = self.con.execute(sql, list(params))
            names = [d[0] for d in cursor.description or ()]
            return [
                {n: _value(n, v) for n, v in zip(names, row, strict=True)}
                for row in cursor.fetchall()
            ]
        except duckdb.Error as exc:
            raise RunLogError(f"run-log query failed: {exc}") from exc

    # -- for the engine -------------------------------------------------------------

    def model_stats(
        self,
        window_hours: float,
        *,
        now: datetime | None = None,
        recent: int | None = RECENT_ATTEMPTS,
    ) -> list[CandidateStats]:
        """Per provider/model/account over the last ``window_hours``: one aggregate query.

        Only each provider/model's latest ``recent`` attempts count (None: all in the
        window), so adaptive ranking follows how a model behaves now, not its whole past.
        Skipped attempts (no key, inactive account) say nothing about a model and are left
        out; latency is over successful attempts; cost is the mean of attempts with a
        known cost.
        """
        end = _db_time(now or datetime.now(UTC))
        start = end - timedelta(hours=window_hours)
        latest = "SELECT * FROM in_window"
        if recent is not None:
            if recent < 1:
                raise UsageError(f"recent must be at least 1 attempt, not {recent}")
            # max_by(..., n) keeps each model's n newest rows: a top-n per group, about 4x
            # faster than a row_number() window over every attempt in the window.
            latest = f"""
                SELECT provider, model, unnest(max_by(
                    {{'account': account, 'status': status, 'latency_ms': latency_ms,
                      'cost_usd': cost_usd, 'started_at': started_at,
                      'attempt_id': attempt_id}},
                    {{'at': started_at, 'id': attempt_id}}, {int(recent)}
                ), recursive := true)
                FROM in_window GROUP BY provider, model
            """
        rows = self._rows(
            f"""
            WITH in_window AS (
                SELECT * FROM attempts
                WHERE started_at >= ? AND started_at <= ? AND status <> 'skipped'
            ),
            latest AS ({latest}),
            -- A judged attempt's score (the mean, when n > 1 outputs were judged).
            scores AS (
                SELECT attempt_id, avg(score) AS score FROM judgements
                WHERE score IS NOT NULL GROUP BY attempt_id
            )
            SELECT provider, model, account,
                   count(*) AS attempts,
                   count(*) FILTER (WHERE status = 'succeeded') AS successes,
                   quantile_cont(latency_ms, 0.5) FILTER (WHERE status = 'succeeded') AS p50,
                   avg(cost_usd) AS avg_cost,
                   max(started_at) AS last_at,
                   avg(s.score) AS mean_score,
                   count(s.score) AS scored
            FROM latest LEFT JOIN scores s USING (attempt_id)
            GROUP BY provider, model, account
            ORDER BY provider, model, account NULLS FIRST
            """,
            [start, end],
        )
        return [
            CandidateStats(
                provider=r["provider"],
                model=r["model"],
                account=r["account"],
                attempts=int(r["attempts"]),
                successes=int(r["successes"]),
                p50_latency_ms=r["p50"],
                avg_cost_usd=r["avg_cost"],
                last_attempt_at=r["last_at"],
                mean_score=r["mean_score"],
                scored=int(r["scored"]),
            )
            for r in rows
        ]

    def succeeded_job_keys(self, keys: Iterable[str]) -> dict[str, list[str]]:
        """Idempotency key -> artifact URIs of its latest succeeded job (for batch resume)."""
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        rows = self._rows(
            """
            WITH done AS (
                SELECT idempotency_key AS key, job_id FROM jobs
                WHERE status = 'succeeded' AND idempotency_key IN (SELECT unnest(?::VARCHAR[]))
                QUALIFY row_number() OVER (
                    PARTITION BY idempotency_key ORDER BY finished_at DESC NULLS LAST, seq DESC
                ) = 1
            )
            SELECT key, list(a.uri ORDER BY a.created_at, a.uri)
                        FILTER (WHERE a.uri IS NOT NULL) AS uris
            FROM done LEFT JOIN artifacts a USING (job_id)
            GROUP BY key
            """,
            [wanted],
        )
        return {r["key"]: list(r["uris"] or []) for r in rows}

    def succeeded_artifacts(self, pipeline: str) -> list[dict[str, Any]]:
        """The artifacts of each idempotency key's latest succeeded job of ``pipeline``
        (one row per artifact, by key): what reuse hands back instead of paying again."""
        return self._rows(
            """
            WITH done AS (
                SELECT j.idempotency_key AS key, j.job_id, j.provider, j.model
                FROM jobs j JOIN runs r USING (run_id)
                WHERE j.status = 'succeeded' AND j.idempotency_key IS NOT NULL
                  AND r.pipeline = ?
                QUALIFY row_number() OVER (
                    PARTITION BY j.idempotency_key
                    ORDER BY j.finished_at DESC NULLS LAST, j.seq DESC
                ) = 1
            )
            SELECT d.key, d.provider, d.model, a.uri, a.media_type, a.mime, a.size, a.sha256,
                   a.public_url, a.width, a.height, a.duration_s, a.pages
            FROM done d JOIN artifacts a USING (job_id)
            ORDER BY d.key, a.created_at, a.uri
            """,
            [pipeline],
        )

    def task_ids_for_runs(self, run_ids: Iterable[str]) -> dict[str, ResumeTask]:
        """Idempotency key -> latest vendor task, for the runs' jobs not yet succeeded.

        Lets a resumed run poll a long-running vendor job instead of paying for it twice.
        After a crash the task id may only be in the ``task_created`` event (the attempt
        never finished), so events count too. Jobs without an idempotency key cannot be
        matched on resume and are left out.
        """
        rows = self._rows(
            """
            WITH keyed AS (
                SELECT job_id, idempotency_key AS key FROM jobs
                WHERE run_id IN (SELECT unnest(?::VARCHAR[])) AND idempotency_key IS NOT NULL
            ),
            done AS (
                SELECT DISTINCT idempotency_key AS key FROM jobs
                WHERE status = 'succeeded' AND idempotency_key IN (SELECT key FROM keyed)
            ),
            tasks AS (
                SELECT k.key, a.task_id, a.provider, a.model, a.started_at AS t
                FROM attempts a JOIN keyed k USING (job_id) WHERE a.task_id IS NOT NULL
                UNION ALL
                SELECT k.key, e.data->>'$.task_id', e.data->>'$.provider',
                       e.data->>'$.model', e.occurred_at AS t
                FROM events e JOIN keyed k USING (job_id)
                WHERE e.kind IN ('task_created', 'task_resumed')
                  AND e.data->>'$.task_id' IS NOT NULL
            )
            SELECT key, arg_max(task_id, t) AS task_id, arg_max(provider, t) AS provider,
                   arg_max(model, t) AS model
            FROM tasks
            WHERE key NOT IN (SELECT key FROM done)
            GROUP BY key
            """,
            [sorted(set(run_ids))],
        )
        return {
            r["key"]: ResumeTask(r["task_id"], provider=r["provider"], model=r["model"])
            for r in rows
        }

    def account_stats(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM account_health ORDER BY provider, account NULLS FIRST")

    # -- for people ---------------------------------------------------------------

    def list_jobs(self, filters: JobFilter | None = None) -> list[dict[str, Any]]:
        """Newest first. Keys: see ``JOB_LIST_KEYS``."""
        f = filters or JobFilter()
        where = ["TRUE"]
        params: list[Any] = []
        for column, value in (
            ("status", f.status),
            ("media_type", f.media_type),
            ("preset", f.preset),
            ("provider", f.provider),
            ("error_class", f.error_class),
        ):
            if value is not None:
                where.append(f"j.{column} = ?")
                params.append(value)
        if f.run is not None:
            where.append("starts_with(j.run_id, ?)")
            params.append(f.run)
        if f.since is not None:
            where.append("j.started_at >= ?")
            params.append(_db_time(f.since))
        if f.after is not None:
            moment = _db_time(f.after[0])
            where.append("(j.started_at < ? OR (j.started_at = ? AND j.job_id > ?))")
            params += [moment, moment, f.after[1]]
        limit = ""
        if f.limit is not None:
            limit = "LIMIT ?"
            params.append(max(0, f.limit))
        # The page first, then only its jobs' artifacts: a page of 50 reads 50 jobs' rows,
        # not every artifact in the log.
        return self._rows(
            f"""
            WITH page AS (
                SELECT j.job_id, j.run_id, j.step_id, j.item_index, j.status, j.media_type,
                       j.preset, j.strategy, j.provider, j.model, j.account,
                       {_JOB_ATTEMPTS} AS attempts,
                       j.started_at, j.finished_at, j.latency_ms,
                       coalesce(j.cost_usd, j.attempts_cost_usd) AS cost_usd,
                       j.error_class, j.error
                FROM jobs j
                WHERE {" AND ".join(where)}
                ORDER BY j.started_at DESC, j.job_id
                {limit}
            ),
            art AS (
                SELECT job_id, list(uri ORDER BY created_at, uri) AS uris
                FROM artifacts WHERE job_id IN (SELECT job_id FROM page) GROUP BY job_id
            )
            SELECT page.*, coalesce(art.uris, []) AS artifacts
            FROM page LEFT JOIN art USING (job_id)
            ORDER BY page.started_at DESC, page.job_id
            """,
            params,
        )

    def job_detail(self, ref: str) -> dict[str, Any]:
        """One job (by id or unique id prefix) with attempts, events and artifacts by time."""
        ref = ref.strip()
        if not ref:
            raise UsageError("give a job id (or the start of one)")
        matches = self._rows(
            "SELECT job_id FROM jobs WHERE starts_with(job_id, ?) ORDER BY job_id LIMIT 6", [ref]
        )
        if not matches:
            # A job id that is not there is bad input (exit 2), not a failed job.
            raise UsageError(f"no job with an id starting {ref!r} in the run log")
        if len(matches) > 1 and matches[0]["job_id"] != ref:
            shown = ", ".join(m["job_id"] for m in matches[:5])
            raise UsageError(f"job id prefix {ref!r} is ambiguous: {shown}, ...; give more of it")
        job_id = matches[0]["job_id"]
        job = self._rows(
            f"SELECT j.* EXCLUDE (seq, attempts, {', '.join(JOB_TOTALS)}), "
            "j.attempts AS attempt_count, r.pipeline "
            "FROM jobs j LEFT JOIN runs r USING (run_id) WHERE j.job_id = ?",
            [job_id],
        )[0]
        job["attempts"] = self._rows(
            f"SELECT * EXCLUDE ({', '.join(ATTEMPT_FLAGS)}) FROM attempts WHERE job_id = ? "
            "ORDER BY started_at, number, attempt_id",
            [job_id],
        )
        job["events"] = self._rows(
            "SELECT * FROM events WHERE job_id = ? ORDER BY occurred_at, event_id", [job_id]
        )
        if job["cost_usd"] is None:
            # Unknown at job level: the sum of the attempts' known costs (None if none known).
            known = [a["cost_usd"] for a in job["attempts"] if a["cost_usd"] is not None]
            job["cost_usd"] = sum(known) if known else None
        job["artifacts"] = self._rows(
            "SELECT * FROM artifacts WHERE job_id = ? ORDER BY created_at, artifact_id", [job_id]
        )
        job["judgements"] = self._rows(
            "SELECT * FROM judgements WHERE job_id = ? ORDER BY judged_at, judgement_id",
            [job_id],
        )
        return job

    def artifact(self, uri: str) -> dict[str, Any] | None:
        """The artifact stored at ``uri`` (the newest record of it), or None if unknown."""
        rows = self._rows(
            "SELECT * FROM artifacts WHERE uri = ? ORDER BY created_at DESC LIMIT 1", [uri]
        )
        return rows[0] if rows else None

    def report(self, by: str, since: datetime | None = None) -> list[dict[str, Any]]:
        """Success rate, attempts per success, latency and cost grouped ``by`` one dimension.

        preset, media_type and day count jobs (latency: end-to-end of succeeded jobs).
        provider, model and account count the jobs that tried them: ``succeeded`` is jobs
        one of their attempts succeeded for, ``failed`` the rest (latency: succeeded attempts).
        """
        if by in _JOB_DIMENSIONS:
            sql = _job_report_sql(_JOB_DIMENSIONS[by])
        elif by in _ATTEMPT_DIMENSIONS:
            sql = _attempt_report_sql(_ATTEMPT_DIMENSIONS[by])
        else:
            raise UsageError(f"cannot report by {by!r}; choose one of: {', '.join(REPORT_BY)}")
        start = _db_time(since) if since is not None else datetime(1970, 1, 1)
        out = []
        for r in self._rows(sql, [start]):
            finished = r["succeeded"] + r["failed"]
            out.append(
                {
                    by: r["key"],
                    "jobs": r["jobs"],
                    "succeeded": r["succeeded"],
                    "failed": r["failed"],
                    "success_rate": r["succeeded"] / finished if finished else None,
                    "attempts": r["attempts"],
                    "attempts_per_success": (
                        r["attempts"] / r["succeeded"] if r["succeeded"] else None
                    ),
                    "p50_latency_ms": r["p50"],
                    "p95_latency_ms": r["p95"],
                    "cost_usd": r["cost"],
                    "mean_score": r["score_sum"] / r["scored"] if r["scored"] else None,
                    "rejection_rate": r["rejected"] / r["decided"] if r["decided"] else None,
                    "judge_cost_usd": r["judge_cost"],
                }
            )
        return out

    def skipped_candidates(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """Candidates jobs could not use (no key, inactive account, no account serving the
        model), from ``candidate_skipped`` events: how many jobs skipped each, the latest
        reason and what would enable it. Keys: see ``SKIPPED_KEYS``."""
        start = _db_time(since) if since is not None else datetime(1970, 1, 1)
        return self._rows(
            """
            SELECT (data->>'$.provider') || '/' || (data->>'$.model') AS candidate,
                   count(DISTINCT job_id) AS jobs,
                   count(DISTINCT run_id) AS runs,
                   arg_max(message, occurred_at) AS reason,
                   arg_max(data->>'$.enable', occurred_at) AS enable,
                   min(occurred_at) AS first_seen,
                   max(occurred_at) AS last_seen
            FROM events
            WHERE kind = 'candidate_skipped' AND occurred_at >= ?
            GROUP BY 1 ORDER BY jobs DESC, candidate
            """,
            [start],
        )

    def timeseries(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """Per UTC day and provider: attempts, successes and cost (for charts)."""
        start = _db_time(since) if since is not None else datetime(1970, 1, 1)
        return self._rows(
            """
            SELECT CAST(started_at AS DATE) AS day, provider,
                   count(*) AS attempts,
                   count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
                   sum(cost_usd) AS cost_usd
            FROM attempts
            WHERE started_at >= ? AND status <> 'skipped'
            GROUP BY ALL ORDER BY day, provider
            """,
            [start],
        )


def _job_report_sql(dimension: str) -> str:
    # One scan of jobs: each row carries its attempts' and judgements' totals (kept by the
    # merge, runner/runlog/totals.py), so no per-job aggregate or join is needed. Both
    # latency percentiles come from one quantile_cont (one sort per group, not two).
    return f"""
        WITH grouped AS (
            SELECT {dimension} AS key,
                   count(*) AS jobs,
                   count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
                   count(*) FILTER (WHERE status = 'failed') AS failed,
                   sum({_JOB_ATTEMPTS}) AS attempts,
                   quantile_cont(latency_ms, [0.5, 0.95]) FILTER (WHERE status = 'succeeded')
                       AS latency,
                   sum(coalesce(attempts_cost_usd, cost_usd)) AS cost,
                   sum(judge_score_sum) AS score_sum,
                   coalesce(sum(judge_scored), 0) AS scored,
                   coalesce(sum(judge_rejected), 0) AS rejected,
                   coalesce(sum(judge_passed + judge_rejected), 0) AS decided,
                   sum(judge_cost_usd) AS judge_cost
            FROM jobs WHERE started_at >= ?
            GROUP BY key
        )
        SELECT * EXCLUDE (latency), latency[1] AS p50, latency[2] AS p95
        FROM grouped ORDER BY key NULLS FIRST
    """


def _attempt_report_sql(dimension: str) -> str:
    # The jobs that tried a value in the window are those whose latest attempt on it is in
    # the window: the merge flags that attempt (runner/runlog/totals.py), so one scan of
    # the attempts counts them, where count(DISTINCT job_id) or a group per (value, job)
    # took most of a second over a million jobs. Judgements join on their attempt.
    latest, latest_success = latest_flag(dimension), latest_flag(dimension, success=True)
    return f"""
        WITH totals AS (
            SELECT {dimension} AS key,
                   count(*) FILTER (WHERE {latest}) AS jobs,
                   count(*) FILTER (WHERE {latest_success}) AS succeeded,
                   count(*) AS attempts,
                   quantile_cont(latency_ms, [0.5, 0.95]) FILTER (WHERE status = 'succeeded')
                       AS latency,
                   sum(cost_usd) AS cost
            FROM attempts WHERE started_at >= $1 AND status <> 'skipped'
            GROUP BY key
        ),
        jd AS (
            SELECT {dimension} AS key,
                   sum(j.score) AS score_sum,
                   count(j.score) AS scored,
                   count(*) FILTER (WHERE j.verdict = 'rejected') AS rejected,
                   count(*) FILTER (WHERE j.verdict IN ('passed', 'rejected')) AS decided,
                   sum(j.cost_usd) AS judge_cost
            FROM judgements j JOIN attempts USING (attempt_id)
            WHERE started_at >= $1 AND status <> 'skipped'
            GROUP BY key
        )
        SELECT t.key, t.jobs, t.succeeded, t.jobs - t.succeeded AS failed, t.attempts,
               t.latency[1] AS p50, t.latency[2] AS p95, t.cost,
               jd.score_sum, coalesce(jd.scored, 0) AS scored,
               coalesce(jd.rejected, 0) AS rejected, coalesce(jd.decided, 0) AS decided,
               jd.judge_cost
        -- A NULL key (an attempt without an account) is a group too: match it as one.
        FROM totals t LEFT JOIN jd ON jd.key IS NOT DISTINCT FROM t.key
        ORDER BY t.key NULLS FIRST
    """
