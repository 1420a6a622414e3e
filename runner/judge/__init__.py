"""Judges: a model scores each artifact against its prompt, so "valid" can mean "good".

This package knows what a judge is shown and asked, and how its answer is read; it makes
no calls. The engine (:mod:`runner.engine.judging`) makes them, through the same
accounts, limits, retries, budget and run log as every generation call.

- :mod:`runner.judge.exhibit`  what the judge sees of each media type
- :mod:`runner.judge.frames`   a few frames of a video (bundled ffmpeg)
- :mod:`runner.judge.request`  the transcription and judge requests, and their estimates
- :mod:`runner.judge.verdict`  the answer's schema and its strict reading
"""

from runner.judge.exhibit import Exhibit, ExhibitError, exhibit_for, transcript_exhibit
from runner.judge.request import estimated_usage, judge_request, transcription_request
from runner.judge.verdict import JUDGEMENT_SCHEMA, Verdict, VerdictError, parse_verdict

__all__ = [
    "JUDGEMENT_SCHEMA",
    "Exhibit",
    "ExhibitError",
    "Verdict",
    "VerdictError",
    "estimated_usage",
    "exhibit_for",
    "judge_request",
    "parse_verdict",
    "transcript_exhibit",
    "transcription_request",
]
