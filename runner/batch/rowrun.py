"""Rows of a batch on one engine: the code every place that runs rows shares.

A local batch runs its rows here, in the mediamix process, on its one Engine. A cluster
batch runs the same :class:`RowRunner` on each Dask worker, on that worker's Engine, for the
chunks of rows the worker is given (see :mod:`runner.cluster`). Either way a row is one
pipeline run, tied to its batch by a ``batch_row`` event, and it ends as a
:class:`RowOutcome`: the few facts the batch counts, small enough to send back over a
cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from runner.batch.history import BATCH_ROW_EVENT
from runner.batch.rows import Row
from runner.engine.plan import Plan
from runner.engine.results import JobResult, RunResult
from runner.engine.run import Engine
from runner.errors import redact
from runner.runlog.records import EventRecord, new_id, utcnow


@dataclass(frozen=True)
class RowOutcome:
    """How one row's run ended."""

    row: int
    line: int
    digest: str
    run_id: str
    #: The run's status: succeeded, failed or interrupted.
    status: str
    jobs_succeeded: int
    jobs_failed: int
    jobs_reused: int
    cost_usd: float | None
    #: The first failed job's step, error class and (redacted) error.
    failed_step: str | None = None
    error_class: str | None = None
    error: str | None = None
    #: A job was refused by the budget, or the budget is spent: stop taking rows.
    budget_hit: bool = False
    #: The Dask worker that ran the row (None: this process).
    worker: str | None = None
    #: Why its engine stopped dispatching, when it did: "runlog" or "storage" (a full disk).
    halted: str | None = None

    @classmethod
    def of(
        cls,
        row: Row,
        result: RunResult,
        *,
        budget_spent: bool,
        worker: str | None,
        halted: str | None = None,
    ) -> RowOutcome:
        # One pass over the row's jobs (usually one): this runs once per row.
        succeeded = failed = reused = 0
        first: JobResult | None = None
        budget_hit = budget_spent
        for job in result.jobs:
            if job.status == "succeeded":
                succeeded += 1
            elif job.status == "failed":
                failed += 1
                if first is None:
                    first = job
            if job.reused:
                reused += 1
            if job.error_class == "budget":
                budget_hit = True
        return cls(
            row=row.number,
            line=row.line,
            digest=row.digest,
            run_id=result.run_id,
            status=result.status,
            jobs_succeeded=succeeded,
            jobs_failed=failed,
            jobs_reused=reused,
            cost_usd=result.cost_usd,
            failed_step=first.step_id if first else None,
            error_class=first.error_class if first else None,
            error=redact(first.error or "failed") if first else None,
            budget_hit=budget_hit,
            worker=worker,
            halted=halted if halted in ("runlog", "storage") else None,
        )


@dataclass(frozen=True)
class BatchIdentity:
    """What every row's ``batch_row`` event names."""

    batch_id: str
    pipeline: str
    inputs_file: str
    shard: str | None


class RowRunner:
    """Runs rows on ``engine``, at most ``concurrency`` at once however many ``run`` calls
    share it (a Dask worker runs several chunks of one batch at a time)."""

    def __init__(
        self,
        engine: Engine,
        plan: Plan,
        batch: BatchIdentity,
        *,
        concurrency: int,
        on_start: Callable[[Row], None],
        on_outcome: Callable[[Row, RowOutcome], None],
        should_stop: Callable[[], bool],
        worker: str | None = None,
    ) -> None:
        self.engine = engine
        self.plan = plan
        self.batch = batch
        self.concurrency = max(1, concurrency)
        self.on_start = on_start
        self.on_outcome = on_outcome
        self.should_stop = should_stop
        self.worker = worker
        self._slots = asyncio.Semaphore(self.concurrency)

    async def run(self, rows: Iterable[Row]) -> None:
        """Run ``rows``; stop taking new ones once ``should_stop()``. Cancelling this
        cancels the rows in flight, which record themselves as interrupted first."""
        todo = list(rows)
        pending = iter(todo)
        takers = [
            asyncio.create_task(self._take(pending))
            for _ in range(min(self.concurrency, len(todo)))
        ]
        try:
            await asyncio.gather(*takers)
        finally:
            for taker in takers:
                taker.cancel()
            # Let cancelled runs write their "interrupted" records before anyone flushes.
            await asyncio.gather(*takers, return_exceptions=True)

    async def _take(self, rows: Iterable[Row]) -> None:
        for row in rows:  # shared by every taker: each row is taken once
            async with self._slots:
                if self.should_stop():
                    return
                self.on_start(row)
                result = await self._run_row(row)
            sv = self.engine.services
            outcome = RowOutcome.of(
                row,
                result,
                budget_spent=sv.budget.exhausted,
                worker=self.worker,
                halted=sv.options.stopper.kind,
            )
            self.on_outcome(row, outcome)

    async def _run_row(self, row: Row) -> RunResult:
        b = self.batch
        run_id = new_id()
        # Written with the run's start as one record (RunStartEvent): one line, not two.
        event = EventRecord(
            event_id=new_id(),
            run_id=run_id,
            occurred_at=utcnow(),
            kind=BATCH_ROW_EVENT,
            message=f"row {row.number} (line {row.line}) of {b.inputs_file}, batch {b.batch_id}",
            data={
                "batch_id": b.batch_id,
                "row": row.number,
                "line": row.line,
                "row_digest": row.digest,
                "shard": b.shard,
                "inputs_file": b.inputs_file,
                "pipeline": b.pipeline,
            },
        )
        plan = replace(self.plan, inputs=row.inputs)
        return await self.engine.run(plan, run_id=run_id, start_event=event)
