"""What the coordinator knows about one cluster batch, as plain Python (no Dask here).

- **Rows**: each row runs on one worker. A chunk claims its rows before running them; a
  row that is done (its outcome arrived) or held by a live worker is not handed out again.
  When a worker dies, the rows it held are free again and the client is told (its chunk
  runs again elsewhere, and finds its finished rows done).
- **Job claims**: one idempotency key runs on one worker at a time. A worker that finishes
  a key successfully releases it with its artifacts, so whoever claims it next reuses them
  instead of paying again (this is also how a row re-run after a worker died finds the
  jobs that worker had already finished).
- **The outbox**: what workers send for the client (run-log records, row starts, row
  outcomes), opaque bytes kept in order until the client has taken them. A worker's
  records and the row outcome they lead to arrive in one message, and the row counts as
  done in the same step, so a row is never both done and without its records.
- **Budget**: one cap for the cluster. Workers take headroom in small slices and report
  what they spent; a worker that dies is charged its whole slice (what it had in flight
  may have been paid).
- **Stop**: the client's soft stop (no new rows, no new paid calls) or hard stop (cancel
  calls in flight), passed to every worker in its next reply.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

#: Outbox entry kinds.
STREAM = "stream"  # bytes from a worker: pickled run-log records, row starts, outcomes
ABANDONED = "abandoned"  # rows a dead worker held: (worker, [rows])
STOP_RANK = {"rows": 1, "soft": 2, "hard": 3}


@dataclass
class SharedBudget:
    cap: float | None
    spent: float = 0.0
    #: Headroom handed to each worker and not yet reported spent or given back.
    held: dict[str, float] = field(default_factory=dict)

    @property
    def exhausted(self) -> bool:
        return self.cap is not None and self.spent >= self.cap

    def available(self) -> float:
        if self.cap is None:
            return float("inf")
        return self.cap - self.spent - sum(self.held.values())

    def grant(self, worker: str, want: float, at_least: float) -> float:
        """Up to ``want`` of headroom, or 0 when not even ``at_least`` is left."""
        if self.cap is None:
            return want
        given = min(want, self.available())
        if given < at_least or given <= 0:
            return 0.0
        self.held[worker] = self.held.get(worker, 0.0) + given
        return given

    def report(self, worker: str, *, consumed: float, spent: float, returned: float) -> None:
        """``consumed`` of the worker's headroom went to calls that cost ``spent``;
        ``returned`` is headroom it no longer needs."""
        self.spent += spent
        if self.cap is None:
            return
        left = self.held.get(worker, 0.0) - consumed - returned
        if left > 1e-12:
            self.held[worker] = left
        else:
            self.held.pop(worker, None)

    def worker_gone(self, worker: str) -> None:
        self.spent += self.held.pop(worker, 0.0)


@dataclass
class KeyClaim:
    """The answer to a worker asking to run a key."""

    #: "yours": run it (or reuse ``artifacts``, which a finished holder left); "wait".
    state: str
    artifacts: list[dict[str, Any]] | None = None


class BatchState:
    def __init__(self, batch_id: str, client: str, context: bytes, cap_usd: float | None) -> None:
        self.batch_id = batch_id
        #: The Dask client that opened the batch: when it goes, the batch stops.
        self.client = client
        #: Pickled :class:`~runner.cluster.worker.BatchContext`, fetched once per worker.
        self.context = context
        self.budget = SharedBudget(cap_usd)
        self.rows_done: set[int] = set()
        self.rows_held: dict[int, str] = {}
        self.keys_held: dict[str, str] = {}
        self.keys_done: dict[str, list[dict[str, Any]]] = {}
        self.workers: set[str] = set()
        self.gone: set[str] = set()
        self.outbox: deque[tuple[int, str, Any]] = deque()
        self._serial = 0
        #: "soft" (no new rows or paid calls) or "hard" (cancel calls in flight).
        self.stop: str | None = None
        self.stop_reason: str | None = None

    # -- rows ------------------------------------------------------------------------------

    def claim_rows(self, worker: str, rows: Iterable[int]) -> tuple[list[int], list[int]]:
        """(rows ``worker`` may run now, rows another live worker holds)."""
        self.workers.add(worker)
        mine: list[int] = []
        busy: list[int] = []
        for row in rows:
            if row in self.rows_done:
                continue
            holder = self.rows_held.get(row)
            if holder is None or holder == worker or holder in self.gone:
                self.rows_held[row] = worker
                mine.append(row)
            else:
                busy.append(row)
        return mine, busy

    # -- keys ------------------------------------------------------------------------------

    def claim_key(self, worker: str, key: str) -> KeyClaim:
        holder = self.keys_held.get(key)
        if holder is not None and holder != worker and holder not in self.gone:
            return KeyClaim("wait")
        self.keys_held[key] = worker
        return KeyClaim("yours", self.keys_done.get(key))

    def release_key(self, worker: str, key: str, artifacts: list[dict[str, Any]] | None) -> None:
        if artifacts is not None:
            self.keys_done[key] = artifacts
        if self.keys_held.get(key) == worker:
            del self.keys_held[key]

    # -- the stream to the client -----------------------------------------------------------

    def put(self, worker: str, payload: bytes | None, rows_done: Iterable[int]) -> None:
        """A worker's records and outcomes (in order), and the rows they finished."""
        self.workers.add(worker)
        if payload:
            self._append(STREAM, payload)
        for row in rows_done:
            self.rows_done.add(row)
            if self.rows_held.get(row) == worker:
                del self.rows_held[row]

    def _append(self, kind: str, payload: Any) -> None:
        self._serial += 1
        self.outbox.append((self._serial, kind, payload))

    def take(self, acked: int) -> list[tuple[int, str, Any]]:
        """Drop what the client has written (serials up to ``acked``); the rest, in order."""
        while self.outbox and self.outbox[0][0] <= acked:
            self.outbox.popleft()
        return list(self.outbox)

    # -- workers that die ---------------------------------------------------------------------

    def worker_gone(self, worker: str) -> list[int]:
        """Free what a dead worker held; the rows it left unfinished, sorted."""
        if worker not in self.workers or worker in self.gone:
            return []
        self.gone.add(worker)
        rows = sorted(r for r, w in self.rows_held.items() if w == worker)
        for row in rows:
            del self.rows_held[row]
        for key in [k for k, w in self.keys_held.items() if w == worker]:
            del self.keys_held[key]
        self.budget.worker_gone(worker)
        if rows:
            self._append(ABANDONED, (worker, rows))
        return rows

    def request_stop(self, kind: str, reason: str) -> None:
        """ "rows": no new rows (fail-fast, budget); "soft": no new rows or paid calls
        (Ctrl-C, SIGTERM); "hard": cancel the calls in flight too. Never softer."""
        if STOP_RANK[kind] > STOP_RANK.get(self.stop or "", 0):
            self.stop, self.stop_reason = kind, reason
