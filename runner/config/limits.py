"""The limits every way in shares: the command line and the HTTP API check the same numbers.

A value past one of these is refused before anything is planned, with a message naming
the option or field, so a typo (``max_attempts: 1000000``) never turns into a long, paid run.
"""

from __future__ import annotations

from typing import Final

#: Attempts per candidate (``--max-attempts``, ``maxAttempts``).
MAX_ATTEMPTS_MIN: Final = 1
MAX_ATTEMPTS_MAX: Final = 20

#: The one-shot workflows (``--workflow``, ``workflowType``).
WORKFLOWS: Final = ("simple", "adaptive")

#: Longest prompt accepted, in characters. Vendors' own caps are lower for most media
#: (DALL-E 3: 4,000; speech: 4,096; gpt-image-1: 32,000); text models take more, but a
#: prompt past this is almost always a mistake, and the offline image card lays out every
#: character of it.
MAX_PROMPT_CHARS: Final = 32_000

#: Pipeline inputs given in one request, as JSON text (the API; the CLI reads files).
MAX_INPUTS_JSON_BYTES: Final = 256 * 1024

#: Jobs running at once (``--concurrency``).
MAX_CONCURRENCY: Final = 4096


def prompt_problem(prompt: str) -> str | None:
    """Why ``prompt`` cannot be used (None when it can)."""
    if not prompt.strip():
        return "is empty; give the text to generate from"
    if len(prompt) > MAX_PROMPT_CHARS:
        return f"is {len(prompt):,} characters; at most {MAX_PROMPT_CHARS:,} are accepted"
    return None
