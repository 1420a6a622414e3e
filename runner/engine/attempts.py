"""One candidate of one job: attempts with retries, each generated, spooled and validated.

After a failed attempt runner.engine.failover decides the next move: another account at
once, the next candidate at once (the strategy's), the same call again, or a backoff
(exponential with jitter, from the preset) only when nothing else can take the call now.
``max_attempts`` per candidate and the step's deadline bound it all; a switch removes the
waits in tests. Rate limits are waited out in the account pool (which honours Retry-After
per account).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner import pricing
from runner.config.model import ModelSpec
from runner.engine.attempt_notes import AttemptNotes, error_class
from runner.engine.failover import Failover, Move
from runner.engine.judging import ArtifactJudge, JudgedJob
from runner.engine.plan import StepPlan, merged_params
from runner.engine.services import Services
from runner.errors import (
    ArtifactInvalid,
    BudgetExceeded,
    CredentialsError,
    DispatchStopped,
    JudgeFailed,
    JudgeRejected,
    MediamixError,
    PermanentError,
    ProviderError,
    RateLimitedError,
    StorageError,
    TransientError,
    UnavailableError,
    redact,
)
from runner.judge import Verdict
from runner.providers.base import (
    CallContext,
    GenerationRequest,
    GenerationResult,
    InputAsset,
    Usage,
)
from runner.providers.registry import get_provider
from runner.runlog.records import AttemptRecord, new_id, utcnow
from runner.storage import extension_for, spool_result
from runner.validation import ArtifactFacts, validate_file, validate_text


@dataclass
class Job:
    """One unit of work: a step (or one for_each item of it) with a rendered prompt."""

    run_id: str
    job_id: str
    plan: StepPlan
    prompt: str
    params: dict[str, Any]
    inputs: list[InputAsset]
    key: str
    item_index: int | None = None
    deadline: float | None = None
    attempts: int = 0
    task_id: str | None = None
    failures: list[str] = field(default_factory=list)
    #: The step judge's rubric, rendered for this job (None: no judge).
    rubric: str | None = None
    #: The prompt a judge scores against (a sequential refinement changes ``prompt``).
    brief: str | None = None
    #: USD paid beyond the kept artifacts: judge calls, artifacts a judge rejected.
    paid: list[float] = field(default_factory=list)
    #: Things a person should know about a job that still succeeded (fewer images, ...).
    warnings: list[str] = field(default_factory=list)
    #: Candidates this job could not use, each with why (see runner.engine.offline).
    skipped: list[dict[str, Any]] = field(default_factory=list)

    @property
    def where(self) -> dict[str, Any]:
        """Progress data naming the for_each item, counted from 1 as file names are."""
        return {"item_number": None if self.item_index is None else self.item_index + 1}


@dataclass
class Produced:
    """A validated artifact, not yet stored: text in memory, anything else in a scratch
    file (``path``)."""

    spec: ModelSpec
    account: str | None
    path: Path | None
    facts: ArtifactFacts
    text: str | None
    usage: Usage
    cost_usd: float | None
    latency_ms: float
    attempt_id: str
    #: The artifact's file extension, without the dot.
    extension: str
    #: Further outputs of the same call (n > 1), stored beside this one.
    more: list[Produced] = field(default_factory=list)
    #: The judge's verdict (None: no judge, or it could not score and the artifact was kept).
    verdict: Verdict | None = None

    @property
    def score(self) -> float | None:
        return self.verdict.score if self.verdict is not None else None

    def discard(self) -> None:
        """Drop the scratch files of an artifact (and its siblings) that will not be stored."""
        for produced in (self, *self.more):
            if produced.path is not None:
                produced.path.unlink(missing_ok=True)


#: One validated output: scratch file (None for text), facts, text, file extension.
Judged = tuple[Path | None, ArtifactFacts, str | None, str]


class CandidateRunner:
    """Runs attempts of one candidate for one job until one is valid or the policy gives up."""

    def __init__(
        self,
        services: Services,
        job: Job,
        spec: ModelSpec,
        index: int,
        *,
        alternative: Callable[[], bool] | None = None,
    ) -> None:
        self.sv = services
        self.job = job
        self.spec = spec
        self.index = index
        self.provider = get_provider(spec.provider)
        #: The long-running task this candidate's vendor accepted: a retry polls it again.
        self.task_id: str | None = None
        judge = job.plan.judge
        self.failover = Failover(
            pool=services.pool,
            spec=spec,
            retry=job.plan.retry,
            needs_key=self.provider.needs_key,
            tokens=len(job.prompt) // 4,
            deadline=job.deadline,
            retry_on_reject=judge is not None and judge.retry_on_reject,
            alternative=alternative,
        )
        #: The candidate stopped early because a later one could take the call at once.
        self.handed_off = False
        #: The account of the latest attempt (None before the first lease).
        self.account: str | None = None
        self.notes = AttemptNotes(services, job, spec)

    async def run(self) -> Produced:
        """Attempts until one is valid; raises the last failure when this candidate gives
        up, or hands off (``handed_off``) to a later candidate that can take the call now."""
        self.handed_off = False
        try:
            while True:
                try:
                    return await self._attempt()
                except Exception as exc:
                    move = self.failover.next_move(exc, self.account)
                    if move in ("give_up", "handoff"):
                        self.handed_off = move == "handoff"
                        raise
                    await self._before_retry(move, exc)
        except asyncio.CancelledError:
            raise  # interrupted: the task id stays, for a resumed run to poll
        except BaseException:
            if self.handed_off:
                raise  # this candidate may come back to its task
            # This candidate gave up on its task; nobody should poll it again.
            saved = self.sv.resume_tasks.get(self.job.key)
            if saved is not None and saved.belongs_to(self.spec.provider, self.spec.model):
                del self.sv.resume_tasks[self.job.key]
            raise

    def resume(self) -> None:
        """Come back after the candidates this one handed to failed (see Failover.resume)."""
        self.failover.resume()

    async def _before_retry(self, move: Move, exc: Exception) -> None:
        seconds = self.failover.backoff_s() if move == "backoff" else 0.0
        self.notes.retrying(move, exc, self.account, seconds)
        if seconds > 0 and not self.sv.options.no_wait:
            await asyncio.sleep(seconds)
        if move == "backoff":
            self.failover.after_backoff()

    def _remaining(self, timeout: float) -> float:
        if self.job.deadline is None:
            return timeout
        return max(0.1, min(timeout, self.job.deadline - time.monotonic()))

    async def _attempt(self) -> Produced:
        job, sv, spec = self.job, self.sv, self.spec
        plan = job.plan
        params = merged_params(
            plan.preset.params if plan.preset else None,
            spec.params,
            job.params,
            provider=spec.provider,
        )
        sv.may_dispatch()
        lease = await sv.pool.acquire(
            spec.provider,
            spec.model,
            # A paid task in flight is polled with the key that started it.
            account=spec.account or self.failover.task_account,
            needs_key=self.provider.needs_key,
            tokens=self.failover.tokens,
            deadline=job.deadline,
            avoid=self.failover.failed_accounts,
        )
        try:
            # Waiting for capacity can take long: ask again whether the call may go out.
            sv.may_dispatch()
            estimate = pricing.estimate_cost_usd(
                spec.provider,
                spec.model,
                plan.media_type,
                job.prompt,
                params,
                lease.account.prices or None,
            )
            # A cluster's shared budget may fetch headroom first; a local one has it all.
            await sv.budget.ready(estimate)
            # Before the attempt counts: a call the budget refuses was never made.
            reserved = sv.budget.reserve(estimate)
        except BaseException:
            lease.release("unused")
            raise
        job.attempts += 1
        self.failover.made += 1
        self.account = lease.name
        attempt_id = new_id()
        started = utcnow()
        t0 = time.perf_counter()
        record = AttemptRecord(
            attempt_id=attempt_id,
            job_id=job.job_id,
            run_id=job.run_id,
            number=job.attempts,
            provider=spec.provider,
            model=spec.model,
            account=lease.name,
            candidate_index=self.index,
            started_at=started,
            status="failed",
        )
        path: Path | None = None
        more: list[Judged] = []
        try:
            timeout = self._remaining(plan.attempt_timeout(spec))
            ctx = CallContext(
                http=await sv.http_client() if self.provider.uses_http else None,
                api_key=lease.api_key,
                base_url=lease.account.base_url or self.provider.default_base_url,
                account=lease.name,
                options=lease.account.options,
                on_task_created=lambda task_id: self._task_created(task_id, attempt_id),
                poll_interval=sv.options.poll_interval_s,
                cancel_requested=lambda: job.run_id in sv.cancelled_runs,
            )
            saved = sv.resume_tasks.get(job.key)
            if saved is not None and not saved.belongs_to(spec.provider, spec.model):
                saved = None  # another vendor's task: this candidate starts its own
            resume_id = self.task_id or (saved.task_id if saved else None)
            if resume_id is not None:
                self._task_resumed(resume_id, attempt_id)
            request = GenerationRequest(
                media_type=plan.media_type,  # type: ignore[arg-type]
                model=spec.model,
                prompt=job.prompt,
                params=params,
                inputs=job.inputs,
                timeout=timeout,
                resume_task_id=resume_id,
            )
            try:
                # The provider enforces its own timeouts; this is the backstop for a stuck one.
                async with asyncio.timeout(timeout + 30.0):
                    result = await self.provider.generate(request, ctx)
            except TimeoutError as exc:
                raise TransientError(f"{spec.label} did not answer within {timeout:.0f}s") from exc
            except (MediamixError, asyncio.CancelledError):
                raise
            except Exception as exc:  # a provider bug must not take the whole run down
                raise PermanentError(
                    f"{spec.label} failed unexpectedly: {type(exc).__name__}: {exc}"
                ) from exc
            if result.usage.dropped:
                self.notes.usage_dropped(result.usage, attempt_id)
            # Only long-running jobs have a task to resume; a chat completion's id is not one.
            record.task_id = job.task_id
            record.http_status = result.http_status
            path, facts, text, extension = await self._judged(result)
            more = await self._judged_more(result, attempt_id)
            self.notes.fewer_outputs(params, result, attempt_id)
            cost = pricing.cost_usd(
                spec.provider, spec.model, result.usage, params, lease.account.prices or None
            )
        except BaseException as exc:
            latency_ms = (time.perf_counter() - t0) * 1000
            sv.budget.settle(reserved, 0.0)
            for scratch in (path, *(extra[0] for extra in more)):
                if scratch is not None:
                    scratch.unlink(missing_ok=True)
            self.notes.failure(record, exc, latency_ms)
            outcome = (
                "rate_limited"
                if isinstance(exc, RateLimitedError)
                else "credentials"
                if isinstance(exc, CredentialsError)
                else "failure"
            )
            lease.release(
                outcome,  # type: ignore[arg-type]
                retry_after=getattr(exc, "retry_after", None),
                error=redact(str(exc)),
            )
            if isinstance(exc, UnavailableError | BudgetExceeded | StorageError | DispatchStopped):
                raise
            if isinstance(exc, ProviderError | ArtifactInvalid):
                job.failures.append(f"{spec.label}: {error_class(exc)}: {redact(str(exc))}")
            raise
        latency_ms = (time.perf_counter() - t0) * 1000
        sv.budget.settle(reserved, cost)
        lease.release("success", cost_usd=cost, tokens=_tokens(result.usage))
        record.finished_at = utcnow()
        record.latency_ms = latency_ms
        record.bytes = facts.size
        record.input_tokens = result.usage.input_tokens
        record.output_tokens = result.usage.output_tokens
        record.units = _units(result.usage)
        record.cost_usd = cost
        files = [path, *(extra[0] for extra in more)]
        verdict = await self._judge(record, files, facts, text, latency_ms)
        sv.stats.record(spec.provider, spec.model, True, latency_ms, cost)
        record.status = "succeeded"
        sv.sink.write(record)
        return Produced(
            verdict=verdict,
            spec=spec,
            account=lease.name,
            path=path,
            facts=facts,
            text=text,
            usage=result.usage,
            cost_usd=cost,
            latency_ms=latency_ms,
            attempt_id=attempt_id,
            extension=extension,
            more=[
                Produced(
                    spec=spec,
                    account=lease.name,
                    path=extra_path,
                    facts=extra_facts,
                    text=extra_text,
                    usage=Usage(),
                    cost_usd=None,  # the call's cost is on the first output
                    latency_ms=latency_ms,
                    attempt_id=attempt_id,
                    extension=extra_extension,
                )
                for extra_path, extra_facts, extra_text, extra_extension in more
            ],
        )

    async def _judge(
        self,
        record: AttemptRecord,
        scratch: list[Path | None],
        facts: ArtifactFacts,
        text: str | None,
        latency_ms: float,
    ) -> Verdict | None:
        """The step's judge scores the (paid, valid) artifact: its verdict, or None when
        there is no judge or it stays unjudged. A rejection fails the attempt, which
        keeps its cost (the call was paid), and the artifact is dropped."""
        job, spec = self.job, self.spec
        judge = job.plan.judge
        if judge is None:
            return None
        judged = JudgedJob(
            run_id=job.run_id,
            job_id=job.job_id,
            step_id=job.plan.id,
            media_type=job.plan.media_type,
            prompt=job.brief or job.prompt,
            rubric=job.rubric or judge.rubric,
            deadline=job.deadline,
            retry=job.plan.retry,
            paid=job.paid,
        )
        try:
            verdict = await ArtifactJudge(self.sv, judge, judged).score(
                spec, record.attempt_id, path=scratch[0], facts=facts, text=text
            )
        except BaseException as exc:
            for path in scratch:
                if path is not None:
                    path.unlink(missing_ok=True)
            if record.cost_usd is not None:
                job.paid.append(record.cost_usd)
            if isinstance(exc, JudgeRejected):
                self.sv.stats.record_score(spec.provider, spec.model, exc.score)
            self.notes.failure(record, exc, latency_ms)
            if isinstance(exc, JudgeRejected | JudgeFailed):
                job.failures.append(f"{spec.label}: {error_class(exc)}: {redact(str(exc))}")
            raise
        if verdict is not None:
            self.sv.stats.record_score(spec.provider, spec.model, verdict.score)
        return verdict

    async def _judged(self, result: GenerationResult) -> Judged:
        """Validate one output: text in memory (written once, when stored), anything else
        spooled to scratch first. A failure leaves no scratch file behind."""
        plan = self.job.plan
        mime = result.mime or _default_mime(plan.media_type)
        suffix = "." + extension_for(mime)
        text = result.text if plan.media_type == "text" else None
        if text is not None:
            return (
                None,
                validate_text(text, plan.validate, markdown=suffix == ".md"),
                text,
                suffix[1:],
            )
        path = await spool_result(result, self.sv.scratch, suffix=suffix)
        try:
            facts = await asyncio.to_thread(validate_file, path, plan.media_type, plan.validate)
            if plan.media_type == "text":
                text = path.read_text(encoding="utf-8")
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path, facts, text, suffix[1:]

    async def _judged_more(self, result: GenerationResult, attempt_id: str) -> list[Judged]:
        """The call's further outputs (n > 1). One that fails validation is dropped with
        an event: the rest were paid for and are fine, so the attempt still counts."""
        judged: list[Judged] = []
        try:
            for number, extra in enumerate(result.more, 2):
                try:
                    judged.append(await self._judged(extra))
                except ArtifactInvalid as exc:
                    self.sv.event(
                        self.job.run_id,
                        "validation_failed",
                        redact(f"{self.spec.label} output {number} dropped: {exc}"),
                        job_id=self.job.job_id,
                        attempt_id=attempt_id,
                    )
        except BaseException:
            for path, *_ in judged:
                if path is not None:
                    path.unlink(missing_ok=True)
            raise
        return judged

    def _task_created(self, task_id: str, attempt_id: str) -> None:
        self.job.task_id = task_id
        # A retry after a poll timeout or a dropped poll polls this task, not a new one,
        # on the account that started it.
        self.task_id = task_id
        self.failover.task_account = self.account
        self.notes.task_event(
            "task_created",
            f"{self.spec.label} accepted long-running task {task_id}",
            task_id,
            attempt_id,
        )
        # A crash from here on can resume polling this task instead of paying twice.
        self.sv.sink.flush()

    def _task_resumed(self, task_id: str, attempt_id: str) -> None:
        # The job's row carries the task it polls, so a second crash can resume it too.
        self.job.task_id = task_id
        self.failover.task_account = self.account
        self.notes.task_event(
            "task_resumed",
            f"{self.spec.label} resumes polling task {task_id} instead of starting another",
            task_id,
            attempt_id,
        )


def _default_mime(media_type: str) -> str:
    return {
        "text": "text/plain",
        "image": "image/png",
        "audio": "audio/wav",
        "video": "video/mp4",
        "document": "application/pdf",
    }.get(media_type, "application/octet-stream")


def _tokens(usage: Usage) -> int | None:
    if usage.input_tokens is None and usage.output_tokens is None:
        return None
    return (usage.input_tokens or 0) + (usage.output_tokens or 0)


def _units(usage: Usage) -> float | None:
    for value in (usage.images, usage.characters, usage.seconds):
        if value is not None:
            return float(value)
    return None
