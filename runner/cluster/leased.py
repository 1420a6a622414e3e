"""The engine's account pool, budget and job claims on a Dask worker: the cluster's.

Each is the engine's own class with its capacity taken from the coordinator instead of
this process, so the engine runs unchanged:

- :class:`LeasedAccountPool` — an :class:`~runner.engine.accounts.AccountPool` whose
  accounts with limits (rpm, rpd, tpm, max_concurrency) send only in slots leased from the
  coordinator, a few at a time; cooldowns after a 429 come from every worker.
- :class:`ClusterBudget` — a :class:`~runner.engine.services.Budget` whose headroom is
  leased in small slices from the one cluster-wide cap.
- :class:`ClusterClaims` — :class:`~runner.engine.claims.Claims` kept by the coordinator:
  one idempotency key runs on one worker at a time, and a key that succeeded anywhere in
  the batch is reused, not paid again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from runner.cluster.limits import MAX_LEASE, AccountLimits
from runner.cluster.link import CoordinatorLink, Reply
from runner.config.model import Account
from runner.engine.accounts import AccountPool, Lease, Outcome, _Live
from runner.engine.claims import _POLL_S, Claims
from runner.engine.outputs import ArtifactOutput
from runner.engine.services import Budget, _usd
from runner.errors import BudgetExceeded
from runner.storage import ArtifactStore

#: How long to wait before asking again when a lease came back empty (concurrency full).
_ASK_AGAIN_S = 0.02


def limits_of(account: Account) -> AccountLimits:
    return AccountLimits(account.rpm, account.rpd, account.tpm, account.max_concurrency)


def identity_of(account: Account) -> str:
    """One account as the coordinator tells accounts apart across batches."""
    return "|".join(
        (account.provider, account.name, account.base_url or "", account.api_key_env or "")
    )


class LeasedAccountPool(AccountPool):
    def __init__(
        self,
        accounts: Sequence[Account],
        link: CoordinatorLink,
        *,
        clock: Callable[[], float] = time.monotonic,
        default_cooldown_s: float = 5.0,
    ) -> None:
        super().__init__(accounts, clock=clock, default_cooldown_s=default_cooldown_s)
        self._link = link
        #: Leased accounts -> send slots in hand (this process's clock), earliest first.
        self._slots: dict[str, deque[float]] = {
            a.name: deque() for a in accounts if limits_of(a).any
        }
        self._asking: set[str] = set()
        self._ask_after: dict[str, float] = {}
        link.on_reply(self._on_reply)

    def _grace(self, account: Account) -> float:
        """A slot not used within this of its time is dropped: used late, it would bunch
        up with the next ones and break the pace the vendor enforces."""
        return max(0.02, 15.0 / account.rpm) if account.rpm else 1.0

    def _fresh(self, live: _Live, now: float) -> deque[float]:
        slots = self._slots[live.account.name]
        grace = self._grace(live.account)
        dropped = 0
        while slots and slots[0] + grace < now:
            slots.popleft()
            dropped += 1
        if dropped:
            self._link.finished(live.account.name, dropped, 0)
        return slots

    # -- the capacity hooks of AccountPool ---------------------------------------------------

    def _ready(self, live: _Live, now: float, tokens: int) -> bool:
        if live.account.name not in self._slots:
            return super()._ready(live, now, tokens)  # no limits: only a cooldown stops it
        if live.health.cooldown_until > now:
            return False
        slots = self._fresh(live, now)
        return bool(slots) and slots[0] <= now

    def _wait(self, live: _Live, now: float, tokens: int) -> float:
        slots = self._slots.get(live.account.name)
        if slots is None:
            return super()._wait(live, now, tokens)
        cooling = live.health.cooldown_until - now
        if slots:
            return max(0.0, cooling, slots[0] - now)
        return max(_ASK_AGAIN_S, cooling)  # a reply (slots or a cooldown) wakes us sooner

    def _want(self, usable: list[_Live], tokens: int) -> None:
        now = self._clock()
        for live in usable:
            name = live.account.name
            slots = self._slots.get(name)
            if (
                slots is None
                or slots
                or name in self._asking
                or now < self._ask_after.get(name, 0.0)
                or live.health.cooldown_until > now
            ):
                continue
            self._asking.add(name)
            self._link.lease(name, min(MAX_LEASE, len(self._waiters) + 1), tokens)

    def _take(self, live: _Live, now: float, tokens: int) -> Lease:
        slots = self._slots.get(live.account.name)
        if slots:
            slots.popleft()
        return super()._take(live, now, tokens)

    def _release(
        self,
        lease: Lease,
        outcome: Outcome,
        retry_after: float | None,
        cost_usd: float | None,
        tokens: int | None,
        error: str | None,
    ) -> None:
        super()._release(lease, outcome, retry_after, cost_usd, tokens, error)
        name = lease.account.name
        if name in self._slots:
            self._link.finished(name, 1, (tokens - lease.tokens) if tokens else 0)
        if outcome == "rate_limited":
            seconds = retry_after if retry_after is not None else self._default_cooldown
            self._link.cool(name, seconds)
            self._drop_slots_before(name, self._clock() + seconds)

    # -- news from the coordinator -------------------------------------------------------------

    def _on_reply(self, reply: Reply) -> None:
        now = float(reply.get("at") or self._clock())
        for name, delays in (reply.get("slots") or {}).items():
            self._asking.discard(name)
            slots = self._slots.get(name)
            if slots is None:
                continue
            if delays:
                slots.extend(now + d for d in delays)
            else:
                self._ask_after[name] = now + _ASK_AGAIN_S
        for name, seconds in (reply.get("cooldowns") or {}).items():
            self.cool(name, float(seconds), now=now)
        self._notify()

    def cool(self, name: str, seconds: float, *, now: float | None = None) -> None:
        """Another worker got a 429 on ``name``: cool it here too, for ``seconds``."""
        live = self._live.get(name)
        if live is None:
            return
        until = (now if now is not None else self._clock()) + seconds
        if until > live.health.cooldown_until:
            live.health.cooldown_until = until
            live.health.status = "rate_limited"
        self._drop_slots_before(name, until)
        self._notify()

    def _drop_slots_before(self, name: str, until: float) -> None:
        slots = self._slots.get(name)
        if not slots:
            return
        kept = deque(t for t in slots if t >= until)
        dropped = len(slots) - len(kept)
        self._slots[name] = kept
        if dropped:
            self._link.finished(name, dropped, 0)


class ClusterBudget(Budget):
    """One ``--max-cost`` for every worker: headroom leased in slices of a few calls."""

    #: A slice is worth this many calls of the size being asked for.
    SLICE_CALLS = 4

    def __init__(self, cap_usd: float | None, link: CoordinatorLink) -> None:
        super().__init__(cap_usd)
        self._link = link
        self.headroom = 0.0

    async def ready(self, estimate: float | None) -> None:
        amount = estimate or 0.0
        if self.cap is None or amount <= self.headroom:
            return
        self.headroom += await self._link.budget(amount * self.SLICE_CALLS, amount)

    def reserve(self, estimate: float | None) -> float:
        amount = estimate or 0.0
        if self.cap is not None:
            if amount > self.headroom + 1e-12:
                raise BudgetExceeded(
                    f"budget of {_usd(self.cap)} reached across the cluster (spent "
                    f"{_usd(self._link.spent)}, this call would add ~{_usd(amount)}); "
                    "no further calls dispatched"
                )
            self.headroom -= amount
        self.reserved += amount
        return amount

    def settle(self, reserved: float, actual: float | None) -> None:
        cost = actual if actual is not None else reserved
        self.reserved -= reserved
        self.spent += cost
        self._link.report_spend(consumed=reserved, spent=cost)

    def give_back(self) -> None:
        """Return the unused headroom (the worker has nothing more to run)."""
        if self.headroom > 0:
            self._link.report_spend(returned=self.headroom)
            self.headroom = 0.0

    def exhausted_error(self) -> BudgetExceeded:
        cap = _usd(self.cap) if self.cap is not None else "none"
        return BudgetExceeded(
            f"budget exhausted earlier in this batch (cap {cap}, spent "
            f"{_usd(self._link.spent)} across the cluster); not dispatched"
        )

    @property
    def exhausted(self) -> bool:
        return self._link.exhausted


class ClusterClaims(Claims):
    """Claims kept by the coordinator instead of a lock file on one machine's disk."""

    def __init__(self, link: CoordinatorLink, store: ArtifactStore) -> None:
        # Not Claims.__init__: no lock file or outcome logs; the coordinator is the one place.
        self.store = store
        self._link = link
        self._local: dict[str, asyncio.Future[list[ArtifactOutput] | None]] = {}
        self._known: dict[str, list[dict[str, Any]]] = {}
        self._releasing: dict[str, list[dict[str, Any]]] = {}

    def close(self) -> None:
        return None

    async def _lock(self, key: str) -> None:
        attempt = 0
        while True:
            state, artifacts = await self._link.claim(key)
            if state == "yours":
                if artifacts:
                    self._known[key] = list(artifacts)
                return
            await asyncio.sleep(_POLL_S[min(attempt, len(_POLL_S) - 1)])
            attempt += 1

    def _unlock(self, key: str) -> None:
        self._link.release(key, self._releasing.pop(key, None))

    def _record(self, key: str, artifacts: list[ArtifactOutput]) -> None:
        fields = [
            {k: v for k, v in dataclasses.asdict(a).items() if k not in ("text", "path")}
            for a in artifacts
        ]
        self._known[key] = fields
        self._releasing[key] = fields

    async def _known_outcome(self, key: str) -> list[ArtifactOutput] | None:
        fields = self._known.get(key)
        if not fields:
            return None
        outputs = [await self._again(f) for f in fields]
        if any(o is None for o in outputs):
            return None
        return [o for o in outputs if o is not None]
