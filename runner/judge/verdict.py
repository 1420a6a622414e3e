"""What a judge must answer, and reading its answer strictly.

The judge is asked for one JSON object, ``{"score": 0..1, "reason": "..."}``, through the
vendor's structured output where it has one (the schema below). Whatever came back is
read strictly either way: one JSON object (a single Markdown code fence around it is
tolerated, since models without structured output add one), a number ``score`` from 0 to
1 (not a string, not a boolean, not 0..100) and a non-empty string ``reason``. Anything
else is not a score, and the judgement fails rather than guessing.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

#: The answer's JSON Schema. OpenAI's strict mode wants every property required and no
#: others, and does not promise ``minimum``/``maximum``, so the range is checked here.
JUDGEMENT_SCHEMA: dict[str, Any] = {
    "title": "judgement",
    "type": "object",
    "properties": {
        "score": {
            "type": "number",
            "description": "0 (fails the rubric) to 1 (fully meets it)",
        },
        "reason": {
            "type": "string",
            "description": "one or two sentences: what decided the score",
        },
    },
    "required": ["score", "reason"],
    "additionalProperties": False,
}

#: Reasons are kept in the run log and shown in ``jobs show``: a sentence, not an essay.
MAX_REASON_CHARS = 1000

_FENCE = re.compile(r"\A```(?:json)?\s*\n?(.*?)\n?```\Z", re.DOTALL)


class VerdictError(ValueError):
    """The judge answered, but not with a score."""


@dataclass(frozen=True)
class Verdict:
    score: float
    reason: str


def parse_verdict(answer: str) -> Verdict:
    text = answer.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    try:
        data = json.loads(text)
    except ValueError:
        raise VerdictError(f"the judge's answer is not JSON: {_excerpt(answer)}") from None
    if not isinstance(data, dict):
        raise VerdictError(f"the judge's answer is not a JSON object: {_excerpt(answer)}")
    score = data.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        raise VerdictError(f"the judge's score is not a number: {_excerpt(answer)}")
    if not 0.0 <= score <= 1.0:
        raise VerdictError(f"the judge's score {score!r} is outside 0..1")
    reason = data.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise VerdictError(f"the judge gave no reason: {_excerpt(answer)}")
    return Verdict(float(score), reason.strip()[:MAX_REASON_CHARS])


def _excerpt(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")
