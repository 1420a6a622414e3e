"""The requests a judgement makes: speech to text (audio only), then the judge's question.

Both are ordinary :class:`GenerationRequest` objects for the provider adapters, so judge
calls travel the same transport, accounts and error classes as generation calls. The
vendor's format (image parts, structured output) is the adapter's business: the judge
says *what* to send (pictures as image inputs, ``response_schema``), not how.
"""

from __future__ import annotations

from pathlib import Path

from runner.config.model import Judge
from runner.judge.exhibit import Exhibit
from runner.judge.verdict import JUDGEMENT_SCHEMA
from runner.providers.base import GenerationRequest, InputAsset, Usage

#: Seconds per judge call when the block sets no timeout.
DEFAULT_JUDGE_TIMEOUT_S = 120.0
#: For budget estimates: what a picture costs a vision model in input tokens (OpenAI
#: bills a 1024px tile image ~765 tokens at high detail; Anthropic ~1,600 at 1.15 MP).
PICTURE_TOKENS_ESTIMATE = 1600
#: For budget estimates: the most a score-and-reason answer takes, when params set none.
ANSWER_TOKENS_ESTIMATE = 300

SYSTEM = (
    "You are a strict, fair quality judge for generated media. You score one artifact "
    "against a rubric and answer only with the JSON object you are asked for."
)


def judge_question(judge_rubric: str, exhibit: Exhibit, prompt: str) -> str:
    """What the judge is asked: the request, the rubric, what it is shown, the answer form."""
    parts = [
        f"A {exhibit.media_type} was generated for this request:",
        f"<request>\n{prompt}\n</request>",
        f"Rubric:\n{judge_rubric}",
        f"You are shown {exhibit.description}.",
    ]
    if exhibit.text is not None:
        parts.append(f"<artifact>\n{exhibit.text}\n</artifact>")
    parts.append(
        'Answer with one JSON object: {"score": a number from 0 (fails the rubric) to 1 '
        '(fully meets it), "reason": one or two sentences on what decided the score}.'
    )
    return "\n\n".join(parts)


def judge_request(judge: Judge, rubric: str, exhibit: Exhibit, prompt: str) -> GenerationRequest:
    return GenerationRequest(
        media_type="text",
        model=judge.model,
        prompt=judge_question(rubric, exhibit, prompt),
        params={"system": SYSTEM, **judge.params},
        inputs=tuple(exhibit.pictures),
        timeout=judge.timeout_s or DEFAULT_JUDGE_TIMEOUT_S,
        response_schema=JUDGEMENT_SCHEMA,
    )


def transcription_request(
    model: str, audio: Path, mime: str, *, timeout: float | None
) -> GenerationRequest:
    """Speech to text for ``audio``. No prompt hint on purpose: a hint with the script
    would steer the transcript toward what should have been said, hiding the mistakes
    the judge is there to hear."""
    return GenerationRequest(
        media_type="text",
        model=model,
        prompt="",
        inputs=(InputAsset(media_type="audio", mime=mime, path=str(audio)),),
        timeout=timeout or DEFAULT_JUDGE_TIMEOUT_S,
    )


def estimated_usage(request: GenerationRequest) -> Usage:
    """A generous guess at a judge call's tokens, for the budget's reservation."""
    text_tokens = (len(request.prompt) + len(str(request.params.get("system", "")))) // 4 + 1
    answer = request.params.get("max_tokens") or request.params.get("max_completion_tokens")
    return Usage(
        input_tokens=text_tokens + PICTURE_TOKENS_ESTIMATE * len(request.inputs),
        output_tokens=int(answer) if isinstance(answer, int) else ANSWER_TOKENS_ESTIMATE,
    )
