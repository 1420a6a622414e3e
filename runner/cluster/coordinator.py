"""The coordinator: a Dask SchedulerPlugin that gives every mediamix batch one place to meet.

It adds handlers to the scheduler, the way Dask's own Semaphore, Queue and Variable do
(``scheduler.handlers``), so workers and the client call it over the connections Dask
already has. It lives on the scheduler, not on a worker, so a worker that dies takes
nothing shared with it; the scheduler's ``remove_worker`` hook frees what that worker held.

Handlers (each takes ``batch``):

- ``mediamix_open`` (client): the batch's context, budget cap and account limits.
- ``mediamix_context`` (worker, once per batch): the pickled context.
- ``mediamix_rows`` (worker, once per chunk): which of the chunk's rows it may run.
- ``mediamix_sync`` (worker, whenever something is pending): records and outcomes for the
  client, finished rows, key claims and releases, slot leases and returns, 429 cooldowns,
  budget; the reply carries slots, claims, cooldowns, budget and stop.
- ``mediamix_take`` (client, long poll): the stream, in order.
- ``mediamix_stop`` / ``mediamix_close`` (client).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

from runner import __version__
from runner.cluster.limits import AccountLimits, AccountSlots
from runner.cluster.state import BatchState

PLUGIN_NAME = "mediamix-coordinator"
#: A batch whose client disappeared is forgotten this long after (its workers stop first).
_FORGET_AFTER_S = 60.0


class Coordinator(SchedulerPlugin):
    name = PLUGIN_NAME
    #: A second batch on the same scheduler finds the coordinator already there.
    idempotent = True

    def __init__(self) -> None:
        self.batches: dict[str, BatchState] = {}
        #: Account identity -> its cluster-wide slots (shared by batches using it).
        self.slots: dict[str, AccountSlots] = {}
        #: batch -> account name -> identity.
        self._accounts: dict[str, dict[str, str]] = {}
        self._arrived: dict[str, asyncio.Event] = {}
        self.scheduler: Any = None

    async def start(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        scheduler.handlers.update(
            {
                "mediamix_open": self.open,
                "mediamix_context": self.context,
                "mediamix_rows": self.rows,
                "mediamix_sync": self.sync,
                "mediamix_take": self.take,
                "mediamix_stop": self.stop,
                "mediamix_close": self.close_batch,
            }
        )

    # -- client ---------------------------------------------------------------------------

    def open(
        self,
        batch: str,
        client: str,
        context: bytes,
        cap: float | None,
        accounts: dict[str, list[Any]],
    ) -> dict[str, Any]:
        """``accounts``: name -> [identity, rpm, rpd, tpm, max_concurrency]."""
        if batch not in self.batches:
            self.batches[batch] = BatchState(batch, client, context, cap)
            self._arrived[batch] = asyncio.Event()
        names: dict[str, str] = {}
        for name, (identity, rpm, rpd, tpm, concurrency) in accounts.items():
            limits = AccountLimits(rpm, rpd, tpm, concurrency)
            slots = self.slots.get(identity)
            if slots is None or slots.limits != limits:  # the latest batch's limits apply
                fresh = AccountSlots(limits)
                if slots is not None:
                    fresh.in_flight = slots.in_flight
                    fresh.cooldown_until = slots.cooldown_until
                self.slots[identity] = fresh
            names[name] = identity
        self._accounts[batch] = names
        return {"version": __version__}

    async def take(self, batch: str, acked: int, wait_s: float) -> dict[str, Any]:
        state = self.batches.get(batch)
        if state is None:
            return {"entries": [], "closed": True}
        entries = state.take(acked)
        if not entries and wait_s > 0:
            arrived = self._arrived[batch]
            arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), wait_s)
            entries = state.take(acked)
        return {"entries": entries, "closed": False, "spent": state.budget.spent}

    def stop(self, batch: str, kind: str, reason: str) -> None:
        state = self.batches.get(batch)
        if state is not None:
            state.request_stop(kind, reason)

    def close_batch(self, batch: str) -> None:
        state = self.batches.pop(batch, None)
        self._arrived.pop(batch, None)
        self._accounts.pop(batch, None)
        if state is not None:
            for slots in self.slots.values():
                for worker in state.workers:
                    slots.forget(_holder(batch, worker))

    # -- workers ----------------------------------------------------------------------------

    def context(self, batch: str) -> bytes | None:
        state = self.batches.get(batch)
        return state.context if state is not None else None

    def rows(self, batch: str, worker: str, rows: list[int]) -> dict[str, Any]:
        state = self.batches.get(batch)
        if state is None:
            return {"mine": [], "busy": [], "stop": "hard", "reason": "the batch is over"}
        mine, busy = state.claim_rows(worker, rows)
        return {"mine": mine, "busy": busy, "stop": state.stop, "reason": state.stop_reason}

    def sync(
        self,
        batch: str,
        worker: str,
        payload: bytes | None = None,
        rows_done: list[int] | None = None,
        claims: list[str] | None = None,
        releases: list[list[Any]] | None = None,
        leases: list[list[Any]] | None = None,
        finished: list[list[Any]] | None = None,
        cool: list[list[Any]] | None = None,
        budget: dict[str, float] | None = None,
    ) -> dict[str, Any]:
        state = self.batches.get(batch)
        if state is None:
            return {"stop": "hard", "reason": "the batch is over", "closed": True}
        now, wall = time.monotonic(), time.time()
        holder = _holder(batch, worker)
        names = self._accounts.get(batch, {})
        # Releases first: a key released with its artifacts is reusable by this very
        # message's claims, and its records are in the outbox before anyone reuses it.
        if payload or rows_done:
            state.put(worker, payload, rows_done or [])
            self._arrived[batch].set()
        for key, artifacts in releases or []:
            state.release_key(worker, key, artifacts)
        for account, count, token_delta in finished or []:
            slots = self._slots(names, account)
            if slots is not None:
                slots.finished(holder, int(count), int(token_delta), now)
        cooled: dict[str, float] = {}
        for account, seconds in cool or []:
            slots = self._slots(names, account)
            if slots is not None:
                slots.cool(now + float(seconds))
                cooled[account] = float(seconds)
        if cooled:
            self._tell_others(batch, state, worker, cooled)
        reply: dict[str, Any] = {"stop": state.stop, "reason": state.stop_reason, "wall": wall}
        if claims:
            answered = {key: state.claim_key(worker, key) for key in claims}
            reply["claims"] = {k: [c.state, c.artifacts] for k, c in answered.items()}
        if leases:
            granted: dict[str, list[float]] = {}
            for account, want, tokens in leases:
                slots = self._slots(names, account)
                if slots is not None:
                    granted[account] = [t - now for t in slots.grant(holder, want, tokens, now)]
            reply["slots"] = granted
        reply["cooldowns"] = {
            account: slots.cooldown_until - now
            for account in names
            if (slots := self._slots(names, account)) is not None and slots.cooldown_until > now
        }
        if budget:
            state.budget.report(
                worker,
                consumed=budget.get("consumed", 0.0),
                spent=budget.get("spent", 0.0),
                returned=budget.get("returned", 0.0),
            )
            want = budget.get("want", 0.0)
            if want:
                reply["granted"] = state.budget.grant(worker, want, budget.get("at_least", want))
        reply["spent"] = state.budget.spent
        reply["exhausted"] = state.budget.exhausted
        return reply

    def _slots(self, names: dict[str, str], account: str) -> AccountSlots | None:
        identity = names.get(account)
        return self.slots.get(identity) if identity is not None else None

    def _tell_others(
        self, batch: str, state: BatchState, sender: str, cooled: dict[str, float]
    ) -> None:
        """A 429 cools the account on every worker now, not at their next reply."""
        others = [w for w in state.workers if w != sender and w in self.scheduler.workers]
        if not others:
            return
        msg = {"op": "mediamix_cool", "batch": batch, "cooled": cooled}
        self.scheduler._ongoing_background_tasks.call_soon(
            self.scheduler.broadcast, msg=msg, workers=others, on_error="ignore"
        )

    # -- scheduler hooks -----------------------------------------------------------------------

    def remove_worker(self, scheduler: Any, worker: str, **kwargs: Any) -> None:
        for batch, state in self.batches.items():
            if state.worker_gone(worker):
                self._arrived[batch].set()
            for slots in self.slots.values():
                slots.forget(_holder(batch, worker))

    def remove_client(self, scheduler: Any, client: str) -> None:
        for batch, state in list(self.batches.items()):
            if state.client == client:
                state.request_stop("hard", "the mediamix client that ran the batch is gone")
                asyncio.get_running_loop().call_later(_FORGET_AFTER_S, self.close_batch, batch)


def _holder(batch: str, worker: str) -> str:
    return f"{batch}|{worker}"
