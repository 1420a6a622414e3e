"""Jobs accepted at once and run in the background on a shared engine.

``JobService.generate`` and ``JobService.run_pipeline`` check and plan the request (in a
worker thread: loading YAML and checking templates is blocking work), register the job
on the live board as *queued* and return straight away; a background task waits for one
of ``concurrency`` slots and runs the plan on the engine. Every record the engine writes
goes to the run log and to the board (``ObservedSink``).

One engine serves every job, so account limits, cooldowns and the HTTP pool are shared,
as in a batch. When accounts.yaml or mediamix.yaml change, new jobs get a new engine
built from them; the old one finishes its jobs and closes.

A job never stays "running" in the ledger: cancelled, its record says cancelled (and a
vendor task is cancelled where the vendor allows it); if its task crashes (a bug), the
traceback goes to the crash log and its jobs are recorded failed with the crash id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from runner import __version__
from runner.config.project import Workspace
from runner.crashlog import record_crash
from runner.engine.api import HISTORY_WAIT_S, one_shot_plan, pin_account, project_pipeline
from runner.engine.plan import Plan, build_plan
from runner.engine.run import Engine, History
from runner.engine.services import EngineOptions
from runner.errors import MediamixError, RunLogError, UsageError, redact
from runner.runlog.records import JobRecord, Record, RunRecord, new_id, utcnow
from runner.runlog.sink import RunLogSink
from runner.runlog.store import RunLog
from runner.service.board import FINAL, LiveBoard
from runner.service.metrics import Metrics
from runner.service.workspace import Stamp, WorkspaceSource

#: Submissions waiting for a slot, at most: past it a request is refused (the API: 503).
MAX_QUEUED = 10_000
#: How long a shutdown waits for cancelled jobs to record themselves.
SHUTDOWN_GRACE_S = 10.0


class ObservedSink:
    """The run log's sink, plus the board: each record goes to both."""

    def __init__(self, inner: RunLogSink, board: LiveBoard) -> None:
        self.inner = inner
        self.board = board

    def write(self, record: Record) -> None:
        self.inner.write(record)
        self.board.observe(record)

    def write_all(self, records: Sequence[Record]) -> None:
        self.inner.write_all(records)
        for record in records:
            self.board.observe(record)

    def flush(self) -> None:
        self.inner.flush()

    def close(self) -> None:
        self.inner.close()

    def problem(self) -> str | None:
        return self.inner.problem()


@dataclass
class Accepted:
    """What a caller is told at once."""

    run_id: str
    #: The job's id for a generation; None for a pipeline run (its jobs come later).
    job_id: str | None
    status: str = "queued"


@dataclass
class _Submission:
    run_id: str
    plan: Plan
    kind: Literal["generate", "pipeline"]
    stamp: Stamp
    ws: Workspace
    job_ids: dict[str, str] = field(default_factory=dict)
    started: bool = False
    task: asyncio.Task[None] | None = None


@dataclass
class _EngineSlot:
    engine: Engine
    users: int = 0


