"""What a person watching `mediamix run` sees on stderr."""

from __future__ import annotations

import re

import pytest

from runner.cli.progress import ProgressPrinter
from runner.engine.services import Progress

EVENTS = [
    Progress("step_started", "cards", None, "3 job(s)", {"jobs": 3}),
    Progress("step_started", "script", None, "1 job(s)", {"jobs": 1}),
    Progress("job_started", "cards", "j1", "image"),
    Progress("attempt_failed", "cards", "j1", "openai/dall-e-3 attempt 1: permanent: 400 bad"),
    Progress("waiting", "cards", "j2", "retrying openai/dall-e-3 in 2.0s after transient"),
    Progress("job_finished", "cards", "j1", "file:///o/cards-1.png", {"status": "succeeded"}),
    Progress("skipped", "cards", "j2", "already succeeded earlier", {"status": "reused"}),
    Progress("job_finished", "cards", "j3", "every candidate failed", {"status": "failed"}),
    Progress("job_finished", "script", "j4", "file:///o/script.md", {"status": "succeeded"}),
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
    assert shown(capsys) == [
        "fail   cards  openai/dall-e-3 attempt 1: permanent: 400 bad",
        "done   cards [1/3]  file:///o/cards-1.png",
        "skip   cards [2/3]  already succeeded earlier",
        "FAILED cards [3/3]  every candidate failed",
        "done   script  file:///o/script.md",  # one job: no counter
    ]


def test_verbose_adds_steps_starts_and_waits(capsys: pytest.CaptureFixture[str]) -> None:
    lines = shown(capsys, verbose=True)
    assert lines[:4] == [
        "step   cards  3 job(s)",
        "step   script  1 job(s)",
        "start  cards  image",
        "fail   cards  openai/dall-e-3 attempt 1: permanent: 400 bad",
    ]
    assert "wait   cards  retrying openai/dall-e-3 in 2.0s after transient" in lines


def test_quiet_shows_only_failed_jobs(capsys: pytest.CaptureFixture[str]) -> None:
    assert shown(capsys, quiet=True) == ["FAILED cards [3/3]  every candidate failed"]
