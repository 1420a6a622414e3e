"""One job from claim to record: reuse, claim, dispatch (or unpark), store, record.

A job counts as done only once its records are in the run log's journal; the order of
the writes is chosen so that no stored answer is ever bought again (see
``storing.OutputStoring.store_all``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import datetime
from typing import Any

from runner.engine.attempts import Job, Produced, error_class
from runner.engine.outputs import ArtifactOutput
from runner.engine.results import JobResult
from runner.engine.reuse import vendor_instead_of_offline
from runner.engine.services import Progress, Services
from runner.engine.storing import OutputStoring
from runner.engine.strategies import StrategyRunner
from runner.errors import (
    BudgetExceeded,
    DispatchStopped,
    JobFailed,
    MediamixError,
    StorageError,
    redact,
)
from runner.providers.base import InputAsset
from runner.runlog.records import JobRecord, utcnow


class JobFlow:
    """Runs the jobs of one pipeline run; results go to the run's ``results`` list."""

    def __init__(
        self,
        services: Services,
        run_id: str,
        pipeline: str,
        started_on: str,
        results: list[JobResult],
    ) -> None:
        self.sv = services
        self.run_id = run_id
        self.pipeline = pipeline
        self.started_on = started_on
        self.results = results
        #: Set once the budget ran out: no later job of this run is dispatched.
        self.stop_dispatch = False
        self.storing = OutputStoring(services, run_id, pipeline, started_on)

    async def _local_inputs(self, inputs: list[InputAsset]) -> list[InputAsset]:
        """Inputs with a local file each: an artifact an earlier run left in a remote
        store (reused, not made in this run) is downloaded to scratch once per engine, so
        local generators and uploads can read it like one made a moment ago."""
        if not any(a.path is None and a.uri and a.media_type != "text" for a in inputs):
            return inputs
        local: list[InputAsset] = []
        for asset in inputs:
            if asset.path is None and asset.uri and asset.media_type != "text":
                path = await self.sv.local_copies.path_for(asset.uri)
                asset = replace(asset, path=str(path))
            local.append(asset)
        return local

    def _job_record(self, job: Job, status: str, started: datetime, **extra: Any) -> JobRecord:
        sp = job.plan
        return JobRecord(
            job_id=job.job_id,
            run_id=self.run_id,
            step_id=sp.id,
            media_type=sp.media_type,
            started_at=started,
            status=status,  # type: ignore[arg-type]
            preset=sp.preset.name if sp.preset else None,
            strategy=sp.strategy,
            item_index=job.item_index,
            idempotency_key=job.key,
            attempts=job.attempts,
            task_id=job.task_id,
            **extra,
        )

    async def execute(self, job: Job) -> JobResult:
        """Run one job; a hard stop (the grace period after SIGTERM ran out) cancels it,
        and it is then recorded as interrupted instead of vanishing."""
        stopper = self.sv.options.stopper
        task = asyncio.current_task()
        assert task is not None
        stopper.running.add(task)
        started = utcnow()
        t0 = time.perf_counter()
        try:
            return await self._run_job_body(job, started, t0)
        except asyncio.CancelledError:
            if not stopper.hard_stopped or task.cancelling() == 0:
                raise
            task.uncancel()  # our own hard stop: record the job, let the run end normally
            reason = f"interrupted: {stopper.reason} (the call in flight was cancelled)"
            return self._job_failed(job, started, t0, DispatchStopped("interrupted", reason))
        finally:
            stopper.running.discard(task)

    async def _run_job_body(self, job: Job, started: datetime, t0: float) -> JobResult:
        sv = self.sv
        sv.sink.write(self._job_record(job, "running", started))
        sv.progress(
            Progress("job_started", job.plan.id, job.job_id, job.plan.media_type, job.where)
        )
        if sv.reuse is not None:
            reused = await sv.reuse(job.key)
            if reused is not None and not self._vendor_now_available(job, reused):
                return self._job_reused(job, started, reused)
        if sv.claims is None:
            return await self._dispatch(job, started, t0)
        claim = await sv.claims.acquire(job.key)
        if claim.outcome is not None:
            reason = "made a moment ago by another job or run with the same key; reused"
            return self._job_reused(job, started, claim.outcome, reason)
        result: JobResult | None = None
        try:
            result = await self._dispatch(job, started, t0)
        finally:
            succeeded = result is not None and result.status == "succeeded"
            sv.claims.release(claim, result.artifacts if succeeded and result else None)
        return result

    async def _dispatch(self, job: Job, started: datetime, t0: float) -> JobResult:
        """Pay for the job (or store what an earlier run paid for and parked)."""
        sv = self.sv
        parked = sv.parking.take(job.key) if sv.parking is not None else None
        if parked is None:
            if self.stop_dispatch:
                return self._job_failed(job, started, t0, sv.budget.exhausted_error())
            try:
                sv.may_dispatch()
            except DispatchStopped as exc:
                return self._job_failed(job, started, t0, exc)
        try:
            if parked is None:
                job.inputs = await self._local_inputs(job.inputs)
                produced = await StrategyRunner(sv, job).run()
            else:
                produced = parked
            # An ensemble keeping all, or one call with n > 1: every output is stored.
            outputs = [output for p in produced for output in (p, *p.more)]
        except (JobFailed, BudgetExceeded, MediamixError) as exc:
            if isinstance(exc, BudgetExceeded):
                self.stop_dispatch = True
            return self._job_failed(job, started, t0, exc)
        except asyncio.CancelledError:
            if sv.options.stopper.hard_stopped:
                raise  # a hard stop: execute() records the job as interrupted
            # Cancelled from outside (the HTTP API's cancel, a server shutdown): never
            # leave the job "running" in the ledger.
            reason = (
                "cancelled by request"
                if self.run_id in sv.cancelled_runs
                else "interrupted before it finished"
            )
            self._job_failed(job, started, t0, JobFailed(job.plan.id, reason), klass="cancelled")
            raise
        # What the job paid: its kept artifacts, plus judge calls, rejected artifacts and
        # ensemble members it did not keep.
        costs = [p.cost_usd for p in produced if p.cost_usd is not None] + job.paid
        cost = sum(costs) if costs else None
        winner = produced[0]
        succeeded = self._job_record(
            job,
            "succeeded",
            started,
            finished_at=utcnow(),
            cost_usd=cost,
            latency_ms=(time.perf_counter() - t0) * 1000,
            provider=winner.spec.provider,
            model=winner.spec.model,
            account=winner.account,
        )
        try:
            artifacts = await self.storing.store_all(job, outputs, succeeded)
        except StorageError as exc:
            return self._job_failed(job, started, t0, self._park(job, outputs, exc, parked))
        if parked is not None and sv.parking is not None:
            sv.parking.clear(job.key)
            sv.event(
                job.run_id,
                "artifact_unparked",
                f"stored {len(outputs)} parked answer(s) an earlier run paid for; no new call",
                job_id=job.job_id,
            )
        result = JobResult(
            job.job_id,
            job.plan.id,
            "succeeded",
            item_index=job.item_index,
            artifacts=artifacts,
            attempts=job.attempts,
            cost_usd=cost,
            key=job.key,
            provider=winner.spec.provider,
            model=winner.spec.model,
            skipped=job.skipped,
            warnings=job.warnings,
        )
        self.results.append(result)
        sv.progress(
            Progress(
                "job_finished",
                job.plan.id,
                job.job_id,
                artifacts[0].url if artifacts else "",
                {
                    "status": "succeeded",
                    "cost_usd": cost,
                    "served_by": result.served_by,
                    "offline": result.offline,
                    "item_number": result.item_number,
                },
            )
        )
        return result

    def _park(
        self,
        job: Job,
        outputs: list[Produced],
        exc: StorageError,
        parked: list[Produced] | None,
    ) -> StorageError:
        """The outputs cannot be written: keep what was paid for, stop buying more."""
        sv = self.sv
        sv.options.stopper.soft("storage", f"the outputs cannot be written ({exc})")
        if sv.parking is None:
            return exc
        if parked is not None:  # still parked where they were
            where, kept = sv.parking.directory / job.key, len(outputs)
        else:
            where, kept = sv.parking.park(job.key, outputs)
        lost = len(outputs) - kept
        message = (
            f"{exc}; the {kept} paid answer(s) are kept in {where} and a later run with "
            "the same job (--resume, or running it again) stores them without a new call"
        )
        if lost:
            message += f"; {lost} could not be kept"
        sv.event(job.run_id, "artifact_parked", message, job_id=job.job_id, path=str(where))
        return StorageError(message)

    def _vendor_now_available(self, job: Job, earlier: list[ArtifactOutput]) -> bool:
        vendor = vendor_instead_of_offline(self.sv.pool, job.plan.candidates, earlier)
        if vendor is not None:
            self.sv.event(
                self.run_id,
                "reuse_declined",
                f"an earlier offline result exists, but {vendor.label} can run now: "
                "making the job again",
                job_id=job.job_id,
                candidate=vendor.label,
            )
        return vendor is not None

    def _job_reused(
        self,
        job: Job,
        started: datetime,
        artifacts: list[ArtifactOutput],
        reason: str = "already succeeded earlier with the same key; artifacts still exist",
    ) -> JobResult:
        self.sv.sink.write(
            self._job_record(job, "skipped", started, finished_at=utcnow(), error=reason)
        )
        result = JobResult(
            job.job_id,
            job.plan.id,
            "skipped",
            item_index=job.item_index,
            artifacts=artifacts,
            error=reason,
            key=job.key,
            reused=True,
        )
        self.results.append(result)
        self.sv.progress(
            Progress(
                "skipped",
                job.plan.id,
                job.job_id,
                reason,
                {"status": "reused", "item_number": result.item_number},
            )
        )
        return result

    def _job_failed(
        self, job: Job, started: datetime, t0: float, exc: Exception, *, klass: str | None = None
    ) -> JobResult:
        message = redact(str(exc))
        if klass is None:
            klass = "budget" if isinstance(exc, BudgetExceeded) else error_class(exc)
        # A failed job can still have paid: for judge calls and artifacts a judge rejected.
        paid = sum(job.paid) if job.paid else None
        self.sv.sink.write(
            self._job_record(
                job,
                "failed",
                started,
                finished_at=utcnow(),
                latency_ms=(time.perf_counter() - t0) * 1000,
                error_class=klass,
                error=message,
                cost_usd=paid,
            )
        )
        result = JobResult(
            job.job_id,
            job.plan.id,
            "failed",
            item_index=job.item_index,
            error=message,
            error_class=klass,
            attempts=job.attempts,
            cost_usd=paid,
            key=job.key,
            skipped=job.skipped,
            warnings=job.warnings,
        )
        self.results.append(result)
        self.sv.progress(
            Progress(
                "job_finished",
                job.plan.id,
                job.job_id,
                message,
                {"status": "failed", "item_number": result.item_number},
            )
        )
        return result
