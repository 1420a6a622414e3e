"""Run a plan: steps as a DAG, independent steps concurrently, every job recorded.

A step waits for the steps it references; ``when`` can skip it; ``for_each`` fans it out
into one job per item. A failed step skips the steps that depend on it, and the run
goes on with everything else.
"""

from __future__ import annotations

import asyncio
import platform
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner import __version__
from runner.config.project import Workspace
from runner.engine.accounts import AccountPool
from runner.engine.attempts import Job
from runner.engine.claims import Claims
from runner.engine.collector import paced_for_a_run
from runner.engine.job_flow import JobFlow
from runner.engine.outputs import StepOutput
from runner.engine.parking import ParkingLot
from runner.engine.plan import Plan, StepPlan
from runner.engine.results import JobResult, RunResult
from runner.engine.reuse import StoredArtifact
from runner.engine.scratch import Scratch
from runner.engine.services import (
    Budget,
    EngineOptions,
    LiveStats,
    Progress,
    ProgressCallback,
    Services,
)
from runner.engine.templating import evaluate, render, render_params, template_names
from runner.errors import (
    MediamixError,
    TemplateError,
    redact,
)
from runner.providers.base import InputAsset
from runner.runlog.records import (
    CandidateStats,
    EventRecord,
    JobRecord,
    RunRecord,
    RunStartEvent,
    new_id,
    utcnow,
)
from runner.runlog.sink import RunLogSink
from runner.storage import ArtifactStore
from runner.storage.local_copies import LocalCopies

#: Where runs happen, as the run log records it.
_HOST = platform.node()


class PipelineRun:
    def __init__(
        self,
        plan: Plan,
        services: Services,
        *,
        run_id: str | None = None,
        job_ids: Mapping[str, str] | None = None,
        start_event: EventRecord | None = None,
    ) -> None:
        self.plan = plan
        self.sv = services
        self.run_id = run_id or new_id()
        #: Written together with the run's start, as one record (a batch row's event).
        self.start_event = start_event
        #: Step id -> the id its one job gets (a step without for_each has one job), so a
        #: caller that answers before the job starts (the HTTP API's 202) can name it.
        self.job_ids = dict(job_ids or {})
        self.outputs: dict[str, StepOutput] = {}
        self.step_status: dict[str, str] = {}
        self.done: dict[str, asyncio.Event] = {s.id: asyncio.Event() for s in plan.steps}
        self.results: list[JobResult] = []
        self.concurrency = max(1, services.options.concurrency or services.ws.project.concurrency)
        self.slots = asyncio.Semaphore(self.concurrency)
        self.started_at = utcnow()
        #: The run's UTC date, as output templates' {date} spell it (YYYY-MM-DD; isoformat
        #: is several times cheaper than strftime, and a batch starts a run per row).
        self.started_on = self.started_at.date().isoformat()
        #: As templates' {{ run.started_at }} spell it (a fresh dict per job, one text).
        self._started_text = self.started_at.isoformat()
        self.flow = JobFlow(
            services, self.run_id, plan.pipeline.name, self.started_on, self.results
        )
        #: How far one template render may go (mediamix.yaml's limits:).
        self.limits = services.ws.project.template_limits

    def context(self, item: Any = None, index: int | None = None) -> dict[str, Any]:
        return template_names(
            inputs=self.plan.inputs,
            outputs=self.outputs,
            pipeline=self.plan.pipeline.name,
            run={"id": self.run_id, "started_at": self._started_text},
            item=item,
            index=index,
        )

    async def execute(self) -> RunResult:
        sv = self.sv
        start = RunRecord(
            run_id=self.run_id,
            pipeline=self.plan.pipeline.name,
            started_at=self.started_at,
            inputs=dict(self.plan.inputs),
            workflow=self.plan.workflow,
            host=_HOST,
            shard=sv.options.shard,
            mediamix_version=__version__,
        )
        event = self.start_event
        sv.sink.write(start if event is None else RunStartEvent.joining(event, start))
        status = "failed"
        finished = self.started_at
        try:
            steps = self.plan.steps
            if len(steps) == 1:
                await self.run_step(steps[0])  # a batch row's usual case: no task to make
            else:
                await asyncio.gather(*(self.run_step(sp) for sp in steps))
            status = "failed" if any(r.status == "failed" for r in self.results) else "succeeded"
            if status == "failed" and sv.options.stopper.kind == "interrupted":
                status = "interrupted"
        except (asyncio.CancelledError, KeyboardInterrupt):
            status = "interrupted"
            raise
        finally:
            finished = utcnow()
            costs = [r.cost_usd for r in self.results if r.cost_usd is not None]
            sv.sink.write(
                RunRecord(
                    run_id=self.run_id,
                    pipeline=self.plan.pipeline.name,
                    started_at=self.started_at,
                    finished_at=finished,
                    status=status,  # type: ignore[arg-type]
                    inputs=dict(self.plan.inputs),
                    workflow=self.plan.workflow,
                    host=_HOST,
                    shard=sv.options.shard,
                    mediamix_version=__version__,
                    jobs_total=len(self.results),
                    jobs_succeeded=sum(1 for r in self.results if r.status == "succeeded"),
                    jobs_failed=sum(1 for r in self.results if r.status == "failed"),
                    cost_usd=sum(costs) if costs else None,
                )
            )
            if sv.options.flush_each_run:
                sv.sink.flush()
        result = RunResult(
            run_id=self.run_id,
            pipeline=self.plan.pipeline.name,
            status=status,
            started_at=self.started_at,
            finished_at=finished,
            jobs=self._results_in_plan_order(),
            cost_usd=sum(costs) if costs else None,
        )
        sv.progress(Progress("run_finished", message=status, data={"run_id": self.run_id}))
        return result

    def _results_in_plan_order(self) -> list[JobResult]:
        if len(self.results) < 2:
            return list(self.results)  # a batch row's usual one job: nothing to sort
        order = {sp.id: n for n, sp in enumerate(self.plan.steps)}
        return sorted(self.results, key=lambda r: (order[r.step_id], r.item_index or 0))

    # -- steps ---------------------------------------------------------------------------
    async def run_step(self, sp: StepPlan) -> None:
        try:
            for dep in sp.deps:
                await self.done[dep].wait()
            blocked = [d for d in sorted(sp.deps) if self.step_status.get(d) != "succeeded"]
            if blocked:
                self.skip(sp, f"skipped: depends on {', '.join(blocked)}, which did not succeed")
                self.step_status[sp.id] = "skipped"
                return
            self.step_status[sp.id] = await self._run_step_jobs(sp)
        except TemplateError as exc:
            self.fail_step(sp, exc)
            self.step_status[sp.id] = "failed"
        finally:
            self.done[sp.id].set()

    async def _run_step_jobs(self, sp: StepPlan) -> str:
        # Built only for `when` and `for_each`: each job builds its own (a batch row's one
        # step usually has neither).
        context = self.context() if sp.step.when is not None or sp.step.for_each is not None else {}
        if sp.step.when is not None and not evaluate(
            sp.step.when, context, step=sp.id, what="when", limits=self.limits
        ):
            self.skip(sp, f"skipped: when {sp.step.when!r} is false")
            self.outputs[sp.id] = StepOutput(sp.id)
            return "succeeded"  # a skipped optional step does not block its dependents
        items: list[Any] = [None]
        if sp.step.for_each is not None:
            value = evaluate(
                sp.step.for_each, context, step=sp.id, what="for_each", limits=self.limits
            )
            if isinstance(value, Mapping):
                value = list(value.items())
            if not isinstance(value, list | tuple):
                raise TemplateError(sp.id, f"for_each must give a list, got {type(value).__name__}")
            items = list(value)
        indexed = [
            (item, i if sp.step.for_each is not None else None) for i, item in enumerate(items)
        ]
        self.sv.progress(
            Progress("step_started", sp.id, None, f"{len(indexed)} job(s)", {"jobs": len(indexed)})
        )
        results = await self._run_jobs(sp, indexed)
        self.outputs[sp.id] = StepOutput(sp.id, [a for r in results for a in r.artifacts])
        ok = all(r.status == "succeeded" or r.reused for r in results)
        return "succeeded" if ok else "failed"

    def _inputs_for(self, sp: StepPlan) -> list[InputAsset]:
        assets: list[InputAsset] = []
        for ref in sp.step.inputs_from:
            for art in self.outputs[ref].artifacts:
                assets.append(
                    InputAsset(
                        media_type=art.media_type,  # type: ignore[arg-type]
                        mime=art.mime,
                        path=art.path,
                        url=art.url,
                        text=art.text,
                        step=ref,
                        sha256=art.sha256,
                        uri=art.uri,
                    )
                )
        return assets

    def skip(self, sp: StepPlan, reason: str) -> None:
        self._step_without_job(sp, "skipped", reason, None)

    def fail_step(self, sp: StepPlan, exc: MediamixError) -> None:
        self._step_without_job(sp, "failed", redact(str(exc)), "template")

    def _step_without_job(
        self, sp: StepPlan, status: str, reason: str, error_class: str | None
    ) -> None:
        """Record a step that ended before any job ran (skipped, or a broken template)."""
        job_id = new_id()
        now = utcnow()
        self.sv.sink.write(
            JobRecord(
                job_id=job_id,
                run_id=self.run_id,
                step_id=sp.id,
                media_type=sp.media_type,
                started_at=now,
                finished_at=now,
                status=status,  # type: ignore[arg-type]
                preset=sp.preset.name if sp.preset else None,
                strategy=sp.strategy,
                error_class=error_class,
                error=reason,
            )
        )
        self.results.append(JobResult(job_id, sp.id, status, error=reason, error_class=error_class))
        if status == "skipped":
            self.sv.progress(Progress("skipped", sp.id, job_id, reason))
        else:
            self.sv.progress(Progress("job_finished", sp.id, job_id, reason, {"status": status}))

    async def _run_jobs(
        self, sp: StepPlan, indexed: list[tuple[Any, int | None]]
    ) -> list[JobResult]:
        """Run a step's jobs, ``concurrency`` at a time, results in item order.

        A job is prepared (prompt rendered, key computed) only when a worker takes it, so
        a for_each over 100,000 items holds 100,000 results, not 100,000 waiting tasks
        with their prompts (~3 KB each).
        """
        results: list[JobResult | None] = [None] * len(indexed)
        pending = iter(enumerate(indexed))

        async def worker() -> None:
            for position, (item, index) in pending:  # shared: each job is taken once
                results[position] = await self.run_job(sp, item, index)

        workers = min(self.concurrency, len(indexed))
        if workers == 1:
            await worker()  # one job (or one at a time): no task to make
        else:
            await asyncio.gather(*(worker() for _ in range(workers)))
        return [r for r in results if r is not None]

    # -- jobs ----------------------------------------------------------------------------
    async def run_job(self, sp: StepPlan, item: Any, index: int | None) -> JobResult:
        context = self.context(item, index)
        prompt = render(sp.step.prompt, context, step=sp.id, limits=self.limits)
        params = render_params(sp.step.params, context, step=sp.id, limits=self.limits)
        inputs = self._inputs_for(sp)
        key = sp.job_keys.key(self.plan.pipeline.name, prompt, params, inputs, index)
        rubric = None
        if sp.judge is not None:
            rubric_names = {**context, "prompt": prompt, "media_type": sp.media_type}
            rubric = render(
                sp.judge.rubric, rubric_names, step=sp.id, what="judge rubric", limits=self.limits
            )
        job = Job(
            run_id=self.run_id,
            job_id=(self.job_ids.get(sp.id) if index is None else None) or new_id(),
            plan=sp,
            prompt=prompt,
            params=params,
            inputs=inputs,
            key=key,
            item_index=index,
            rubric=rubric,
            brief=prompt,
        )
        async with self.slots:
            if sp.step.timeout_s:
                job.deadline = time.monotonic() + sp.step.timeout_s
            return await self.flow.execute(job)


