"""How a run looks on a terminal: one line per finished job, counted per step; failed
attempts (and so fallbacks) in yellow; a vendor skipped for want of a key once per run,
with the variable that would enable it; warnings always; waits and starts with -v.

Items of a for_each are numbered from 1, as their files are (``cards #2`` wrote
``cards-2.png``); the ``(1/3 done)`` after it counts finished jobs of the step.
"""

from __future__ import annotations

import sys
import time
from collections import Counter

import click

from runner.engine.services import Progress


class ProgressPrinter:
    """Prints engine progress to stderr; quiet mode prints only failed jobs and warnings."""

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
        #: Candidates already reported as skipped (once per run is enough to act on).
        self._skips_said: set[str] = set()

    def _echo(self, text: str, *, fg: str | None = None, dim: bool = False) -> None:
        stamp = f"{time.monotonic() - self.t0:6.1f}s"
        line = f"{stamp}  {text}"
        click.echo(click.style(line, fg=fg, dim=dim) if self.tty else line, err=True)

    @staticmethod
    def _item(event: Progress) -> str:
        """The step, and the for_each item counted from 1 ("cards #2")."""
        number = event.data.get("item_number")
        return f"{event.step_id or ''} #{number}" if number is not None else event.step_id or ""

    def _finished_job(self, event: Progress) -> str:
        """The item, with "(finished/total done)" once a step has several jobs."""
        step = event.step_id or ""
        self._finished[step] += 1
        total = self._jobs.get(step, 0)
        count = f" ({self._finished[step]}/{total} done)" if total > 1 else ""
        return self._item(event) + count

    def __call__(self, event: Progress) -> None:
        kind = event.kind
        if kind == "step_started":
            self._jobs[event.step_id or ""] = int(event.data.get("jobs", 0))
            if self.verbose:
                self._echo(f"step   {event.step_id}  {event.message}", dim=True)
        elif kind == "job_finished":
            where = self._finished_job(event)
            ok = event.data.get("status") == "succeeded"
            self.done += ok
            self.failed += not ok
            if ok and not self.quiet:
                served = event.data.get("served_by")
                by = (
                    f"{served}{' (offline)' if event.data.get('offline') else ''}  "
                    if served
                    else ""
                )
                self._echo(f"done   {where}  {by}{event.message}", fg="green")
            elif not ok:
                self._echo(f"FAILED {where}  {event.message}", fg="red")
        elif kind == "notice":  # shown even when quiet: it is about the run log itself
            self._echo(f"note   {event.message}", fg="yellow")
        elif kind == "skipped":
            where = self._finished_job(event)
            if not self.quiet:
                verb = "reuse " if event.data.get("status") == "reused" else "skip  "
                self._echo(f"{verb} {where}  {event.message}", dim=True)
        elif kind == "warning":
            self._echo(f"warn   {self._item(event)}  {event.message}", fg="yellow")
        elif self.quiet:
            return
        elif kind == "candidate_skipped":
            self._candidate_skipped(event)
        elif kind == "attempt_failed":
            self._echo(f"fail   {self._item(event)}  {event.message}", fg="yellow")
        elif kind == "waiting" and self.verbose:
            self._echo(f"wait   {self._item(event)}  {event.message}", dim=True)
        elif kind == "job_started" and self.verbose:
            self._echo(f"start  {self._item(event)}  {event.message}", dim=True)

    def _candidate_skipped(self, event: Progress) -> None:
        label = str(event.data.get("candidate") or "")
        if label in self._skips_said and not self.verbose:
            return
        self._skips_said.add(label)
        reason = event.data.get("reason") or event.message
        # The line starts with the candidate: its hint need not name it again.
        enable = str(event.data.get("enable") or "")
        enable = enable.removeprefix(f"to use {label}: ").removesuffix(f" to use {label}")
        self._echo(f"skip   {label}  {reason}" + (f"; {enable}" if enable else ""), dim=True)
