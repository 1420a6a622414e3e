"""Run a pipeline once per row of an inputs file.

Rows run on one Engine per worker: here, this process is the one worker (one account pool
so limits hold across rows, one HTTP client, one budget, the run log's own writer); with
``--cluster``, every Dask worker runs the same :class:`~runner.batch.rowrun.RowRunner` on
chunks of rows, limits and budget leased from the cluster, records streamed back to this
process's run log (:mod:`runner.cluster`). Either way ``concurrency`` coroutines per worker
pull rows from a shared iterator, so a file of any length never has more than
``concurrency`` rows in flight per worker. Each row is one pipeline run; a ``batch_row``
event ties it to the batch (``batch_id``, row number, line, content digest, shard, inputs
file), and its :class:`~runner.batch.rowrun.RowOutcome` comes back here to be counted.

:func:`prepare_batch` reads and checks everything first (inputs, shard, run-log
history), so ``--on-bad-row fail`` stops before any provider is called; then
:class:`BatchRun` runs. :meth:`BatchRun.interrupt` stops dispatching (in-flight rows
finish); cancelling the task that awaits :meth:`BatchRun.run` cancels in-flight rows too.
Either way every record written so far is flushed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from runner.batch.history import BatchHistory, load_history
from runner.batch.rowrun import BatchIdentity, RowOutcome, RowRunner
from runner.batch.rows import BadRow, Row, read_rows
from runner.batch.shard import Shard
from runner.config.loader import load_pipeline
from runner.config.model import ClusterSpec
from runner.config.project import Workspace
from runner.engine.api import finish_runlog, open_runlog, resolve_pipeline_path
from runner.engine.plan import Plan, build_plan
from runner.engine.reuse import ReuseIndex
from runner.engine.run import Engine, History
from runner.engine.services import EngineOptions
from runner.engine.stopping import Stopper
from runner.errors import UsageError
from runner.runlog.records import new_id, utcnow
from runner.runlog.sink import RunLogSink
from runner.runlog.store import NoticeCallback, RunLog

BadRowPolicy = Literal["skip", "fail"]
BatchStatus = Literal["succeeded", "failed", "interrupted"]


@dataclass(frozen=True)
class BatchOptions:
    concurrency: int = 8
    shard: Shard | None = None
    #: Continue this batch id; with ``resume_latest`` the newest batch of this file.
    resume: str | None = None
    resume_latest: bool = False
    max_cost_usd: float | None = None
    fail_fast: bool = False
    on_bad_row: BadRowPolicy = "skip"
    seed: int | None = None
    runlog_dir: Path | None = None
    #: Shared with the signal handlers: stops dispatch (soft) or in-flight calls (hard).
    stopper: Stopper = field(default_factory=Stopper, compare=False)
    #: Run the rows on this Dask cluster (None: in this process, the one-worker case).
    cluster: ClusterSpec | None = None


@dataclass
class PreparedBatch:
    """Everything checked and read before the first call."""

    batch_id: str
    pipeline: str
    #: The inputs file as an absolute path (how ``--resume`` finds a batch again).
    inputs_file: str
    plan: Plan | None  # None when no row is left to run
    todo: list[Row]
    bad: list[BadRow]
    rows_in_file: int
    rows_other_shards: int
    rows_done_earlier: int
    history: BatchHistory
    history_learned: History


@dataclass(frozen=True)
class RowFailure:
    row: int
    line: int
    run_id: str
    step_id: str | None
    error_class: str | None
    error: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "line": self.line,
            "run_id": self.run_id,
            "step_id": self.step_id,
            "error_class": self.error_class,
            "error": self.error,
        }


@dataclass(frozen=True)
class BatchSnapshot:
    """Counters for a progress display."""

    rows: int
    succeeded: int
    failed: int
    running: int
    jobs_reused: int
    cost_usd: float | None
    elapsed_s: float

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed

    @property
    def rate(self) -> float:
        """Rows finished per second so far."""
        return self.finished / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        rate = self.rate
        return (self.rows - self.finished) / rate if rate > 0 else None


@dataclass
class BatchResult:
    batch_id: str
    pipeline: str
    inputs_file: str
    shard: str | None
    status: BatchStatus
    started_at: datetime
    finished_at: datetime
    rows_in_file: int
    rows_bad: list[BadRow]
    rows_other_shards: int
    rows_done_earlier: int
    rows_succeeded: int
    rows_failed: int
    rows_not_run: int
    jobs_succeeded: int
    jobs_failed: int
    jobs_reused: int
    cost_usd: float | None
    resumed_batch: str | None
    #: Why dispatch stopped early: "fail-fast", "budget", "interrupted", or "runlog" /
    #: "storage" (the run log's or the outputs' disk is full); None: it did not.
    stopped: str | None
    failures: list[RowFailure] = field(default_factory=list)

    @property
    def elapsed_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        """Stable JSON shape for ``mediamix batch --json``."""
        return {
            "batch_id": self.batch_id,
            "pipeline": self.pipeline,
            "inputs_file": self.inputs_file,
            "shard": self.shard,
            "status": self.status,
            "resumed_batch": self.resumed_batch,
            "stopped": self.stopped,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "elapsed_s": round(self.elapsed_s, 3),
            "rows_in_file": self.rows_in_file,
            "rows_bad": len(self.rows_bad),
            "rows_other_shards": self.rows_other_shards,
            "rows_done_earlier": self.rows_done_earlier,
            "rows_succeeded": self.rows_succeeded,
            "rows_failed": self.rows_failed,
            "rows_not_run": self.rows_not_run,
            "jobs_succeeded": self.jobs_succeeded,
            "jobs_failed": self.jobs_failed,
            "jobs_reused": self.jobs_reused,
            "cost_usd": self.cost_usd,
            "bad_rows": [{"line": b.line, "error": b.message} for b in self.rows_bad],
            "failures": [f.as_dict() for f in self.failures],
        }


def prepare_batch(
    ws: Workspace,
    pipeline: str | Path,
    inputs_file: str | Path,
    options: BatchOptions,
    *,
    notify: NoticeCallback | None = None,
) -> PreparedBatch:
    """Read and check the pipeline, every row and the run log; call nothing."""
    loaded = load_pipeline(resolve_pipeline_path(pipeline, ws))
    read = read_rows(inputs_file, loaded.value)
    if read.bad and options.on_bad_row == "fail":
        shown = "\n".join(str(b) for b in read.bad)
        raise UsageError(
            f"{len(read.bad)} bad row(s) in {inputs_file}; nothing was run "
            f"(--on-bad-row skip runs the others):\n{shown}"
        )
    rows = read.rows
    in_shard = [r for r in rows if options.shard is None or options.shard.holds(r.digest)]
    absolute = str(Path(inputs_file).resolve())
    runlog = open_runlog(ws, options.runlog_dir)
    runlog.on_notice = notify  # e.g. records that wait in the inbox, a file set aside
    # A plan's steps do not depend on its inputs (each row brings its own): built before
    # the history, so that one connection to the run log reads everything.
    plan = build_plan(loaded, ws, in_shard[0].inputs) if in_shard else None
    history = load_history(
        runlog,
        pipeline=loaded.value.name,
        inputs_file=absolute,
        resume=options.resume,
        resume_latest=options.resume_latest,
        plan=plan,
    )
    remaining = history.done_rows.copy()
    todo: list[Row] = []
    for row in in_shard:
        if remaining[row.digest] > 0:  # this row's run succeeded in the batch resumed
            remaining[row.digest] -= 1
        else:
            todo.append(row)
    plan = replace(plan, inputs=todo[0].inputs) if plan is not None and todo else None
    return PreparedBatch(
        batch_id=history.resumed_batch or new_id(),
        pipeline=loaded.value.name,
        inputs_file=absolute,
        plan=plan,
        todo=todo,
        bad=read.bad,
        rows_in_file=len(rows) + len(read.bad),
        rows_other_shards=len(rows) - len(in_shard),
        rows_done_earlier=len(in_shard) - len(todo),
        history=history,
        history_learned=history.learned if plan is not None else History(),
    )


RowCallback = Callable[[RowOutcome], None]

#: A long batch merges its records into runlog.duckdb this often (when the file is free),
#: so the file people open while it runs is at most this old.
MERGE_EVERY_S = 60.0


async def _merge_every(runlog: RunLog, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        await asyncio.to_thread(runlog.merge_now, wait_s=0.0)


class BatchRun:
    def __init__(
        self,
        ws: Workspace,
        prepared: PreparedBatch,
        options: BatchOptions,
        *,
        on_row: RowCallback | None = None,
        notify: NoticeCallback | None = None,
    ) -> None:
        self.ws = ws
        self.prepared = prepared
        self.options = options
        self.on_row = on_row
        self.notify: NoticeCallback = notify or (lambda message: None)
        self.succeeded = 0
        self.failed = 0
        self.running = 0
        self.jobs_succeeded = 0
        self.jobs_failed = 0
        self.jobs_reused = 0
        #: Sum of the rows' known costs, in the order they finished (None: none known).
        #: A running total: the progress line asks for it every 0.25 s, however long the
        #: batch.
        self._cost_usd: float | None = None
        self.failures: list[RowFailure] = []
        self.stopped: str | None = None
        self._t0 = time.monotonic()

    def interrupt(self) -> None:
        """Stop taking new rows and starting new calls; calls in flight finish."""
        self.stopped = self.stopped or "interrupted"
        self.options.stopper.soft("interrupted", "the batch was interrupted")

    def snapshot(self) -> BatchSnapshot:
        return BatchSnapshot(
            rows=len(self.prepared.todo),
            succeeded=self.succeeded,
            failed=self.failed,
            running=self.running,
            jobs_reused=self.jobs_reused,
            cost_usd=self._cost_usd,
            elapsed_s=time.monotonic() - self._t0,
        )

    # -- what every place that runs rows reports back ---------------------------------

    def should_stop(self) -> bool:
        """Whether rows not yet started should stay unstarted."""
        return self.stopped is not None

    def row_started(self, row: int) -> None:
        self.running += 1

    def row_abandoned(self, row: int) -> None:
        """A row that will not finish where it started (its Dask worker died)."""
        self.running -= 1

    def row_finished(self, outcome: RowOutcome) -> None:
        self.running -= 1
        self.jobs_succeeded += outcome.jobs_succeeded
        self.jobs_failed += outcome.jobs_failed
        self.jobs_reused += outcome.jobs_reused
        if outcome.cost_usd is not None:
            self._cost_usd = (self._cost_usd or 0.0) + outcome.cost_usd
        if outcome.status == "succeeded":
            self.succeeded += 1
        else:
            self.failed += 1
            self.failures.append(
                RowFailure(
                    row=outcome.row,
                    line=outcome.line,
                    run_id=outcome.run_id,
                    step_id=outcome.failed_step,
                    error_class=outcome.error_class,
                    error=outcome.error or outcome.status,
                )
            )
            if self.options.fail_fast:
                self.stopped = self.stopped or "fail-fast"
        if outcome.budget_hit:
            self.stopped = self.stopped or "budget"
        # A full disk (here or on a worker): what a call buys could not be kept.
        halted = outcome.halted or self.options.stopper.kind
        if halted in ("runlog", "storage"):
            self.stopped = self.stopped or halted
        if self.on_row is not None:
            self.on_row(outcome)

    # -- running -----------------------------------------------------------------------

    async def run(self) -> BatchResult:
        started = utcnow()
        self._t0 = time.monotonic()
        prepared = self.prepared
        cancelled = False
        if prepared.plan is not None:
            runlog = open_runlog(self.ws, self.options.runlog_dir)
            with runlog.writer() as sink:
                self._close_stale(sink)
                merging = asyncio.create_task(_merge_every(runlog, MERGE_EVERY_S))
                try:
                    if self.options.cluster is None:
                        await self._run_here(prepared.plan, sink)
                    else:
                        from runner.cluster.client import run_on_cluster

                        await run_on_cluster(self, prepared.plan, sink, self.options.cluster)
                except asyncio.CancelledError:
                    cancelled = True
                finally:
                    merging.cancel()
            said = self.prepared.history_learned.unavailable is not None
            await finish_runlog(runlog, sink, self.notify, said_waiting=said)
        if cancelled or self.options.stopper.kind == "interrupted":
            self.stopped = "interrupted"
        return self._result(started)

    def engine_options(self) -> EngineOptions:
        o = self.options
        return EngineOptions(
            seed=o.seed,
            max_cost_usd=o.max_cost_usd,
            fail_fast=o.fail_fast,
            shard=str(o.shard) if o.shard else None,
            flush_each_run=False,
            stopper=o.stopper,
        )

    def identity(self) -> BatchIdentity:
        p = self.prepared
        shard = str(self.options.shard) if self.options.shard else None
        return BatchIdentity(p.batch_id, p.pipeline, p.inputs_file, shard)

    async def _run_here(self, plan: Plan, sink: RunLogSink) -> None:
        """The one-worker case: this process is the only worker, its sink the run log."""
        async with Engine(
            self.ws, sink, options=self.engine_options(), history=self.prepared.history_learned
        ) as engine:
            sv = engine.services
            sv.reuse = ReuseIndex(self.prepared.history.succeeded, sv.store).lookup
            sv.resume_tasks = dict(self.prepared.history.resume_tasks)
            runner = RowRunner(
                engine,
                plan,
                self.identity(),
                concurrency=self.options.concurrency,
                on_start=lambda row: self.row_started(row.number),
                on_outcome=lambda row, outcome: self.row_finished(outcome),
                should_stop=self.should_stop,
            )
            await runner.run(self.prepared.todo)

    def _close_stale(self, sink: RunLogSink) -> None:
        """Runs and jobs of the resumed batch that a killed process left "running"."""
        history = self.prepared.history
        reason = (
            f"interrupted: the batch process ended first (resumed as batch {history.resumed_batch})"
        )
        for run in history.stale_runs:
            sink.write(run)
        for job in history.stale_jobs:
            sink.write(
                replace(
                    job,
                    status="failed",
                    error_class="interrupted",
                    error=reason,
                    finished_at=job.finished_at or utcnow(),
                )
            )

    def _result(self, started: datetime) -> BatchResult:
        p = self.prepared
        finished = self.succeeded + self.failed
        not_run = len(p.todo) - finished
        status: BatchStatus
        if self.stopped == "interrupted":
            status = "interrupted"
        elif self.failed or not_run or p.bad:
            status = "failed"
        else:
            status = "succeeded"
        return BatchResult(
            batch_id=p.batch_id,
            pipeline=p.pipeline,
            inputs_file=p.inputs_file,
            shard=str(self.options.shard) if self.options.shard else None,
            status=status,
            started_at=started,
            finished_at=utcnow(),
            rows_in_file=p.rows_in_file,
            rows_bad=p.bad,
            rows_other_shards=p.rows_other_shards,
            rows_done_earlier=p.rows_done_earlier,
            rows_succeeded=self.succeeded,
            rows_failed=self.failed,
            rows_not_run=not_run,
            jobs_succeeded=self.jobs_succeeded,
            jobs_failed=self.jobs_failed,
            jobs_reused=self.jobs_reused,
            cost_usd=self._cost_usd,
            resumed_batch=p.history.resumed_batch,
            stopped=self.stopped,
            failures=sorted(self.failures, key=lambda f: f.row),
        )
