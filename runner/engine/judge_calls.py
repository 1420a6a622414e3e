"""The calls a judgement makes, made the way generation calls are: through the account
pool (keys, rpm/tpm, cooldowns), the budget (an estimate reserved before, the actual cost
after), the stop gate, and the step's retry policy (backoff, max_attempts, deadline).

Retried: transient errors, rate limits (the pool waits them out), a rejected key (the pool
moves to another account), and an answer that is not a score (``read`` raises
VerdictError). The first call goes out without a retry loop: most answer at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
)

from runner import pricing
from runner.config.model import RetrySpec
from runner.engine.failover import backoff_wait
from runner.engine.services import Services
from runner.errors import (
    BudgetExceeded,
    CredentialsError,
    DispatchStopped,
    MediamixError,
    PermanentError,
    RateLimitedError,
    TransientError,
    redact,
)
from runner.judge import VerdictError
from runner.providers.base import CallContext, GenerationRequest, GenerationResult, Usage
from runner.providers.registry import get_provider

T = TypeVar("T")

#: Failures worth asking again for (within the step's max_attempts).
RETRYABLE = (TransientError, RateLimitedError, CredentialsError, VerdictError)


def error_kind(exc: BaseException | None) -> str:
    return str(getattr(exc, "kind", None) or type(exc).__name__)


class JudgeCalls:
    """Paid calls of one judgement; what they cost and which account answered."""

    def __init__(
        self,
        services: Services,
        *,
        deadline: float | None,
        retry: RetrySpec,
        paid: list[float],
        on_retry: Callable[[str], None],
    ) -> None:
        self.sv = services
        self.deadline = deadline
        self.retry = retry
        #: The job's extra spend: every call's known cost is appended to it.
        self.paid = paid
        self.on_retry = on_retry
        #: Costs of these calls (None: a call whose price is unknown).
        self.spent: list[float | None] = []
        #: The account the judge model answered through.
        self.account: str | None = None

    async def call(
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
        """``read`` of the answer to ``request`` (``transcribe``: speech to text)."""

        def once() -> Awaitable[GenerationResult]:
            return self._once(provider_name, model, account, request, transcribe, estimate, seconds)

        try:
            return read(await once())
        except RETRYABLE as exc:
            first: Exception = exc
        retrying = AsyncRetrying(
            stop=self._stop,
            wait=backoff_wait(self.retry),
            retry=retry_if_exception(lambda e: isinstance(e, RETRYABLE)),
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
        if stop_after_attempt(self.retry.max_attempts)(state):
            return True
        return self.deadline is not None and time.monotonic() >= self.deadline

    def _retrying(self, state: RetryCallState, label: str) -> None:
        exc = state.outcome.exception() if state.outcome else None
        self.on_retry(redact(f"retrying judge call {label} after {error_kind(exc)}: {exc}"))

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
            expected = pricing.cost_usd(provider_name, model, estimate, {}, prices)
            await sv.budget.ready(expected)  # a cluster budget hands out slices: wait for one
            reserved = sv.budget.reserve(expected)
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
        self.spent.append(cost)
        if cost is not None:
            self.paid.append(cost)
        if not transcribe:
            self.account = lease.name
        return result


async def _no_sleep(seconds: float) -> None:
    await asyncio.sleep(0)