@dataclass
class History:
    """What earlier runs taught: per-model stats (adaptive) and per-account health."""

    models: list[CandidateStats] = field(default_factory=list)
    #: Rows of the run log's account_health view.
    accounts: list[dict[str, Any]] = field(default_factory=list)
    #: Why the run log could not be read (the run went on without history), or None.
    unavailable: str | None = None
    #: Idempotency key -> artifacts of its latest success (read only when reusing).
    succeeded: dict[str, list[StoredArtifact]] = field(default_factory=dict)


class Engine:
    """Shared services for one or many pipeline runs (a batch reuses one Engine)."""

    def __init__(
        self,
        ws: Workspace,
        sink: RunLogSink,
        *,
        options: EngineOptions | None = None,
        history: History | None = None,
        progress: ProgressCallback | None = None,
        store: ArtifactStore | None = None,
        state_dir: Path | None = None,
        pool: AccountPool | None = None,
        budget: Budget | None = None,
        claims: Claims | None = None,
    ) -> None:
        """``state_dir`` (scratch, claims, parked answers; default the project's
        .mediamix), ``pool``, ``budget`` and ``claims`` are given by a cluster worker,
        whose limits, budget and claims are the cluster's (runner.cluster.worker)."""
        self.options = options or EngineOptions()
        state = state_dir or ws.project.root / ".mediamix"
        self._scratch = Scratch(state / "tmp")
        cap = self.options.max_cost_usd
        if cap is None:
            cap = ws.project.max_cost_usd
        store = store or ArtifactStore(ws.project.storage, project_root=ws.project.root)
        if claims is None and self.options.claim_jobs:
            claims = Claims(state / "claims", store)
        self._claims = claims
        self.services = Services(
            ws=ws,
            pool=pool or AccountPool(ws.accounts),
            store=store,
            sink=sink,
            scratch=self._scratch.path,
            options=self.options,
            budget=budget or Budget(cap),
            stats=LiveStats(history.models if history else []),
            rng=random.Random(self.options.seed),
            local_copies=LocalCopies(store, self._scratch.path),
            claims=self._claims,
            parking=ParkingLot(state / "parked"),
        )
        for row in history.accounts if history else []:
            self.services.pool.seed_health(
                str(row["account"]),
                successes=int(row["successes"] or 0),
                failures=int(row["failures"] or 0),
                cost_usd=float(row["cost_usd"] or 0.0),
            )
        if progress is not None:
            self.services.progress = progress

    async def run(
        self,
        plan: Plan,
        *,
        run_id: str | None = None,
        job_ids: Mapping[str, str] | None = None,
        start_event: EventRecord | None = None,
    ) -> RunResult:
        """Run ``plan``. ``start_event`` (an event of this run) is written with the run's
        start record as one :class:`~runner.runlog.records.RunStartEvent`."""
        run = PipelineRun(
            plan, self.services, run_id=run_id, job_ids=job_ids, start_event=start_event
        )
        with paced_for_a_run():
            return await run.execute()

    def cancel(self, run_id: str) -> None:
        """Say that ``run_id`` is being cancelled on request (the caller then cancels the
        task running it): its jobs are recorded as cancelled and its vendor tasks are
        cancelled where the vendor allows it."""
        self.services.cancelled_runs.add(run_id)

    async def aclose(self) -> None:
        if self.services.http is not None:
            await self.services.http.aclose()
            self.services.http = None
        self.services.sink.flush()
        if self._claims is not None:
            self._claims.close()
        self._scratch.close()

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
