"""After a failed attempt, what a candidate does next: another account at once, the next
candidate at once, the same call again at once, or a backoff sleep.

A 500 or a 429 says something about one account at one moment, not about the job. Sleeping
on it while another account, or the next candidate, could take the call this moment only
makes the run slower: under 20 % faults the old sleep-first policy ran 3.8x its fault-free
wall (issue 16). So a backoff is slept only when nothing else can take the call now, and
Retry-After still rules the account that sent it: the pool keeps that account cooling.

What counts as "can take the call now" is the account pool's answer: an account that
serves the model, has its key, is not cooling down and has a free rpm/tpm/concurrency slot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from tenacity import RetryCallState, wait_exponential, wait_random
from tenacity.wait import wait_base

from runner.config.model import ModelSpec, RetrySpec
from runner.engine.accounts import AccountPool
from runner.errors import (
    ArtifactInvalid,
    CredentialsError,
    JudgeRejected,
    RateLimitedError,
    TransientError,
)

#: - give_up: this candidate is done (not retryable, out of attempts, past the deadline)
#: - failover: another account of this model can take the call now: retry there at once
#: - handoff: the next candidate can take the call now: move to it at once (this one keeps
#:   its remaining attempts, for when the others fail too)
#: - again: retry at once (a defect in one answer; or a 429 the pool waits out per account)
#: - backoff: nothing else can take the call now: sleep, then try every account again
Move = Literal["give_up", "failover", "handoff", "again", "backoff"]


def retryable(exc: BaseException) -> bool:
    """Whether the same candidate may be asked again after ``exc`` at all."""
    if isinstance(exc, RateLimitedError | CredentialsError):
        # The pool waits out the cooldown, or moves to another account.
        return True
    if isinstance(exc, ArtifactInvalid):
        # A deterministic defect (wrong format or size) would be paid for again unchanged.
        return not exc.deterministic
    return isinstance(exc, TransientError)


def backoff_wait(retry: RetrySpec) -> wait_base:
    """tenacity's exponential backoff plus uniform jitter, as the preset sets them. Built
    from parts every tenacity since 8.2 names alike (wait_exponential_jitter renamed its
    ``initial`` to ``multiplier`` in 9.2 and warns on the old name)."""
    exponential = wait_exponential(
        multiplier=retry.initial_backoff_s, exp_base=retry.multiplier, max=retry.max_backoff_s
    )
    return exponential + wait_random(0, retry.jitter_s)


def account_trouble(exc: BaseException) -> bool:
    """A failure that blames the account or the vendor's moment, not the request: the
    kind another account or another model may well not have."""
    return isinstance(exc, TransientError | RateLimitedError | CredentialsError)


@dataclass
class Failover:
    """One candidate's retry state for one job, and its decision after each failure."""

    pool: AccountPool
    spec: ModelSpec
    retry: RetrySpec
    needs_key: bool
    #: Estimated tokens of the request (the pool's tpm check).
    tokens: int
    #: The job's deadline, a time.monotonic() value (None: no deadline).
    deadline: float | None
    #: Ask the same model again after a judge's rejection (the step's judge says).
    retry_on_reject: bool = False
    #: Whether a later candidate could take the call now (None: there is none to hand to).
    alternative: Callable[[], bool] | None = None
    #: Attempts this candidate has used for the job. A call that failed with account
    #: trouble and went on at once to another account of the model is part of the same
    #: attempt: one account's bad moment does not use up the job's attempts.
    made: int = 0
    #: Backoffs slept so far: the exponent of the next one.
    backoffs: int = 0
    #: Accounts that failed this job since its last backoff: tried last.
    failed_accounts: set[str] = field(default_factory=set)
    #: A paid long-running task is in flight on this account: polls stay with it.
    task_account: str | None = None

    @property
    def attempts_left(self) -> int:
        return max(0, self.retry.max_attempts - self.made)

    def next_move(self, exc: BaseException, account: str | None) -> Move:
        """What to do after attempt ``made`` failed with ``exc`` on ``account``."""
        if not self._may_retry(exc) or self._past_deadline():
            return "give_up"
        trouble = account_trouble(exc)
        if trouble and self.task_account is None:
            if account is not None:
                self.failed_accounts.add(account)
            if self.pool.ready_now(
                self.spec.provider,
                self.spec.model,
                account=self.spec.account,
                needs_key=self.needs_key,
                tokens=self.tokens,
                avoid=self.failed_accounts,
            ):
                # The same attempt, at once, on an account that has not failed it since
                # the last backoff (so at most one call per account before one is used).
                self.made -= 1
                return "failover"
        if self.attempts_left == 0:
            return "give_up"
        if not trouble:
            return "again"  # an invalid or rejected answer: the account is not to blame
        if self.task_account is not None:
            # A vendor task is paid for and running: poll it again, never start another.
            return "again" if isinstance(exc, RateLimitedError) else "backoff"
        if (
            self.retry.failover == "candidates"
            and self.alternative is not None
            and self.alternative()
        ):
            return "handoff"
        if isinstance(exc, RateLimitedError | CredentialsError):
            return "again"  # the pool waits for this account's Retry-After, or another's
        return "backoff"

    def backoff_s(self) -> float:
        """The next backoff: exponential with jitter from the preset, counted in backoffs
        (a failover at once does not make the next sleep longer), cut at the deadline."""
        self.backoffs += 1
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = self.backoffs
        wait = backoff_wait(self.retry)
        seconds = float(wait(state))
        if self.deadline is not None:
            seconds = max(0.0, min(seconds, self.deadline - time.monotonic()))
        return seconds

    def after_backoff(self) -> None:
        # Time has passed: every account is worth trying again.
        self.failed_accounts.clear()

    def resume(self) -> None:
        """Back to this candidate after the ones it handed to failed: from now on it waits
        its backoffs (nothing later is left to hand to), starting with every account."""
        self.alternative = None
        self.failed_accounts.clear()

    def _may_retry(self, exc: BaseException) -> bool:
        if isinstance(exc, JudgeRejected):
            # A judge's "not good enough" is only asked again when the step says so.
            return self.retry_on_reject
        if not retryable(exc):
            return False
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            # A Retry-After longer than the preset will wait: the next candidate instead.
            return exc.retry_after <= self.retry.max_retry_after_s
        return True

    def _past_deadline(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline
