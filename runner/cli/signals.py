"""SIGTERM and Ctrl-C stop a run gracefully: what was paid for is kept and recorded.

The first signal (SIGTERM is what CI runners, Kubernetes, systemd and ``timeout`` send)
stops dispatching: no new paid call starts, calls in flight get ``--grace`` seconds to
finish and be recorded, then they are cancelled and recorded as interrupted. The run
still prints its summary (``--json`` too) and exits 143 (SIGTERM) or 130 (SIGINT). A
second signal cancels the calls in flight at once.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import click

from runner.engine.stopping import Stopper

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_GRACE_S = 30.0
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


def grace_option(func: F) -> F:
    decorator = click.option(
        "--grace",
        "grace_s",
        type=click.FloatRange(0),
        default=DEFAULT_GRACE_S,
        show_default=True,
        metavar="SECONDS",
        help="On SIGTERM or Ctrl-C: no new calls start, and calls in flight get this long "
        "to finish and be recorded; a second signal stops them at once.",
    )
    return decorator(func)


class StopSignals:
    """Handlers for SIGINT and SIGTERM on the running loop, driving a :class:`Stopper`."""

    def __init__(
        self,
        stopper: Stopper,
        *,
        grace_s: float,
        say: Callable[[str], None],
        on_first: Callable[[], None] | None = None,
    ) -> None:
        self.stopper = stopper
        self.grace_s = grace_s
        self.say = say
        self.on_first = on_first
        #: The first signal received, if any.
        self.received: signal.Signals | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.received, 130) if self.received else 130

    def handle(self, signum: signal.Signals) -> None:
        name = signum.name
        if self.received is None:
            self.received = signum
            self.stopper.soft("interrupted", f"stopped by {name}")
            if self.on_first is not None:
                self.on_first()
            running = len(self.stopper.running)
            self.say(
                f"{name}: stopping; no new calls start. Waiting up to {self.grace_s:g}s for "
                f"{running} job(s) in flight to finish and be recorded "
                "(send the signal again to stop them now)"
            )
            reason = f"stopped by {name}; the {self.grace_s:g}s grace period ran out"
            self._timer = asyncio.get_running_loop().call_later(
                self.grace_s, self.stopper.hard, reason
            )
        else:
            self.say(f"{name} again: cancelling the jobs in flight")
            self.stopper.hard(f"stopped by a second {name}")

    def cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


@asynccontextmanager
async def stop_signals(
    stopper: Stopper,
    *,
    grace_s: float,
    say: Callable[[str], None] | None = None,
    on_first: Callable[[], None] | None = None,
) -> AsyncIterator[StopSignals]:
    handler = StopSignals(stopper, grace_s=grace_s, say=say or _say, on_first=on_first)
    loop = asyncio.get_running_loop()
    installed: dict[signal.Signals, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        try:
            loop.add_signal_handler(signum, handler.handle, signum)
            installed[signum] = previous
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    try:
        yield handler
    finally:
        handler.cancel_timer()
        for signum, previous in installed.items():
            loop.remove_signal_handler(signum)
            # asyncio leaves the default action behind; the CLI's own handler goes back.
            signal.signal(signum, previous)


def _say(message: str) -> None:
    click.echo(click.style(f"mediamix: {message}", fg="yellow"), err=True)
