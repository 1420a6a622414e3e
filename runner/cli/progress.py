"""How a run looks on a terminal: one line per finished job, waits and fallbacks dimmed."""

from __future__ import annotations

import sys
import time

import click

from runner.engine.services import Progress


class ProgressPrinter:
    """Prints engine progress to stderr; quiet mode prints only failures."""

    def __init__(self, *, quiet: bool = False, verbose: bool = False) -> None:
        self.quiet = quiet
        self.verbose = verbose
        self.tty = sys.stderr.isatty()
        self.t0 = time.monotonic()
        self.done = 0
        self.failed = 0

    def _echo(self, text: str, *, fg: str | None = None, dim: bool = False) -> None:
        stamp = f"{time.monotonic() - self.t0:6.1f}s"
        line = f"{stamp}  {text}"
        click.echo(click.style(line, fg=fg, dim=dim) if self.tty else line, err=True)

    def __call__(self, event: Progress) -> None:
        if event.kind == "job_finished":
            ok = event.data.get("status") == "succeeded"
            self.done += ok
            self.failed += not ok
            if ok and not self.quiet:
                self._echo(f"done   {event.step_id}  {event.message}", fg="green")
            elif not ok:
                self._echo(f"FAILED {event.step_id}  {event.message}", fg="red")
        elif event.kind == "skipped" and not self.quiet:
            self._echo(f"skip   {event.step_id}  {event.message}", dim=True)
        elif event.kind in ("candidate_failed", "waiting") and not self.quiet:
            self._echo(f"retry  {event.step_id}  {event.message}", fg="yellow")
        elif event.kind == "candidate_skipped" and self.verbose:
            self._echo(f"skip   {event.step_id}  {event.message}", dim=True)
        elif event.kind == "job_started" and self.verbose:
            self._echo(f"start  {event.step_id}  {event.message}", dim=True)
