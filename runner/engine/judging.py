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

import time
from dataclasses import dataclass
from pathlib import Path

from runner.config.model import Judge, ModelSpec, RetrySpec
from runner.engine.judge_calls import JudgeCalls, error_kind
from runner.engine.services import Progress, Services
from runner.errors import (
    BudgetExceeded,
    DispatchStopped,
    JudgeFailed,
    JudgeRejected,
    ProviderError,
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
from runner.providers.base import Usage
from runner.providers.registry import get_provider
from runner.runlog.records import JudgementRecord, new_id, utcnow
from runner.validation import ArtifactFacts


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
        self.calls = JudgeCalls(
            services,
            deadline=job.deadline,
            retry=job.retry,
            paid=job.paid,
            on_retry=lambda message: self._retrying(message),
        )
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
        transcript = await self.calls.call(
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
        return await self.calls.call(
            self.judge.provider,
            self.judge.model,
            self.judge.account,
            request,
            transcribe=False,
            read=lambda result: parse_verdict(result.text or ""),
            estimate=estimated_usage(request),
            seconds=None,
        )

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
        why = redact(f"{error_kind(exc)}: {exc}")[:1000]
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
        known = [c for c in self.calls.spent if c is not None]
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
                judge_account=self.calls.account,
                verdict=verdict,  # type: ignore[arg-type]
                score=score,
                min_score=self.judge.min_score,
                reason=redact(reason) if reason else None,
                cost_usd=sum(known) if known else None,
                latency_ms=(time.perf_counter() - t0) * 1000,
                transcribed_by=self._transcribed_by,
            )
        )

    def _retrying(self, message: str) -> None:
        self._event("judge_retry", message, None)
        self.sv.progress(Progress("waiting", self.step_id, self.job_id, message))

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
