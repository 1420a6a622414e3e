"""What a person watching `mediamix run` sees on stderr."""

from __future__ import annotations

import re

import pytest

from runner.cli.progress import ProgressPrinter
from runner.engine.services import Progress

SKIP = {
    "candidate": "openai/dall-e-3",
    "reason": "OPENAI_API_KEY is not set (account openai-main)",
    "enable": "set OPENAI_API_KEY to use openai/dall-e-3",
}
EVENTS = [
    Progress("step_started", "cards", None, "3 job(s)", {"jobs": 3}),
    Progress("step_started", "script", None, "1 job(s)", {"jobs": 1}),
    Progress("job_started", "cards", "j1", "image", {"item_number": 2}),
    Progress("candidate_skipped", "cards", "j1", "...", {**SKIP, "item_number": 2}),
    Progress("candidate_skipped", "cards", "j2", "...", {**SKIP, "item_number": 1}),
    Progress(
        "attempt_failed",
        "cards",
        "j1",
        "openai/gpt-image-1 attempt 1: permanent: 400 bad",
        {"item_number": 2},
    ),
    Progress(
        "waiting",
        "cards",
        "j2",
        "retrying openai/gpt-image-1 in 2.0s after transient",
        {"item_number": 1},
    ),
    Progress(
        "job_finished",
        "cards",
        "j1",
        "file:///o/cards-2.png",
        {"status": "succeeded", "item_number": 2, "served_by": "local/card", "offline": True},
    ),
    Progress(
        "skipped",
        "cards",
        "j2",
        "already succeeded earlier",
        {"status": "reused", "item_number": 1},
    ),
    Progress("warning", "cards", "j3", "openai/dall-e-2 returned 1 of 3", {"item_number": 3}),
    Progress(
        "job_finished",
        "cards",
        "j3",
        "every candidate failed",
        {"status": "failed", "item_number": 3},
    ),
    Progress(
        "job_finished",
        "script",
        "j4",
        "file:///o/script.md",
        {"status": "succeeded", "served_by": "openai/gpt-4.1", "offline": False},
    ),
]


def shown(capsys: pytest.CaptureFixture[str], **options: bool) -> list[str]:
    printer = ProgressPrinter(**options)
    for event in EVENTS:
        printer(event)
    # Drop the elapsed-time stamp: what is left is what a person reads.
    return [re.sub(r"^\s*\d+\.\ds  ", "", line) for line in capsys.readouterr().err.splitlines()]


def test_jobs_are_counted_per_step_and_failed_attempts_are_shown(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Items count from 1 as their files do (cards #2 wrote cards-2.png); "(1/3 done)"
    # counts the step's finished jobs. A skipped vendor is said once, with what to set.
    assert shown(capsys) == [
        "skip   openai/dall-e-3  OPENAI_API_KEY is not set (account openai-main); "
        "set OPENAI_API_KEY",
        "fail   cards #2  openai/gpt-image-1 attempt 1: permanent: 400 bad",
        "done   cards #2 (1/3 done)  local/card (offline)  file:///o/cards-2.png",
        "reuse  cards #1 (2/3 done)  already succeeded earlier",
        "warn   cards #3  openai/dall-e-2 returned 1 of 3",
        "FAILED cards #3 (3/3 done)  every candidate failed",
        "done   script  openai/gpt-4.1  file:///o/script.md",  # one job: no counter
    ]


def test_verbose_adds_steps_starts_and_waits(capsys: pytest.CaptureFixture[str]) -> None:
    lines = shown(capsys, verbose=True)
    assert lines[:3] == [
        "step   cards  3 job(s)",
        "step   script  1 job(s)",
        "start  cards #2  image",
    ]
    assert "wait   cards #1  retrying openai/gpt-image-1 in 2.0s after transient" in lines
    # Verbose repeats a skipped vendor for every job that skipped it.
    assert sum(line.startswith("skip   openai/dall-e-3") for line in lines) == 2


def test_quiet_shows_only_failed_jobs_and_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    assert shown(capsys, quiet=True) == [
        "warn   cards #3  openai/dall-e-2 returned 1 of 3",  # warnings are never hidden
        "FAILED cards #3 (3/3 done)  every candidate failed",
    ]