class JobService:
    def __init__(
        self,
        source: WorkspaceSource,
        *,
        concurrency: int,
        options: EngineOptions | None = None,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        self.source = source
        # No flush (file + fsync) on the event loop as each run ends: with hundreds of jobs
        # finishing together that stalled every response and event by a second. The
        # writer's thread lands records every half second, as in a batch.
        self.options = options or EngineOptions(flush_each_run=False)
        self.concurrency = concurrency
        self.max_queued = max_queued
        self.board = LiveBoard()
        self.metrics = Metrics()
        self.board.listeners.append(self.metrics.record)
        self._slots = asyncio.Semaphore(concurrency)
        self._submissions: dict[str, _Submission] = {}
        self._engines: dict[Stamp, _EngineSlot] = {}
        self._engine_lock = asyncio.Lock()
        self._writer: RunLogSink | None = None
        self.sink: ObservedSink | None = None
        self.runlog: RunLog | None = None

    # -- life -----------------------------------------------------------------------------
    async def start(self) -> None:
        ws = await self.source.get()
        self.runlog = RunLog(ws.project.runlog_dir)
        self._writer = await asyncio.to_thread(self.runlog.writer)
        self.sink = ObservedSink(self._writer, self.board)

    async def close(self) -> None:
        """Cancel what is queued or running (each records itself), then close engines and
        the run-log writer (flushing it)."""
        tasks = [s.task for s in self._submissions.values() if s.task is not None]
        for sub in list(self._submissions.values()):
            # Not "by request": vendor tasks are left alone, as after a Ctrl-C of a run.
            self._cancel_submission(sub, by_request=False)
        if tasks:
            await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_S)
        for slot in list(self._engines.values()):
            await slot.engine.aclose()
        self._engines.clear()
        if self._writer is not None:
            await asyncio.to_thread(self._writer.close)
            self._writer = None
            if self.runlog is not None:
                # Land this server's records in runlog.duckdb now when the file is free
                # (otherwise they wait in the inbox for the next reader, as after a run).
                await asyncio.to_thread(self.runlog.merge_now)

    # -- submitting -----------------------------------------------------------------------
    async def generate(
        self,
        *,
        media_type: str,
        prompt: str,
        preset: str | None,
        workflow: str,
        max_attempts: int | None,
        account: str | None = None,
    ) -> Accepted:
        self._check_room()
        ws = await self.source.get()
        stamp = self.source.engine_stamp()

        def make_plan() -> Plan:
            made = one_shot_plan(
                ws,
                media_type=media_type,
                prompt=prompt,
                preset=preset,
                workflow=workflow,
                max_attempts=max_attempts,
            )
            return pin_account(made, ws, account) if account else made

        plan = await asyncio.to_thread(make_plan)
        sub = _Submission(new_id(), plan, "generate", stamp, ws)
        step = plan.steps[0]
        job_id = sub.job_ids[step.id] = new_id()
        now = utcnow()
        self.board.queued(
            {
                "job_id": job_id,
                "run_id": sub.run_id,
                "step_id": step.id,
                "media_type": step.media_type,
                "preset": step.preset.name if step.preset else None,
                "strategy": step.strategy,
                "started_at": None,
                "submitted_at": now,
            },
            self._run_row(sub, now),
        )
        self._launch(sub)
        return Accepted(sub.run_id, job_id)

    async def run_pipeline(
        self, name: str, inputs: Mapping[str, Any], *, workflow: str | None = None
    ) -> Accepted:
        self._check_room()
        ws = await self.source.get()
        stamp = self.source.engine_stamp()

        def plan() -> Plan:
            from runner.config.loader import load_pipeline

            return build_plan(load_pipeline(project_pipeline(name, ws)), ws, inputs,
                              workflow=workflow)  # fmt: skip

        sub = _Submission(new_id(), await asyncio.to_thread(plan), "pipeline", stamp, ws)
        self.board.run_queued(self._run_row(sub, utcnow()))
        self._launch(sub)
        return Accepted(sub.run_id, None)

    def _run_row(self, sub: _Submission, now: Any) -> dict[str, Any]:
        return {
            "run_id": sub.run_id,
            "pipeline": sub.plan.pipeline.name,
            "status": "queued",
            "started_at": None,
            "submitted_at": now,
            "inputs": dict(sub.plan.inputs),
            "workflow": sub.plan.workflow,
        }

    def _check_room(self) -> None:
        waiting = sum(1 for s in self._submissions.values() if not s.started)
        if waiting >= self.max_queued:
            raise QueueFull(
                f"{waiting} jobs are already waiting (the limit is {self.max_queued}); "
                "try again when some have finished"
            )

    def _launch(self, sub: _Submission) -> None:
        self._submissions[sub.run_id] = sub
        sub.task = asyncio.create_task(self._run(sub), name=f"mediamix-run-{sub.run_id}")

    async def _run(self, sub: _Submission) -> None:
        try:
            async with self._slots:
                slot = await self._engine(sub)
                sub.started = True
                slot.users += 1
                try:
                    await slot.engine.run(sub.plan, run_id=sub.run_id, job_ids=sub.job_ids)
                finally:
                    slot.users -= 1
                    await self._retire_engines()
        except asyncio.CancelledError:
            self._record_never_started(sub)
            # Cancelled on purpose (cancel or shutdown): the task simply ends.
        except MediamixError as exc:  # e.g. the run log cannot be read to start an engine
            self._record_failure(sub, "error", redact(str(exc)))
        except Exception as exc:  # a bug: never leave its jobs "running"
            crash_id = record_crash(exc, context=f"job service, run {sub.run_id}")
            message = f"internal error (crash id {crash_id}; details in the server's crash log)"
            self._record_failure(sub, "internal", message)
        finally:
            self._submissions.pop(sub.run_id, None)

    async def _engine(self, sub: _Submission) -> _EngineSlot:
        async with self._engine_lock:
            slot = self._engines.get(sub.stamp)
            if slot is None:
                assert self.sink is not None, "start() the service first"
                history = await asyncio.to_thread(self._history)
                engine = Engine(sub.ws, self.sink, options=self.options, history=history)
                slot = self._engines[sub.stamp] = _EngineSlot(engine)
            return slot

    def _history(self) -> History:
        """Account health and model stats from the run log, read once per engine. When
        the log cannot be read (another program holds it), jobs run without history,
        as ``mediamix run`` does."""
        log = self.runlog
        if log is None or (not log.exists() and not log.pending_files()):
            return History()
        try:
            with log.queries(lock_timeout_s=HISTORY_WAIT_S) as q:
                return History(models=q.model_stats(168.0), accounts=q.account_stats())
        except RunLogError as exc:
            return History(unavailable=str(exc))

    async def _retire_engines(self) -> None:
        """Close engines built from older settings once their last job has ended."""
        current = self.source.engine_stamp()
        for stamp, slot in list(self._engines.items()):
            if stamp != current and slot.users == 0:
                del self._engines[stamp]
                await slot.engine.aclose()

    # -- cancelling -----------------------------------------------------------------------
    def cancel_job(self, job_id: str) -> str:
        """Cancel the job (a job of a pipeline run cancels its run). Returns the status
        the job had: "queued" or "running". LookupError if the service is not running it."""
        status = self.board.status_of(job_id)
        live = self.board.jobs.get(job_id)
        if live is None or status is None:
            raise LookupError(job_id)
        if status in FINAL:
            raise AlreadyFinished(status)
        sub = self._submissions.get(live.job["run_id"])
        if sub is None:
            raise LookupError(job_id)
        self._cancel_submission(sub)
        return status

    def cancel_run(self, run_id: str) -> str:
        sub = self._submissions.get(run_id)
        if sub is None:
            raise LookupError(run_id)
        self._cancel_submission(sub)
        return "running" if sub.started else "queued"

    def _cancel_submission(self, sub: _Submission, *, by_request: bool = True) -> None:
        if by_request:
            for slot in self._engines.values():
                slot.engine.cancel(sub.run_id)
        if sub.task is not None and not sub.task.done():
            sub.task.cancel()

    # -- records for jobs the engine never finished -----------------------------------------
    def _record_never_started(self, sub: _Submission) -> None:
        """Record what a cancel stopped before the engine recorded it: the run, if it
        never started, and any job still only queued on the board."""
        assert self.sink is not None
        now = utcnow()
        run = self.board.runs.get(sub.run_id, {})
        submitted = run.get("submitted_at") or now
        unstarted = [
            (step_id, job_id)
            for step_id, job_id in sub.job_ids.items()
            if self.board.status_of(job_id) == "queued"
        ]
        if not sub.started:
            self._record_run_cancelled(sub, submitted, now)
        for step_id, job_id in unstarted:
            step = sub.plan.step(step_id)
            self.sink.write(
                JobRecord(
                    job_id=job_id,
                    run_id=sub.run_id,
                    step_id=step_id,
                    media_type=step.media_type,
                    started_at=submitted,
                    status="failed",
                    preset=step.preset.name if step.preset else None,
                    strategy=step.strategy,
                    finished_at=now,
                    error_class="cancelled",
                    error="cancelled before it started",
                )
            )

    def _record_run_cancelled(self, sub: _Submission, submitted: Any, now: Any) -> None:
        assert self.sink is not None
        self.sink.write(
            RunRecord(
                run_id=sub.run_id,
                pipeline=sub.plan.pipeline.name,
                started_at=submitted,
                status="interrupted",
                finished_at=now,
                inputs=dict(sub.plan.inputs),
                workflow=sub.plan.workflow,
                mediamix_version=__version__,
                jobs_total=len(sub.job_ids),
                jobs_failed=len(sub.job_ids),
            )
        )

    def _record_failure(self, sub: _Submission, error_class: str, message: str) -> None:
        """Mark every unfinished job of the run failed, and the run too."""
        if self.sink is None:
            return
        now = utcnow()
        for job_id in self.board.jobs_of_run(sub.run_id):
            live = self.board.jobs[job_id]
            if live.status in FINAL:
                continue
            fields = {k: v for k, v in live.job.items() if k in JobRecord.__dataclass_fields__}
            if fields.get("started_at") is None:
                fields["started_at"] = now
            fields.update(status="failed", finished_at=now, error_class=error_class, error=message)
            self.sink.write(JobRecord(**fields))
        run = self.board.runs.get(sub.run_id, {})
        self.sink.write(
            RunRecord(
                run_id=sub.run_id,
                pipeline=sub.plan.pipeline.name,
                started_at=run.get("started_at") or run.get("submitted_at") or now,
                status="failed",
                finished_at=now,
                inputs=dict(sub.plan.inputs),
                workflow=sub.plan.workflow,
                mediamix_version=__version__,
            )
        )

    # -- reading --------------------------------------------------------------------------
    def run_state(self, run_id: str) -> dict[str, Any] | None:
        run = self.board.runs.get(run_id)
        if run is None:
            return None
        sub = self._submissions.get(run_id)
        state = dict(run)
        if sub is not None and not sub.started:
            state["status"] = "queued"
        state["jobs"] = self.board.jobs_of_run(run_id)
        return state

    def in_progress(self) -> dict[str, int]:
        queued = sum(1 for s in self._submissions.values() if not s.started)
        counts = self.board.counts()
        return {"queued": queued, "running": counts.get("running", 0)}


class QueueFull(UsageError):
    pass


class AlreadyFinished(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status
