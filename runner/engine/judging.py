"""The engine's judge: score one attempt's artifact, with real calls, and record it.

:class:`ArtifactJudge` is the one hook :mod:`runner.engine.attempts` calls, after an
artifact passed validation and its generation call was settled. It asks the judge (and,
for audio, a speech-to-text model first) through the same account pool (keys, rpm/tpm,
cooldowns), budget, retry policy (the step's), stop gate and run log as a generation
call, and writes one ``judgements`` row per judged artifact with what it cost.

Outcomes:
- a score at or above ``min_score``: returned (ensembles and adaptive ranking use it);
- below it: :class:`JudgeRejected` (score and reason), a failure like any other;
- the judge could not answer (down after retries, not a score, frames impossible, the
  budget refused it): a ``judge_failed`` event and a judgement without a score, then
  :class:`JudgeFailed` when ``on_judge_error`` is reject, else the artifact is kept
  unjudged;
- no judge reachable at all (its key not set, no account): the run goes on unjudged and
  says so once (offline stays offline); nothing is written per job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from runner import pricing
from runner.config.model import Judge, ModelSpec, RetrySpec
from runner.engine.services import Progress, Services
from runner.errors import (
    BudgetExceeded,
    CredentialsError,
    DispatchStopped,
    JudgeFailed,
    JudgeRejected,
    MediamixError,
    PermanentError,
    ProviderError,
    RateLimitedError,
    TransientError,
    UnavailableError,
    redact,
)
from runner.judge import (
    Exhibit,
    ExhibitError,
    Verdict,
    VerdictError,
    estimated_usage,
    exhibit_for,
    judge_request,
    parse_verdict,
    transcript_exhibit,
    transcription_request,
)
from runner.providers.base import CallContext, GenerationRequest, GenerationResult, Usage
from runner.providers.registry import get_provider
from runner.runlog.records import JudgementRecord, new_id, utcnow
from runner.validation import ArtifactFacts

T = TypeVar("T")

#: Failures worth asking the judge again for (within the step's max_attempts).
_RETRYABLE = (TransientError, RateLimitedError, CredentialsError, VerdictError)


def _kind(exc: BaseException | None) -> str:
    return str(getattr(exc, "kind", None) or type(exc).__name__)


@dataclass(frozen=True)
class JudgedJob:
    """What a judgement needs to know of the job whose artifact it scores."""

    run_id: str
    job_id: str
    step_id: str
    media_type: str
    prompt: str
    #: The judge's rubric, rendered for this job.
    rubric: str
    deadline: float | None
    retry: RetrySpec
    #: The job's list of extra spend: every judge call's cost is appended to it.
    paid: list[float]


class ArtifactJudge:
    """Judges one artifact (one instance per artifact: an ensemble judges several at once)."""

    def __init__(self, services: Services, judge: Judge, job: JudgedJob) -> None:
        self.sv = services
        self.judge = judge
        self.job = job
        self.run_id = job.run_id
        self.job_id = job.job_id
        self.step_id = job.step_id
        self.media_type = job.media_type
        self.deadline = job.deadline
        #: Costs of this judgement's calls (None: a call whose price is unknown).
        self._spent: list[float | None] = []
        self._account: str | None = None
        self._transcribed_by: str | None = None

    # -- the hook -------------------------------------------------------------------------

    async def score(
        self,
        generator: ModelSpec,
        attempt_id: str,
        *,
        path: Path | None,
        facts: ArtifactFacts,
        text: str | None,
    ) -> Verdict | None:
        """The artifact's verdict when it passed; None when it stays unjudged. Raises
        JudgeRejected below ``min_score``, JudgeFailed per ``on_judge_error``."""
        if self._unreachable() is not None:
            return None
        t0 = time.perf_counter()
        try:
            exhibit = await self._exhibit(path, facts, text)
            try:
                verdict = await self._ask(exhibit)
            finally:
                exhibit.discard()
        except DispatchStopped as exc:
            # Stopping: the artifact is paid for; keep it rather than buy a verdict.
            self._event("judge_skipped", f"{generator.label} kept unjudged: {exc}", attempt_id)
            return None
        except UnavailableError as exc:
            if self._unreachable() is None:
                self._failed(generator, attempt_id, facts, t0, exc)
            return None  # unreachable: said once already, for the whole run
        except (ProviderError, VerdictError, ExhibitError, BudgetExceeded) as exc:
            self._failed(generator, attempt_id, facts, t0, exc)
            return None
        return self._decide(generator, attempt_id, facts, t0, verdict)

    # -- reachability (offline stays offline) -------------------------------------------

    def _unreachable(self) -> str | None:
        """Why no judge call can be made at all in this run (no key, no account), said
        once per run; None when the judge (and its transcriber) can be reached."""
        judge = self.judge
        wanted = [(judge.provider, judge.model, judge.account)]
        transcriber = judge.transcriber() if self.media_type == "audio" else None
        if transcriber is not None:
            wanted.append(transcriber)
        for provider_name, model, account in wanted:
            key = f"judge:{provider_name}/{model}/{account or ''}"
            why = self.sv.unreachable.get(key)
            if why is None and key not in self.sv.unreachable:
                provider = get_provider(provider_name)
                error = self.sv.pool.availability(
                    provider_name, model, account=account, needs_key=provider.needs_key
                )
                why = str(error) if error is not None else None
                self.sv.unreachable[key] = why
                if why is not None:
                    message = (
                        f"judge {provider_name}/{model} cannot be reached ({why}): "
                        f"{self.media_type} artifacts of step {self.step_id} go unjudged"
                    )
                    self.sv.event(
                        self.run_id, "judge_unavailable", redact(message), job_id=self.job_id
                    )
                    self.sv.progress(Progress("notice", self.step_id, self.job_id, message))
            if why is not None:
                return why
        return None

    # -- what the judge sees ----------------------------------------------------------------

    async def _exhibit(self, path: Path | None, facts: ArtifactFacts, text: str | None) -> Exhibit:
        if self.media_type != "audio":
            return await exhibit_for(
                self.media_type,
                path=path,
                text=text,
                mime=facts.mime,
                duration_s=facts.duration_s,
                frames=self.judge.frames,
                scratch=self.sv.scratch,
            )
        transcriber = self.judge.transcriber()
        if transcriber is None or path is None:
            raise ExhibitError("judging audio needs a transcribe model and an audio file")
        provider_name, model, account = transcriber
        request = transcription_request(model, path, facts.mime, timeout=self.judge.timeout_s)
        transcript = await self._call(
            provider_name,
            model,
            account,
            request,
            transcribe=True,
            read=lambda result: result.text or "",
            estimate=Usage(seconds=facts.duration_s or 60.0),
            seconds=facts.duration_s,
        )
        self._transcribed_by = f"{provider_name}/{model}"
        return transcript_exhibit(transcript, facts.duration_s)

    async def _ask(self, exhibit: Exhibit) -> Verdict:
        request = judge_request(self.judge, self.job.rubric, exhibit, self.job.prompt)
        return await self._call(
            self.judge.provider,
            self.judge.model,
            self.judge.account,
            request,
            transcribe=False,
            read=lambda result: parse_verdict(result.text or ""),
            estimate=estimated_usage(request),
            seconds=None,
        )

    # -- calls, the way generation calls are made ------------------------------------------

    async def _call(
        self,
        provider_name: str,
        model: str,
        account: str | None,
        request: GenerationRequest,
        *,
        transcribe: bool,
        read: Callable[[GenerationResult], T],
        estimate: Usage,
        seconds: float | None,
    ) -> T:
        def once() -> Awaitable[GenerationResult]:
            return self._once(provider_name, model, account, request, transcribe, estimate, seconds)

        try:
            # Most judge calls answer at once: only a failure pays for a retry loop.
            return read(await once())
        except _RETRYABLE as exc:
            first: Exception = exc
        r = self.job.retry
        retrying = AsyncRetrying(
            stop=self._stop,
            wait=wait_exponential_jitter(
                initial=r.initial_backoff_s,
                max=r.max_backoff_s,
                exp_base=r.multiplier,
                jitter=r.jitter_s,
            ),
            retry=retry_if_exception(lambda e: isinstance(e, _RETRYABLE)),
            sleep=_no_sleep if self.sv.options.no_wait else asyncio.sleep,
            before_sleep=lambda state: self._retrying(state, f"{provider_name}/{model}"),
            reraise=True,
        )
        replay: Exception | None = first  # tenacity's attempt 1, judged like the rest
        async for attempt in retrying:
            with attempt:
                if replay is not None:
                    failure, replay = replay, None
                    raise failure
                # Read inside the retry: an answer that is not a score is asked again.
                return read(await once())
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    def _stop(self, state: RetryCallState) -> bool:
        if stop_after_attempt(self.job.retry.max_attempts)(state):
            return True
        return self.deadline is not None and time.monotonic() >= self.deadline

    async def _once(
        self,
        provider_name: str,
        model: str,
        account: str | None,
        request: GenerationRequest,
        transcribe: bool,
        estimate: Usage,
        seconds: float | None,
    ) -> GenerationResult:
        sv = self.sv
        provider = get_provider(provider_name)
        label = f"{provider_name}/{model}"
        sv.may_dispatch()
        lease = await sv.pool.acquire(
            provider_name,
            model,
            account=account,
            needs_key=provider.needs_key,
            tokens=(estimate.input_tokens or 0) + (estimate.output_tokens or 0),
            deadline=self.deadline,
        )
        prices = lease.account.prices or None
        try:
            sv.may_dispatch()
            reserved = sv.budget.reserve(
                pricing.cost_usd(provider_name, model, estimate, {}, prices)
            )
        except (BudgetExceeded, DispatchStopped):
            lease.release("unused")
            raise
        try:
            ctx = CallContext(
                http=await sv.http_client() if provider.uses_http else None,
                api_key=lease.api_key,
                base_url=lease.account.base_url or provider.default_base_url,
                account=lease.name,
                options=lease.account.options,
                poll_interval=sv.options.poll_interval_s,
            )
            call = provider.transcribe if transcribe else provider.generate  # type: ignore[attr-defined]
            try:
                async with asyncio.timeout(request.timeout + 30.0):
                    result: GenerationResult = await call(request, ctx)
            except TimeoutError as exc:
                raise TransientError(
                    f"{label} did not answer within {request.timeout:.0f}s"
                ) from exc
            except (MediamixError, asyncio.CancelledError):
                raise
            except Exception as exc:  # an adapter bug must not take the run down
                raise PermanentError(
                    f"{label} failed unexpectedly: {type(exc).__name__}: {exc}"
                ) from exc
        except BaseException as exc:
            sv.budget.settle(reserved, 0.0)
            lease.release(
                "rate_limited"
                if isinstance(exc, RateLimitedError)
                else "credentials"
                if isinstance(exc, CredentialsError)
                else "failure",
                retry_after=getattr(exc, "retry_after", None),
                error=redact(str(exc)),
            )
            raise
        usage = result.usage
        if transcribe and not usage.as_dict() and seconds:
            usage = Usage(seconds=seconds)  # a server that reports no usage: bill the clip
        cost = pricing.cost_usd(provider_name, model, usage, request.params, prices)
        sv.budget.settle(reserved, cost)
        tokens = (usage.input_tokens or 0) + (usage.output_tokens or 0)
        lease.release("success", cost_usd=cost, tokens=tokens or None)
        self._spent.append(cost)
        if cost is not None:
            self.job.paid.append(cost)
        if not transcribe:
            self._account = lease.name
        return result

    def _retrying(self, state: RetryCallState, label: str) -> None:
        exc = state.outcome.exception() if state.outcome else None
        message = redact(f"retrying judge call {label} after {_kind(exc)}: {exc}")
        self._event("judge_retry", message, None)
        self.sv.progress(Progress("waiting", self.step_id, self.job_id, message))

    # -- verdicts --------------------------------------------------------------------------

    def _decide(
        self,
        generator: ModelSpec,
        attempt_id: str,
        facts: ArtifactFacts,
        t0: float,
        verdict: Verdict,
    ) -> Verdict:
        judge = self.judge
        passed = verdict.score >= judge.min_score
        self._record(
            attempt_id, facts, t0, "passed" if passed else "rejected", verdict.score, verdict.reason
        )
        if passed:
            return verdict
        message = (
            f"{generator.label} scored {verdict.score:.2f} < min_score {judge.min_score:g} "
            f"by judge {judge.label}: {verdict.reason}"
        )
        self._event(
            "judge_rejected",
            redact(message),
            attempt_id,
            score=verdict.score,
            min_score=judge.min_score,
            provider=generator.provider,
            model=generator.model,
        )
        raise JudgeRejected(redact(message), score=verdict.score, reason=verdict.reason)

    def _failed(
        self,
        generator: ModelSpec,
        attempt_id: str,
        facts: ArtifactFacts,
        t0: float,
        exc: BaseException,
    ) -> None:
        """Record a judge that could not score; raise JudgeFailed unless the policy keeps."""
        judge = self.judge
        why = redact(f"{_kind(exc)}: {exc}")[:1000]
        self._record(attempt_id, facts, t0, "failed", None, why)
        keep = judge.on_judge_error == "keep"
        then = "kept unjudged" if keep else "rejected (on_judge_error: reject)"
        message = (
            f"judge {judge.label} could not score {generator.label}'s artifact ({why}); {then}"
        )
        self._event("judge_failed", message, attempt_id, on_judge_error=judge.on_judge_error)
        if keep:
            return None
        raise JudgeFailed(message)

    def _record(
        self,
        attempt_id: str,
        facts: ArtifactFacts,
        t0: float,
        verdict: str,
        score: float | None,
        reason: str | None,
    ) -> None:
        known = [c for c in self._spent if c is not None]
        self.sv.sink.write(
            JudgementRecord(
                judgement_id=new_id(),
                job_id=self.job_id,
                run_id=self.run_id,
                attempt_id=attempt_id,
                artifact_sha256=facts.sha256,
                judged_at=utcnow(),
                judge_provider=self.judge.provider,
                judge_model=self.judge.model,
                judge_account=self._account,
                verdict=verdict,  # type: ignore[arg-type]
                score=score,
                min_score=self.judge.min_score,
                reason=redact(reason) if reason else None,
                cost_usd=sum(known) if known else None,
                latency_ms=(time.perf_counter() - t0) * 1000,
                transcribed_by=self._transcribed_by,
            )
        )

    def _event(self, kind: str, message: str, attempt_id: str | None, **data: object) -> None:
        self.sv.event(
            self.run_id,
            kind,
            message,
            job_id=self.job_id,
            attempt_id=attempt_id,
            judge=self.judge.label,
            **data,
        )


async def _no_sleep(seconds: float) -> None:
    await asyncio.sleep(0)
