"""What an attempt tells people as it goes: run-log events, progress lines, and the failed
attempt's record. Kept apart from the attempt itself, which decides and calls."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from runner.config.model import ModelSpec
from runner.engine.failover import Move
from runner.engine.services import Progress, Services
from runner.errors import ArtifactInvalid, RateLimitedError, redact
from runner.providers.base import GenerationResult, Usage
from runner.runlog.records import AttemptRecord, utcnow

if TYPE_CHECKING:
    from runner.engine.attempts import Job


def error_class(exc: BaseException | None) -> str:
    return str(getattr(exc, "kind", None) or type(exc).__name__)


class AttemptNotes:
    """The events and progress of one candidate's attempts for one job."""

    def __init__(self, services: Services, job: Job, spec: ModelSpec) -> None:
        self.sv = services
        self.job = job
        self.spec = spec

    def retrying(self, move: Move, exc: BaseException, account: str | None, seconds: float) -> None:
        """Say how the next attempt comes: at once elsewhere, at once, or after a sleep."""
        label, cause = self.spec.label, f"{error_class(exc)}: {exc}"
        if move == "failover":
            kind = "failover"
            message = (
                f"retrying {label} at once on another account; "
                f"account {account} failed with {cause}"
            )
        elif move == "backoff":
            kind = "retry_wait"
            when = "now (waits disabled)" if self.sv.options.no_wait else f"in {seconds:.1f}s"
            message = f"retrying {label} {when} after {cause}"
        elif isinstance(exc, RateLimitedError):
            kind = "retry_wait"
            message = f"retrying {label} when an account is free after {cause}"
        else:
            kind = "retry_wait"
            message = f"retrying {label} now after {cause}"
        message = redact(message)
        self.sv.event(
            self.job.run_id,
            kind,
            message,
            job_id=self.job.job_id,
            wait_s=seconds,
            provider=self.spec.provider,
            model=self.spec.model,
            account=account,
        )
        self.sv.progress(
            Progress("waiting", self.job.plan.id, self.job.job_id, message, self.job.where)
        )

    def fewer_outputs(
        self, params: dict[str, Any], result: GenerationResult, attempt_id: str
    ) -> None:
        """``params: {n: 3}`` answered with fewer outputs is said out loud, not passed over:
        the job still succeeds with what came (it was paid for)."""
        asked = params.get("n")
        got = 1 + len(result.more)
        if isinstance(asked, bool) or not isinstance(asked, int) or got >= asked:
            return
        message = (
            f"{self.spec.label} returned {got} of the {asked} {self.job.plan.media_type} "
            f"outputs asked for (params.n = {asked})"
        )
        self.job.warnings.append(message)
        self.sv.event(
            self.job.run_id,
            "fewer_outputs",
            message,
            job_id=self.job.job_id,
            attempt_id=attempt_id,
            asked=asked,
            received=got,
            provider=self.spec.provider,
            model=self.spec.model,
        )
        self.sv.progress(
            Progress("warning", self.job.plan.id, self.job.job_id, message, self.job.where)
        )

    def failure(self, record: AttemptRecord, exc: BaseException, latency_ms: float) -> None:
        sv, spec = self.sv, self.spec
        record.finished_at = utcnow()
        record.latency_ms = latency_ms
        record.error_class = (
            "cancelled" if isinstance(exc, asyncio.CancelledError) else error_class(exc)
        )
        record.error = redact(str(exc))[:2000] or type(exc).__name__
        record.http_status = getattr(exc, "http_status", None)
        record.retry_after_s = getattr(exc, "retry_after", None)
        sv.sink.write(record)
        sv.stats.record(spec.provider, spec.model, False, latency_ms, None)
        if isinstance(exc, RateLimitedError):
            cooldown = sv.pool.cooldown_s(exc.retry_after)
            why = "as Retry-After asked" if exc.retry_after is not None else "no Retry-After sent"
            sv.event(
                record.run_id,
                "account_cooldown",
                f"account {record.account} rate limited; cooling down {cooldown:g}s ({why})",
                job_id=record.job_id,
                attempt_id=record.attempt_id,
                account=record.account,
                retry_after_s=exc.retry_after,
                cooldown_s=cooldown,
            )
        if isinstance(exc, ArtifactInvalid):
            then = (
                "; deterministic (the same request gives the same defect): next candidate"
                if exc.deterministic
                else ""
            )
            sv.event(
                record.run_id,
                "validation_failed",
                redact(f"{spec.label} produced an invalid artifact: {exc}{then}"),
                job_id=record.job_id,
                attempt_id=record.attempt_id,
                deterministic=exc.deterministic,
            )
        sv.progress(
            Progress(
                "attempt_failed",
                self.job.plan.id,
                self.job.job_id,
                f"{spec.label} attempt {record.number}: {record.error_class}: {record.error}",
                self.job.where,
            )
        )

    def usage_dropped(self, usage: Usage, attempt_id: str) -> None:
        """The vendor answered (and was paid) but reported usage that is not a sane
        count: the answer is kept, the figure is not, and the run log says so."""
        self.sv.event(
            self.job.run_id,
            "usage_dropped",
            redact(
                f"{self.spec.label} reported usage that was not used: {'; '.join(usage.dropped)}"
            ),
            job_id=self.job.job_id,
            attempt_id=attempt_id,
            provider=self.spec.provider,
            model=self.spec.model,
            dropped=[redact(reason) for reason in usage.dropped],
        )

    def task_event(self, kind: str, message: str, task_id: str, attempt_id: str) -> None:
        # provider/model say which candidate may resume it; the key, which job.
        self.sv.event(
            self.job.run_id,
            kind,
            message,
            job_id=self.job.job_id,
            attempt_id=attempt_id,
            task_id=task_id,
            idempotency_key=self.job.key,
            provider=self.spec.provider,
            model=self.spec.model,
        )
