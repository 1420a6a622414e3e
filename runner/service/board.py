"""The live board: every job the service knows, kept current from the run-log records.

The engine writes each run, job, attempt, event and artifact record to the run log; the
service's sink hands each one to :meth:`LiveBoard.observe` as well. So what the board says
is what the run log will say once the writer's batch lands, with no read and no delay.
Job snapshots have the keys of :meth:`runner.runlog.queries.Queries.job_detail`.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from runner.runlog.codec import table_of
from runner.runlog.records import Record, RunStartEvent

#: Statuses after which a job never changes again.
FINAL = frozenset({"succeeded", "failed", "skipped", "cancelled"})
#: How many finished jobs the board keeps; older ones are read from the run log.
KEEP_FINISHED = 2000
#: Messages a subscriber may fall behind by before it is told to resynchronise.
SUBSCRIBER_BACKLOG = 2000


def api_status(status: str | None, error_class: str | None) -> str:
    """The run log records a cancelled job as failed with error class "cancelled"."""
    if status == "failed" and error_class == "cancelled":
        return "cancelled"
    return status or "queued"


@dataclass
class LiveJob:
    job: dict[str, Any]
    attempts: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return api_status(self.job.get("status"), self.job.get("error_class"))

    def snapshot(self, pipeline: str | None) -> dict[str, Any]:
        job = {k: v for k, v in self.job.items() if k != "attempts"}
        job["attempt_count"] = self.job.get("attempts") or 0
        job["pipeline"] = pipeline
        job["attempts"] = sorted(
            self.attempts.values(),
            key=lambda a: (a["started_at"], a.get("number") or 0, a["attempt_id"]),
        )
        job["events"] = list(self.events)
        job["artifacts"] = list(self.artifacts)
        if job.get("cost_usd") is None:
            known = [a["cost_usd"] for a in job["attempts"] if a.get("cost_usd") is not None]
            job["cost_usd"] = sum(known) if known else None
        return job

    def summary(self, pipeline: str | None) -> dict[str, Any]:
        """A row as ``Queries.list_jobs`` gives it."""
        job = self.job
        attempts = self.attempts.values()
        costs = [a["cost_usd"] for a in attempts if a.get("cost_usd") is not None]
        return {
            "job_id": job["job_id"],
            "run_id": job["run_id"],
            "step_id": job.get("step_id"),
            "item_index": job.get("item_index"),
            "status": job.get("status"),
            "media_type": job.get("media_type"),
            "preset": job.get("preset"),
            "strategy": job.get("strategy"),
            "provider": job.get("provider"),
            "model": job.get("model"),
            "account": job.get("account"),
            "attempts": max(job.get("attempts") or 0, len(self.attempts)),
            "started_at": job.get("started_at"),
            "finished_at": job.get("finished_at"),
            "latency_ms": job.get("latency_ms"),
            "cost_usd": job.get("cost_usd")
            if job.get("cost_usd") is not None
            else (sum(costs) if costs else None),
            "error_class": job.get("error_class"),
            "error": job.get("error"),
            "artifacts": [a["uri"] for a in self.artifacts],
            "pipeline": pipeline,
        }


class Subscriber:
    """One listener (an SSE client): a bounded queue of messages.

    A listener that falls ``SUBSCRIBER_BACKLOG`` messages behind may not hold memory
    without bound: what it has not read is dropped and replaced by one ``resync``
    message (re-read the lists), which a dashboard does after a reconnect anyway.
    """

    RESYNC: ClassVar[dict[str, Any]] = {"type": "resync", "data": {}}

    def __init__(self, backlog: int = SUBSCRIBER_BACKLOG) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(backlog)
        self.resyncs = 0

    def offer(self, message: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.resyncs += 1
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(self.RESYNC)

    def close(self, farewell: dict[str, Any]) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(farewell)


RecordListener = Callable[[str, dict[str, Any]], None]


class LiveBoard:
    def __init__(self, *, keep_finished: int = KEEP_FINISHED) -> None:
        self.keep_finished = keep_finished
        self.jobs: OrderedDict[str, LiveJob] = OrderedDict()
        self.runs: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.subscribers: set[Subscriber] = set()
        #: Called with (table, fields) for every record observed (metrics).
        self.listeners: list[RecordListener] = []
        self._finished = 0

    # -- what the service tells the board ------------------------------------------------
    def queued(self, job: dict[str, Any], run: dict[str, Any]) -> None:
        """A job accepted but not started: known only here until the engine writes it."""
        self.runs.setdefault(run["run_id"], run)
        self.jobs[job["job_id"]] = LiveJob({"status": "queued", **job})
        self._publish("job", self.jobs[job["job_id"]].summary(run.get("pipeline")))

    def run_queued(self, run: dict[str, Any]) -> None:
        self.runs.setdefault(run["run_id"], run)
        self._publish("run", run)

    def observe(self, record: Record) -> None:
        """Take one record the engine wrote (call on the event loop's thread)."""
        if isinstance(record, RunStartEvent):  # a run's start and an event, in one record
            self.observe(record.run_record())
            self.observe(record.event_record())
            return
        table = table_of(record)
        fields = dict(record.__dict__)
        for listener in self.listeners:
            listener(table, fields)
        if table == "runs":
            self.runs[fields["run_id"]] = fields
            self._publish("run", fields)
            return
        if table == "jobs":
            live = self.jobs.get(fields["job_id"])
            if live is None:
                live = self.jobs[fields["job_id"]] = LiveJob(fields)
            else:
                was_final = live.status in FINAL
                live.job = fields
                if was_final:
                    return
            if live.status in FINAL:
                self._finished += 1
                self.jobs.move_to_end(fields["job_id"])
                self._forget_old()
            self._publish("job", live.summary(self._pipeline(fields["run_id"])))
            return
        live = self.jobs.get(fields.get("job_id") or "")
        if table == "attempts":
            if live is not None:
                live.attempts[fields["attempt_id"]] = fields
            self._publish("attempt", fields)
        elif table == "events":
            if live is not None:
                live.events.append(fields)
            self._publish("event", fields)
        elif table == "artifacts":
            if live is not None:
                live.artifacts.append(fields)
            self._publish("artifact", fields)

    # -- what callers ask -----------------------------------------------------------------
    def job(self, job_id: str) -> dict[str, Any] | None:
        live = self.jobs.get(job_id)
        if live is None:
            return None
        return live.snapshot(self._pipeline(live.job["run_id"]))

    def status_of(self, job_id: str) -> str | None:
        live = self.jobs.get(job_id)
        return live.status if live is not None else None

    def summaries(self, keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        rows = [j.summary(self._pipeline(j.job["run_id"])) for j in self.jobs.values()]
        return [row for row in rows if keep(row)]

    def jobs_of_run(self, run_id: str) -> list[str]:
        return [job_id for job_id, j in self.jobs.items() if j.job["run_id"] == run_id]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for live in self.jobs.values():
            counts[live.status] = counts.get(live.status, 0) + 1
        return counts

    def subscribe(self) -> Subscriber:
        subscriber = Subscriber()
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    # -- inside ---------------------------------------------------------------------------
    def _pipeline(self, run_id: str) -> str | None:
        run = self.runs.get(run_id)
        return run.get("pipeline") if run else None

    def _publish(self, kind: str, data: dict[str, Any]) -> None:
        if not self.subscribers:
            return
        # ``sent`` lets a client measure how long delivery took (same clock: time.time()).
        message = {"type": kind, "sent": time.time(), "data": data}
        for subscriber in self.subscribers:
            subscriber.offer(message)

    def _forget_old(self) -> None:
        """Keep at most ``keep_finished`` finished jobs (the oldest finished go first), and
        as many finished runs."""
        excess = self._finished - self.keep_finished
        if excess > 0:
            # Finished jobs move to the end, so the oldest finished are near the front.
            victims: list[str] = []
            for job_id, live in self.jobs.items():
                if len(victims) == excess:
                    break
                if live.status in FINAL:
                    victims.append(job_id)
            for job_id in victims:
                del self.jobs[job_id]
            self._finished -= len(victims)
        if len(self.runs) > 2 * self.keep_finished:
            for run_id in list(self.runs):
                if len(self.runs) <= self.keep_finished:
                    break
                if self.runs[run_id].get("status") not in (None, "queued", "running"):
                    del self.runs[run_id]
