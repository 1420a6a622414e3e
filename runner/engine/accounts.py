"""Provider accounts at run time: keys, limits, cooldowns and health.

Limits (rpm, rpd, tpm, max_concurrency) are enforced *before* sending, so a vendor never
has to refuse us; a 429 puts only that account into cooldown for the Retry-After the
vendor sent. ``rpm`` is spread evenly (one request every 60/rpm seconds), not spent in a
burst at the start of each minute: vendors enforce minute limits over shorter periods
(OpenAI: "60,000 requests/minute may be enforced as 1,000 requests/second"; Anthropic:
"60 RPM may be enforced as 1 request per second"), so a burst would earn 429s.
Selection prefers healthy accounts with free capacity and the best recent success rate.
Keys are read from the environment at call time and registered with the redactor so they
can never be written anywhere.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from runner.config.model import Account
from runner.errors import REDACTOR, UnavailableError
from runner.providers.catalog import DEFAULT_KEY_ENV

AccountState = Literal["active", "inactive", "error", "rate_limited"]
#: "unused": the lease was given back before any request went out (e.g. the budget).
Outcome = Literal["success", "failure", "rate_limited", "credentials", "unused"]

_MINUTE = 60.0
_DAY = 86_400.0


@dataclass
class AccountHealth:
    name: str
    provider: str
    status: AccountState
    successes: int = 0
    failures: int = 0
    rate_limited: int = 0
    cost_usd: float = 0.0
    in_flight: int = 0
    cooldown_until: float = 0.0
    last_error: str | None = None


@dataclass(slots=True)
class _Spend:
    """One request's tokens in an account's tpm window."""

    at: float
    tokens: int


@dataclass
class _Live:
    account: Account
    health: AccountHealth
    requests_minute: deque[float] = field(default_factory=deque)
    requests_day: deque[float] = field(default_factory=deque)
    tokens_minute: deque[_Spend] = field(default_factory=deque)
    #: Earliest clock() value at which the rpm pacing lets the next request go.
    next_send: float = 0.0

    def prune(self, now: float) -> None:
        for window, span in ((self.requests_minute, _MINUTE), (self.requests_day, _DAY)):
            while window and window[0] <= now - span:
                window.popleft()
        while self.tokens_minute and self.tokens_minute[0].at <= now - _MINUTE:
            self.tokens_minute.popleft()

    def wait_needed(self, now: float, tokens: int) -> float:
        """Seconds until this account could take one more request (0: now)."""
        self.prune(now)
        a = self.account
        waits = [self.health.cooldown_until - now, self.next_send - now]
        if a.rpm and len(self.requests_minute) >= a.rpm:
            waits.append(self.requests_minute[0] + _MINUTE - now)
        if a.rpd and len(self.requests_day) >= a.rpd:
            waits.append(self.requests_day[0] + _DAY - now)
        if a.tpm and tokens:
            used = sum(spend.tokens for spend in self.tokens_minute)
            if used + tokens > a.tpm and self.tokens_minute:
                waits.append(self.tokens_minute[0].at + _MINUTE - now)
        return max(0.0, *waits)

    def has_slot(self) -> bool:
        limit = self.account.max_concurrency
        return limit is None or self.health.in_flight < limit

    @property
    def success_rate(self) -> float:
        h = self.health
        # Laplace-smoothed, so a new account starts at 0.5, not 0 or 1.
        return (h.successes + 1) / (h.successes + h.failures + 2)


@dataclass
class Lease:
    """One request's hold on an account: its key, URL and options, released once."""

    account: Account
    api_key: str | None = field(repr=False)
    _pool: AccountPool = field(repr=False)
    _released: bool = False
    #: Tokens the request was estimated at when it took its place in the tpm window.
    tokens: int = 0
    #: Its place in that window, corrected to what the vendor counted on release.
    spend: _Spend | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.account.name

    def release(
        self,
        outcome: Outcome,
        *,
        retry_after: float | None = None,
        cost_usd: float | None = None,
        tokens: int | None = None,
        error: str | None = None,
    ) -> None:
        if not self._released:
            self._released = True
            self._pool._release(self, outcome, retry_after, cost_usd, tokens, error)


def read_key(variable: str, env: Mapping[str, str] | None = None) -> str | None:
    """The key in ``variable``, trimmed (a .env line often ends in a space, and HTTP sends
    header values trimmed anyway), with every form registered with the redactor."""
    raw = (os.environ if env is None else env).get(variable)
    REDACTOR.add(raw)
    return (raw.strip() or None) if raw else None


