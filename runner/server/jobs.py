"""``/api/media/jobs``: the job history with filters and paging, one job, cancel.

Jobs this server runs are answered from the live board (current to the last record, no
database read); older ones from the run log, read in a worker thread. Keys are the run
log's (docs/runlog.md) plus ``status`` as the API spells it (``queued`` and ``cancelled``
included), artifact URLs and links.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from datetime import datetime
from typing import Any

from aiohttp import web

from runner.errors import RunLogError, UsageError, redact
from runner.providers.base import MEDIA_TYPES
from runner.runlog.queries import JobFilter
from runner.runlog.since import parse_since
from runner.runlog.store import RunLog
from runner.server.bodies import query_value
from runner.server.errors import ApiError, field_error, json_response
from runner.server.media import store_for, url_for
from runner.server.state import service_of
from runner.service.board import api_status
from runner.service.jobs import AlreadyFinished
from runner.storage import ArtifactStore

STATUSES = ("queued", "running", "succeeded", "failed", "skipped", "cancelled")
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def job_links(job_id: str, run_id: str | None) -> dict[str, str]:
    links = {
        "self": f"/api/media/jobs/{job_id}",
        "cancel": f"/api/media/jobs/{job_id}/cancel",
        "events": f"/api/media/events?job={job_id}",
    }
    if run_id:
        links["run"] = f"/api/media/runs/{run_id}"
    return links


def present_row(row: dict[str, Any], store: ArtifactStore) -> dict[str, Any]:
    out = dict(row)
    out["status"] = api_status(row.get("status"), row.get("error_class"))
    out["artifact_urls"] = [url_for(store, uri) for uri in row.get("artifacts") or []]
    out["links"] = job_links(row["job_id"], row.get("run_id"))
    return out


def present_detail(job: dict[str, Any], store: ArtifactStore) -> dict[str, Any]:
    out = dict(job)
    out["status"] = api_status(job.get("status"), job.get("error_class"))
    out["artifacts"] = [
        {**a, "url": url_for(store, a.get("uri"))} for a in job.get("artifacts") or []
    ]
    out["links"] = job_links(job["job_id"], job.get("run_id"))
    return out


def _cursor(row: dict[str, Any]) -> str:
    moment = row["started_at"]
    text = json.dumps([moment.isoformat() if isinstance(moment, datetime) else moment,
                       row["job_id"]])  # fmt: skip
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _after(spelling: str, cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        moment, job_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(moment), str(job_id)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise field_error(spelling, "is not a cursor this server handed out") from None


def _filters(request: web.Request) -> tuple[JobFilter, str | None]:
    q = request.query
    values: dict[str, Any] = {}
    status = None
    if (given := query_value(q, "status")) is not None:
        if given[1] not in STATUSES:
            raise field_error(given[0], f"must be one of {', '.join(STATUSES)}")
        status = given[1]
    if (given := query_value(q, "media_type")) is not None:
        if given[1] not in MEDIA_TYPES:
            raise field_error(given[0], f"must be one of {', '.join(MEDIA_TYPES)}")
        values["media_type"] = given[1]
    for name in ("preset", "provider", "run"):
        if (given := query_value(q, name)) is not None and given[1]:
            values[name] = given[1]
    if (given := query_value(q, "since")) is not None and given[1]:
        try:
            values["since"] = parse_since(given[1])
        except Exception:
            raise field_error(
                given[0], "expected a duration like 30m, 24h, 7d or a UTC date like 2026-11-01"
            ) from None
    limit = DEFAULT_LIMIT
    if (given := query_value(q, "limit")) is not None:
        if not given[1].isdigit() or not 1 <= int(given[1]) <= MAX_LIMIT:
            raise field_error(given[0], f"must be a whole number from 1 to {MAX_LIMIT}")
        limit = int(given[1])
    if (given := query_value(q, "cursor")) is not None and given[1]:
        values["after"] = _after(*given)
    if status == "cancelled":
        values.update(status="failed", error_class="cancelled")
    elif status not in (None, "queued"):
        values["status"] = status
    return JobFilter(limit=limit, **values), status


def _matches(row: dict[str, Any], f: JobFilter, status: str | None) -> bool:
    if status is not None and api_status(row.get("status"), row.get("error_class")) != status:
        return False
    for name in ("media_type", "preset", "provider"):
        wanted = getattr(f, name)
        if wanted is not None and row.get(name) != wanted:
            return False
    if f.run is not None and not str(row.get("run_id", "")).startswith(f.run):
        return False
    started = row.get("started_at")
    return not (f.since is not None and started is not None and started < f.since)


def _read_jobs(log: RunLog | None, f: JobFilter) -> list[dict[str, Any]]:
    if log is None or (not log.exists() and not log.pending_files()):
        return []
    with log.queries() as q:
        return q.list_jobs(f)


def _order_key(row: dict[str, Any]) -> tuple[float, str]:
    moment = row.get("started_at") or row.get("submitted_at")
    # Newest first; queued jobs (no start yet) lead.
    stamp = moment.timestamp() if isinstance(moment, datetime) else float("inf")
    return (-stamp, row["job_id"])


async def list_jobs(request: web.Request) -> web.Response:
    f, status = _filters(request)
    service = service_of(request)
    store = await store_for(request)
    rows: list[dict[str, Any]] = []
    notice = None
    if status != "queued":
        try:
            rows = await asyncio.to_thread(_read_jobs, service.runlog, f)
        except RunLogError as exc:
            # The history cannot be read now; what this server runs still can be shown.
            notice = f"history unavailable: {redact(str(exc))}"
    board = service.board
    rows = [
        board.jobs[r["job_id"]].summary(board.runs.get(r["run_id"], {}).get("pipeline"))
        if r["job_id"] in board.jobs
        else r
        for r in rows
    ]
    rows = [r for r in rows if _matches(r, f, status)]
    next_cursor = _cursor(rows[-1]) if f.limit is not None and len(rows) >= f.limit else None
    if f.after is None:
        # The first page also shows what the run log cannot know yet: queued jobs, and
        # jobs started since the writer's last batch.
        seen = {r["job_id"] for r in rows}
        oldest = _order_key(rows[-1]) if next_cursor else None
        for live in board.summaries(lambda r: _matches(r, f, status)):
            if live["job_id"] not in seen and (oldest is None or _order_key(live) < oldest):
                rows.append(live)
        rows.sort(key=_order_key)
        if f.limit is not None and len(rows) > f.limit:
            rows = rows[: f.limit]
            next_cursor = _cursor(rows[-1]) if rows[-1].get("started_at") else None
    answer: dict[str, Any] = {
        "jobs": [present_row(r, store) for r in rows],
        "next_cursor": next_cursor,
    }
    if notice is not None:
        answer["notice"] = notice
    return json_response(answer)


def _job_id(request: web.Request) -> str:
    job_id = request.match_info["job_id"]
    if not JOB_ID.match(job_id):
        raise ApiError(404, "no such job")
    return job_id


def _read_detail(log: RunLog | None, job_id: str) -> dict[str, Any] | None:
    if log is None or (not log.exists() and not log.pending_files()):
        return None
    with log.queries() as q:
        try:
            return q.job_detail(job_id)
        except (RunLogError, UsageError):  # no such job (or an ambiguous prefix)
            return None


async def show_job(request: web.Request) -> web.Response:
    job_id = _job_id(request)
    service = service_of(request)
    job = service.board.job(job_id)
    if job is None:
        job = await asyncio.to_thread(_read_detail, service.runlog, job_id)
    if job is None:
        raise ApiError(404, f"no job {job_id!r} in the run log")
    return json_response(present_detail(job, await store_for(request)))


async def cancel_job(request: web.Request) -> web.Response:
    job_id = _job_id(request)
    service = service_of(request)
    try:
        was = service.cancel_job(job_id)
    except AlreadyFinished as exc:
        raise ApiError(409, f"job {job_id} already {exc.status}; nothing to cancel") from None
    except LookupError:
        known = service.board.job(job_id) or await asyncio.to_thread(
            _read_detail, service.runlog, job_id
        )
        if known is None:
            raise ApiError(404, f"no job {job_id!r}") from None
        status = api_status(known.get("status"), known.get("error_class"))
        raise ApiError(
            409,
            f"job {job_id} is {status} and not run by this server; nothing to cancel",
        ) from None
    return json_response(
        {"job_id": job_id, "jobId": job_id, "status": "cancelling", "was": was,
         "links": job_links(job_id, None)},
        status=202,
    )  # fmt: skip


def routes() -> list[web.AbstractRouteDef]:
    return [
        web.get("/api/media/jobs", list_jobs),
        web.get("/api/media/jobs/{job_id}", show_job),
        web.post("/api/media/jobs/{job_id}/cancel", cancel_job),
    ]
