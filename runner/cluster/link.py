"""A worker's line to the coordinator: whatever is pending goes in one small RPC at a time.

Run-log records, row starts and outcomes, key claims and releases, slot leases and returns,
429 cooldowns and budget reports queue up here; one sender task sends all of it in a
single ``mediamix_sync`` call, then sends whatever queued up meanwhile. Under load that
batches hundreds of items per call; when it is quiet each item goes out at once. Nothing on
the engine's hot path waits for the scheduler except what must: a key claim (once per job)
and a lease when the slots in hand run out.

:class:`StreamSink` is the engine's run-log sink on a worker: records go into this queue
(stamped with the worker's address) and reach the client's run log through the
coordinator, in order, as they happen.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from runner.runlog.records import AttemptRecord, JobRecord, Record

#: How often a worker with rows in flight checks in when it has nothing to send (stop
#: orders and budget news reach it at least this fast).
HEARTBEAT_S = 0.25
_RETRY_S = (0.05, 0.1, 0.2, 0.5, 1.0)
#: A worker that cannot reach the scheduler for this long gives up its rows.
GIVE_UP_S = 30.0

Call = Callable[..., Awaitable[Any]]
Reply = dict[str, Any]


class CoordinatorLink:
    def __init__(self, call: Call, batch: str, worker: str) -> None:
        self._call = call
        self.batch = batch
        self.worker = worker
        self._stream: list[tuple[str, Any]] = []
        self._rows_done: list[int] = []
        self._claims: dict[str, list[asyncio.Future[tuple[str, Any]]]] = {}
        self._releases: list[list[Any]] = []
        self._leases: dict[str, list[int]] = {}
        self._finished: dict[str, list[int]] = {}
        self._cool: dict[str, float] = {}
        self._spend = {"consumed": 0.0, "spent": 0.0, "returned": 0.0}
        self._budget_asks: list[tuple[float, float, asyncio.Future[float]]] = []
        self._listeners: list[Callable[[Reply], None]] = []
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._closed = False
        #: Rows in flight on this worker: while there are, it checks in every heartbeat.
        self.active = 0
        #: What the coordinator said last: "rows" | "soft" | "hard" | None, and why.
        self.stop: str | None = None
        self.stop_reason: str | None = None
        self.spent = 0.0
        self.exhausted = False
        #: Why the scheduler cannot be reached right now (None: it can).
        self.error: str | None = None
        self._task = asyncio.create_task(self._run(), name=f"mediamix-link-{batch}")

    # -- queueing --------------------------------------------------------------------------

    def _queued(self) -> None:
        self._drained.clear()
        self._wake.set()

    def record(self, item: tuple[str, Any]) -> None:
        """A stream item for the client: ("r", record), ("s", row) or ("o", outcome)."""
        self._stream.append(item)
        self._queued()

    def row_done(self, row: int, outcome: Any) -> None:
        """A row's outcome and the row's end travel together: done means recorded."""
        self._stream.append(("o", outcome))
        self._rows_done.append(row)
        self._queued()

    def release(self, key: str, artifacts: list[dict[str, Any]] | None) -> None:
        self._releases.append([key, artifacts])
        self._queued()

    def lease(self, account: str, want: int, tokens: int) -> None:
        self._leases[account] = [want, tokens]
        self._queued()

    def finished(self, account: str, count: int, token_delta: int) -> None:
        entry = self._finished.setdefault(account, [0, 0])
        entry[0] += count
        entry[1] += token_delta
        self._queued()

    def cool(self, account: str, seconds: float) -> None:
        self._cool[account] = max(seconds, self._cool.get(account, 0.0))
        self._queued()

    def report_spend(
        self, *, consumed: float = 0.0, spent: float = 0.0, returned: float = 0.0
    ) -> None:
        self._spend["consumed"] += consumed
        self._spend["spent"] += spent
        self._spend["returned"] += returned
        self._queued()

    async def claim(self, key: str) -> tuple[str, Any]:
        """("yours", artifacts or None) or ("wait", None) for one idempotency key."""
        future: asyncio.Future[tuple[str, Any]] = asyncio.get_running_loop().create_future()
        self._claims.setdefault(key, []).append(future)
        self._queued()
        return await future

    async def budget(self, want: float, at_least: float) -> float:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._budget_asks.append((want, at_least, future))
        self._queued()
        return await future

    def on_reply(self, listener: Callable[[Reply], None]) -> None:
        self._listeners.append(listener)

    async def call(self, op: str, **kwargs: Any) -> Any:
        """A direct call to a coordinator handler (outside the queue)."""
        return await self._call(op, batch=self.batch, worker=self.worker, **kwargs)

    def wake(self) -> None:
        self._wake.set()

    async def drain(self) -> None:
        """Wait until everything queued so far has reached the coordinator."""
        self._wake.set()
        await self._drained.wait()

    async def close(self) -> None:
        self._closed = True
        self._wake.set()
        with contextlib.suppress(BaseException):
            await self._task

    # -- sending ---------------------------------------------------------------------------

    def _pending(self) -> bool:
        return bool(
            self._stream
            or self._rows_done
            or self._claims
            or self._releases
            or self._leases
            or self._finished
            or self._cool
            or self._budget_asks
            or any(self._spend.values())
        )

    def _take(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The message for everything pending, and what to put back if it fails."""
        taken: dict[str, Any] = {
            "stream": self._stream,
            "rows_done": self._rows_done,
            "claims": self._claims,
            "releases": self._releases,
            "leases": self._leases,
            "finished": self._finished,
            "cool": self._cool,
            "spend": self._spend,
            "asks": self._budget_asks,
        }
        self._stream, self._rows_done, self._claims, self._releases = [], [], {}, []
        self._leases, self._finished, self._cool, self._budget_asks = {}, {}, {}, []
        self._spend = {"consumed": 0.0, "spent": 0.0, "returned": 0.0}
        budget: dict[str, float] = {k: v for k, v in taken["spend"].items() if v}
        if taken["asks"]:
            budget["want"] = sum(want for want, _, _ in taken["asks"])
            budget["at_least"] = max(least for _, least, _ in taken["asks"])
        message: dict[str, Any] = {
            "payload": pickle.dumps(taken["stream"], protocol=5) if taken["stream"] else None,
            "rows_done": taken["rows_done"] or None,
            "claims": list(taken["claims"]) or None,
            "releases": taken["releases"] or None,
            "leases": [[a, w, t] for a, (w, t) in taken["leases"].items()] or None,
            "finished": [[a, c, d] for a, (c, d) in taken["finished"].items()] or None,
            "cool": [[a, s] for a, s in taken["cool"].items()] or None,
            "budget": budget or None,
        }
        return message, taken

    def _put_back(self, taken: dict[str, Any]) -> None:
        self._stream[:0] = taken["stream"]
        self._rows_done[:0] = taken["rows_done"]
        for key, futures in taken["claims"].items():
            self._claims.setdefault(key, [])[:0] = futures
        self._releases[:0] = taken["releases"]
        for account, lease in taken["leases"].items():
            self._leases.setdefault(account, lease)
        for account, (count, delta) in taken["finished"].items():
            entry = self._finished.setdefault(account, [0, 0])
            entry[0] += count
            entry[1] += delta
        for account, seconds in taken["cool"].items():
            self._cool[account] = max(seconds, self._cool.get(account, 0.0))
        for name, value in taken["spend"].items():
            self._spend[name] += value
        self._budget_asks[:0] = taken["asks"]

    async def _run(self) -> None:
        failing_since: float | None = None
        failures = 0
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending():
                if self._closed:
                    return
                self._drained.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), HEARTBEAT_S)
                self._wake.clear()
                if not self._pending() and not self.active:
                    continue
            message, taken = self._take()
            sent, sent_wall = time.monotonic(), time.time()
            try:
                reply = await self._call(
                    "mediamix_sync", batch=self.batch, worker=self.worker, **message
                )
            except asyncio.CancelledError:
                self._put_back(taken)
                raise
            except Exception as exc:  # the scheduler's comm errors are OSError or Dask's own
                self._put_back(taken)
                now = loop.time()
                failing_since = failing_since or now
                self.error = f"the Dask scheduler cannot be reached ({type(exc).__name__}: {exc})"
                if now - failing_since > GIVE_UP_S:
                    self._give_up()
                    return
                await asyncio.sleep(_RETRY_S[min(failures, len(_RETRY_S) - 1)])
                failures += 1
                continue
            failing_since, failures, self.error = None, 0, None
            reply["at"] = _their_now(reply.get("wall"), sent, sent_wall)
            self._answer(reply, taken)

    def _answer(self, reply: Reply, taken: dict[str, Any]) -> None:
        self.stop = reply.get("stop")
        self.stop_reason = reply.get("reason")
        self.spent = float(reply.get("spent") or 0.0)
        self.exhausted = bool(reply.get("exhausted"))
        answers = reply.get("claims") or {}
        for key, futures in taken["claims"].items():
            state, artifacts = answers.get(key, ("wait", None))
            for future in futures:
                if not future.done():
                    future.set_result((state, artifacts))
        granted = float(reply.get("granted") or 0.0)
        for want, _, future in taken["asks"]:
            # One grant for all asks in this message: share it out in asking order.
            share = min(want, granted)
            granted -= share
            if not future.done():
                future.set_result(share)
        for listener in self._listeners:
            listener(reply)

    def _give_up(self) -> None:
        self.stop, self.stop_reason = "hard", self.error
        for futures in self._claims.values():
            for future in futures:
                if not future.done():
                    future.set_result(("wait", None))
        for _, _, asked in self._budget_asks:
            if not asked.done():
                asked.set_result(0.0)
        self._drained.set()


def _their_now(wall: float | None, sent: float, sent_wall: float) -> float:
    """The coordinator's "now" of a reply on this process's monotonic clock (slot delays
    count from it). When the wall clocks agree (one machine, or NTP within the round
    trip), its wall time places it exactly, however slowly the answer travelled back;
    otherwise the round trip's midpoint is the best guess."""
    back, back_wall = time.monotonic(), time.time()
    if wall is not None and sent_wall - 0.002 <= wall <= back_wall + 0.002:
        return back - (back_wall - wall)
    return (sent + back) / 2


class StreamSink:
    """The run-log sink of an engine on a Dask worker: records stream to the client."""

    def __init__(self, link: CoordinatorLink) -> None:
        self.link = link

    def write(self, record: Record) -> None:
        if isinstance(record, JobRecord | AttemptRecord):
            record.worker = self.link.worker
        self.link.record(("r", record))

    def write_all(self, records: Sequence[Record]) -> None:
        for record in records:
            self.write(record)

    def flush(self) -> None:
        self.link.wake()

    def close(self) -> None:
        self.link.wake()

    def problem(self) -> str | None:
        return self.link.error
