"""Account limits for a whole cluster: send slots, leased a few at a time.

One :class:`AccountSlots` per account lives on the scheduler (in the coordinator). A
worker that wants to call an account asks for a few *slots*: moments at which it may send
one request each. The slots of every worker come from one sequence, so the cluster as a
whole keeps the pace a single process keeps (one request every 60/rpm seconds, never more
than ``rpm`` in a minute, ``rpd`` in a day or ``tpm`` tokens in a minute), and
``max_concurrency`` counts requests in flight on every worker. A worker asks again only
when its slots run out, so a request costs no round trip to the scheduler; a lease holds
at most what the next ``HORIZON_S`` seconds allow, so slots a worker ends up not using
waste little of the limit.

A 429's Retry-After cools the account here, for every worker: no slot is handed out
before it ends, and the coordinator tells the workers holding slots to drop them.

Times are this process's ``time.monotonic()``; replies turn them into delays, which each
worker adds to its own clock (so clocks of different machines never meet).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

_MINUTE = 60.0
_DAY = 86_400.0
#: A lease covers at most this much of the future (beyond its first slot).
HORIZON_S = 0.5
#: Slots one lease may hold at most.
MAX_LEASE = 8


@dataclass(frozen=True)
class AccountLimits:
    rpm: int | None = None
    rpd: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.rpm, self.rpd, self.tpm, self.max_concurrency))


class AccountSlots:
    def __init__(self, limits: AccountLimits) -> None:
        self.limits = limits
        self.next_send = 0.0
        self.cooldown_until = 0.0
        self._minute: deque[float] = deque()
        self._day: deque[float] = deque()
        self._tokens: deque[tuple[float, int]] = deque()
        #: Slots handed out whose request has not been reported finished, per holder.
        self.in_flight: Counter[str] = Counter()

    def _prune(self, now: float) -> None:
        # Slots may lie in the future; only those older than the window drop out.
        while self._minute and self._minute[0] <= now - _MINUTE:
            self._minute.popleft()
        while self._day and self._day[0] <= now - _DAY:
            self._day.popleft()
        while self._tokens and self._tokens[0][0] <= now - _MINUTE:
            self._tokens.popleft()

    def _earliest(self, now: float, tokens: int) -> float:
        """The first moment one more request may be sent, as things stand."""
        a = self.limits
        at = max(now, self.cooldown_until, self.next_send)
        if a.rpm and len(self._minute) >= a.rpm:
            # The rpm-th slot back must have left the window (slots are handed out in
            # time order, so the deque is sorted).
            at = max(at, self._minute[-a.rpm] + _MINUTE)
        if a.rpd and len(self._day) >= a.rpd:
            at = max(at, self._day[-a.rpd] + _DAY)
        if a.tpm and tokens:
            used = sum(n for _, n in self._tokens)
            for when, n in self._tokens:  # oldest first: wait until enough has left
                if used + tokens <= a.tpm:
                    break
                used -= n
                at = max(at, when + _MINUTE)
        return at

    def grant(self, holder: str, want: int, tokens: int, now: float) -> list[float]:
        """Up to ``want`` slots (absolute times, ascending) for ``holder``. Fewer when the
        account's concurrency is used up or the next slots lie beyond the horizon; the
        first slot is always granted when concurrency allows, however far ahead it is."""
        a = self.limits
        self._prune(now)
        slots: list[float] = []
        for _ in range(max(0, min(want, MAX_LEASE))):
            if a.max_concurrency is not None and sum(self.in_flight.values()) >= a.max_concurrency:
                break
            at = self._earliest(now, tokens)
            if slots and at > now + HORIZON_S:
                break
            if a.rpm:
                self.next_send = at + _MINUTE / a.rpm
            if a.rpm:
                self._minute.append(at)
            if a.rpd:
                self._day.append(at)
            if a.tpm and tokens:
                self._tokens.append((at, tokens))
            self.in_flight[holder] += 1
            slots.append(at)
        return slots

    def finished(self, holder: str, count: int, token_delta: int, now: float) -> None:
        """``count`` of ``holder``'s slots are done with (sent and answered, or dropped);
        ``token_delta`` corrects the token estimates with what the vendor counted."""
        left = self.in_flight[holder] - count
        if left > 0:
            self.in_flight[holder] = left
        else:
            del self.in_flight[holder]
        if token_delta and self.limits.tpm:
            self._tokens.append((now, token_delta))

    def cool(self, until: float) -> None:
        self.cooldown_until = max(self.cooldown_until, until)

    def forget(self, holder: str) -> None:
        """A holder that is gone (its worker died): its slots in flight are over."""
        self.in_flight.pop(holder, None)
