"""How a run looks on a terminal: one line per finished job, counted per step; failed
attempts (and so fallbacks) in yellow; waits, starts and skips of candidates with -v."""

from __future__ import annotations

import sys
import time
from collections import Counter

import click

from runner.engine.services import Progress


class ProgressPrinter:
    """Prints engine progress to stderr; quiet mode prints only failed jobs."""

    def __init__(self, *, quiet: bool = False, verbose: bool = False) -> None:
        self.quiet = quiet
        self.verbose = verbose
        self.tty = sys.stderr.isatty()
        self.t0 = time.monotonic()
        self.done = 0
        self.failed = 0
        #: Jobs per step (from step_started) and how many of them have finished.
        self._jobs: dict[str, int] = {}
        self._finished: Counter[str] = Counter()

    def _echo(self, text: str, *, fg: str | None = None, dim: bool = False) -> None:
        stamp = f"{time.monotonic() - self.t0:6.1f}s"
        line = f"{stamp}  {text}"
        click.echo(click.style(line, fg=fg, dim=dim) if self.tty else line, err=True)

    def _step(self, event: Progress) -> str:
        """The step's name, with "[finished/total]" once a step has several jobs."""
        step = event.step_id or ""
        total = self._jobs.get(step, 0)
        return f"{step} [{self._finished[step]}/{total}]" if total > 1 else step

    def __call__(self, event: Progress) -> None:
        kind = event.kind
        if kind == "step_started":
            self._jobs[event.step_id or ""] = int(event.data.get("jobs", 0))
            if self.verbose:
                self._echo(f"step   {event.step_id}  {event.message}", dim=True)
        elif kind == "job_finished":
            self._finished[event.step_id or ""] += 1
            ok = event.data.get("status") == "succeeded"
            self.done += ok
            self.failed += not ok
            if ok and not self.quiet:
                self._echo(f"done   {self._step(event)}  {event.message}", fg="green")
            elif not ok:
                self._echo(f"FAILED {self._step(event)}  {event.message}", fg="red")
        elif kind == "notice":  # shown even when quiet: it is about the run log itself
            self._echo(f"note   {event.message}", fg="yellow")
        elif kind == "skipped":
            self._finished[event.step_id or ""] += 1
            if not self.quiet:
                self._echo(f"skip   {self._step(event)}  {event.message}", dim=True)
        elif self.quiet:
            return
        elif kind == "attempt_failed":
            self._echo(f"fail   {event.step_id}  {event.message}", fg="yellow")
        elif kind == "waiting" and self.verbose:
            self._echo(f"wait   {event.step_id}  {event.message}", dim=True)
        elif kind == "job_started" and self.verbose:
            self._echo(f"start  {event.step_id}  {event.message}", dim=True)
