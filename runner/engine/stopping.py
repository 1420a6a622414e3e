"""Stopping a run without losing what was paid for.

:class:`Stopper` is shared by whoever may ask a run to stop (the CLI's signal handlers,
the HTTP server's cancel) and every engine it is passed to:

- :meth:`Stopper.soft` - no new paid call starts (no new job, no retry, no next
  candidate); calls in flight go on, and their answers are stored and recorded.
- :meth:`Stopper.hard` - calls still in flight are cancelled now; their jobs are recorded
  as interrupted and the run still ends with a result and a summary.

The gate (:meth:`Stopper.check`) is also closed by the run log or the outputs running out
of space: a call whose answer cannot be kept must not be bought.
"""

from __future__ import annotations

import asyncio

from runner.errors import DispatchStopped


class Stopper:
    def __init__(self) -> None:
        #: Why dispatch stopped ("interrupted", "runlog", "storage"), and the message.
        self.kind: str | None = None
        self.reason: str | None = None
        #: Set once in-flight calls were cancelled.
        self.hard_stopped = False
        #: Tasks running a job right now (registered by the engine), for a hard stop.
        self.running: set[asyncio.Task[object]] = set()

    @property
    def stopping(self) -> bool:
        return self.kind is not None

    def soft(self, kind: str, reason: str) -> None:
        """Close the gate; the first reason given is the one kept."""
        if self.kind is None:
            self.kind, self.reason = kind, reason

    def hard(self, reason: str | None = None) -> None:
        self.soft("interrupted", reason or "stopped")
        self.hard_stopped = True
        for task in list(self.running):
            task.cancel()

    def check(self) -> None:
        """Raise :class:`DispatchStopped` once the gate is closed (before any paid call)."""
        if self.kind is not None:
            raise DispatchStopped(self.kind, f"not dispatched: {self.reason}")