def untrimmed_keys(accounts: Sequence[Account], env: Mapping[str, str] | None = None) -> list[str]:
    """One warning per key variable whose value has whitespace around it (never the value)."""
    source = os.environ if env is None else env
    names = sorted({a.api_key_env for a in accounts if a.api_key_env})
    return [
        f"{name} has spaces or a line break around its value; mediamix uses it trimmed"
        for name in names
        if (value := source.get(name)) and value != value.strip()
    ]


class AccountPool:
    """Chooses an account per request and keeps each within its limits."""

    def __init__(
        self,
        accounts: Sequence[Account],
        *,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        default_cooldown_s: float = 5.0,
    ) -> None:
        self._env = env if env is not None else os.environ
        self._clock = clock
        self._default_cooldown = default_cooldown_s
        self._live = {
            a.name: _Live(a, AccountHealth(a.name, a.provider, a.status)) for a in accounts
        }
        self._waiters: set[asyncio.Future[None]] = set()
        self._serving: dict[tuple[str, str, str | None], tuple[Account, ...]] = {}

    # -- queries -----------------------------------------------------------------------
    def cooldown_s(self, retry_after: float | None) -> float:
        """How long a 429 benches an account: the vendor's Retry-After, else our default."""
        return retry_after if retry_after is not None else self._default_cooldown

    def accounts_for(
        self, provider: str, model: str, name: str | None = None
    ) -> tuple[Account, ...]:
        # The accounts are fixed for the pool's life; each request asks again.
        key = (provider, model, name)
        found = self._serving.get(key)
        if found is None:
            found = self._serving[key] = tuple(
                live.account
                for live in self._live.values()
                if live.account.provider == provider
                and (name is None or live.account.name == name)
                and live.account.serves(model)
            )
        return found

    def seed_health(self, name: str, *, successes: int, failures: int, cost_usd: float) -> None:
        """Start from what the run log remembers, so health survives restarts."""
        live = self._live.get(name)
        if live is not None:
            live.health.successes += successes
            live.health.failures += failures
            live.health.cost_usd += cost_usd

    def _key_for(self, account: Account) -> str | None:
        if not account.api_key_env:
            return None
        return read_key(account.api_key_env, self._env)

    # -- acquiring ---------------------------------------------------------------------
    def _usable(
        self, provider: str, model: str, name: str | None, needs_key: bool
    ) -> tuple[list[_Live], UnavailableError | None]:
        """The accounts that can serve now, or (none) the error to raise
        (every reason, the missing key variables, and what would help)."""
        usable: list[_Live] = []
        reasons: list[str] = []
        missing_env: list[str] = []
        hints: list[str] = []
        serving = self.accounts_for(provider, model, name)
        for account in serving:
            live = self._live[account.name]
            if live.health.status in ("inactive", "error"):
                why = live.health.last_error or live.health.status
                reasons.append(f"account {account.name} is {live.health.status} ({why})")
                if live.health.status == "inactive":
                    hints.append(f"set status: active for account {account.name}")
                continue
            if needs_key and not self._key_for(account):
                if account.api_key_env:
                    reasons.append(f"{account.api_key_env} is not set (account {account.name})")
                    missing_env.append(account.api_key_env)
                else:
                    reasons.append(f"account {account.name} names no api_key_env")
                    hints.append(f"give account {account.name} an api_key_env")
                continue
            usable.append(live)
        if not serving:
            target = f"account {name!r}" if name else f"no account serves {provider}/{model}"
            reasons.append(target if not name else f"{target} does not serve {provider}/{model}")
            hints.append(
                f"list model {model} under account {name}"
                if name
                else f"add an account for {provider} to accounts.yaml "
                f"(mediamix accounts add {provider}-main --provider {provider}"
                + (f" --api-key-env {env})" if (env := DEFAULT_KEY_ENV.get(provider)) else ")")
            )
        if usable:
            return usable, None  # the usual case: no error built
        envs = tuple(dict.fromkeys(missing_env))
        if envs:
            hints.insert(0, "set " + " or ".join(envs))
        error = UnavailableError(
            "; ".join(reasons), missing_env=envs, hint="; ".join(hints) or None
        )
        return usable, error

    def availability(
        self, provider: str, model: str, *, account: str | None = None, needs_key: bool = True
    ) -> UnavailableError | None:
        """None when some account could serve ``provider/model`` now (ignoring momentary
        limits), else why not: what ``--dry-run`` shows before anything is called."""
        return self._usable(provider, model, account, needs_key)[1]

    def ready_now(
        self,
        provider: str,
        model: str,
        *,
        account: str | None = None,
        needs_key: bool = True,
        tokens: int = 0,
        avoid: Collection[str] = (),
    ) -> bool:
        """Whether an account not in ``avoid`` could take ``provider/model`` this moment:
        what decides between failing over at once and sleeping a backoff."""
        usable, _ = self._usable(provider, model, account, needs_key)
        return bool(self._ready_among(usable, tokens, avoid, fall_back=False))

    async def acquire(
        self,
        provider: str,
        model: str,
        *,
        account: str | None = None,
        needs_key: bool = True,
        tokens: int = 0,
        deadline: float | None = None,
        avoid: Collection[str] = (),
    ) -> Lease:
        """Wait (within ``deadline``, a clock() value) for an account with capacity,
        preferring one not in ``avoid`` (the accounts that just failed this job).

        Raises UnavailableError when no account could ever serve the request (no key,
        inactive, none configured) or when capacity does not free up before the deadline.
        """
        while True:
            usable, unavailable = self._usable(provider, model, account, needs_key)
            if unavailable is not None:
                raise unavailable
            now = self._clock()
            ready = self._ready_among(usable, tokens, avoid, fall_back=True, now=now)
            if ready:
                best = max(
                    ready,
                    key=lambda lv: (
                        lv.success_rate,
                        -lv.health.in_flight,
                        -len(lv.requests_minute),
                    ),
                )
                return self._take(best, now, tokens)
            self._want(usable, tokens)
            waits = [self._wait(live, now, tokens) for live in usable]
            wait = min(w for w in waits) if waits else 0.05
            if deadline is not None and now + wait > deadline:
                raise UnavailableError(
                    f"{provider}/{model}: no account has capacity before the step's deadline "
                    f"(next free in {wait:.1f}s)"
                )
            # Woken early when a lease is released; else when a window frees up.
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.add(waiter)
            try:
                await asyncio.wait_for(waiter, timeout=max(wait, 0.005))
            except TimeoutError:
                pass
            finally:
                self._waiters.discard(waiter)

    def _ready_among(
        self,
        usable: list[_Live],
        tokens: int,
        avoid: Collection[str],
        *,
        fall_back: bool,
        now: float | None = None,
    ) -> list[_Live]:
        """The accounts of ``usable`` that may send now, those not in ``avoid`` only;
        with ``fall_back``, the avoided ones when no other is ready."""
        now = self._clock() if now is None else now
        ready = [live for live in usable if self._ready(live, now, tokens)]
        preferred = [live for live in ready if live.account.name not in avoid]
        return preferred or (ready if fall_back else [])

    # Capacity, one account at a time: what a subclass that gets its capacity elsewhere
    # (runner.cluster.link.LeasedAccountPool: slots leased from the cluster) replaces.

    def _ready(self, live: _Live, now: float, tokens: int) -> bool:
        """Whether ``live`` may send one more request now."""
        return live.has_slot() and live.wait_needed(now, tokens) == 0

    def _wait(self, live: _Live, now: float, tokens: int) -> float:
        """Seconds until ``live`` may be ready (a release can make it sooner)."""
        return live.wait_needed(now, tokens)

    def _want(self, usable: list[_Live], tokens: int) -> None:
        """None of ``usable`` is ready: ask for capacity where it comes from elsewhere."""
        return None

    def _take(self, live: _Live, now: float, tokens: int) -> Lease:
        live.health.in_flight += 1
        if live.account.rpm:
            live.next_send = max(now, live.next_send) + _MINUTE / live.account.rpm
        live.requests_minute.append(now)
        live.requests_day.append(now)
        spend = None
        if tokens:
            spend = _Spend(now, tokens)
            live.tokens_minute.append(spend)
        return Lease(live.account, self._key_for(live.account), self, tokens=tokens, spend=spend)

    def _release(
        self,
        lease: Lease,
        outcome: Outcome,
        retry_after: float | None,
        cost_usd: float | None,
        tokens: int | None,
        error: str | None,
    ) -> None:
        live = self._live[lease.account.name]
        h = live.health
        h.in_flight -= 1
        if cost_usd:
            h.cost_usd += cost_usd
        if tokens and lease.spend is not None:
            # Replace this request's estimate (not the newest one: others may have started
            # since) with what the vendor actually counted.
            lease.spend.tokens = tokens
        if outcome == "unused":
            pass  # nothing was sent: no success, no failure
        elif outcome == "success":
            h.successes += 1
            if h.status == "rate_limited" and self._clock() >= h.cooldown_until:
                h.status = "active"
        elif outcome == "rate_limited":
            h.rate_limited += 1
            h.status = "rate_limited"
            h.cooldown_until = self._clock() + self.cooldown_s(retry_after)
        elif outcome == "credentials":
            h.failures += 1
            h.status = "error"
            h.last_error = error or "credentials rejected"
        else:
            h.failures += 1
        self._notify()

    def _notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()
