"""``local`` text model ``template``: text from a template, or an honest outline.

With ``params.template`` (the engine renders string params with the same inputs as the
prompt, so a pipeline's ``params: {local: {template: ...}}`` can lay out a title, the
sections and the audience from its inputs) the text is that template.

Without one there is no text model to answer the prompt, and the generator does not
pretend to: it writes an outline from what it has — a title, the brief it was given,
the length and sections the brief asks for (or ``params.sections``), the audience when
``params.audience`` names it — and marks every place a text model would write prose with
``[prose: ...]``. Deterministic, instant, and a dependable last fallback for text steps.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from runner.errors import PermanentError
from runner.providers.base import GenerationRequest, GenerationResult, Usage
from runner.providers.local.params import str_param

_MIMES = {"markdown": "text/markdown", "plain": "text/plain"}

#: Said at the top of every outline, so nobody mistakes it for written text.
OFFLINE_NOTE = (
    "Offline outline by mediamix's local generator: no text model wrote this. "
    "Each [prose: ...] mark is where a text model would write."
)

_TITLE_CHARS = 80
# "in three paragraphs titled: A, B, C" / "sections: A, B and C" (to the end of the line)
_NAMED_PARTS = re.compile(
    r"\b(?:titled|titles|headed|headings|sections|parts|covering)\s*:?\s*(?P<list>[^\n]+)",
    re.IGNORECASE,
)
_PART_WORD = re.compile(r"\b(?:titled|titles|headed|headings|sections|parts|covering)\b", re.I)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+(?P<item>\S.*?)\s*$")
_LENGTH = re.compile(
    r"\b(?:about|around|roughly|up to|at most|under|no more than)?\s*\d[\d,]*\s+"
    r"(?:words|sentences|paragraphs|lines|characters|bullet points)\b",
    re.IGNORECASE,
)


async def generate(request: GenerationRequest) -> GenerationResult:
    fmt = str_param(request.params, "format", "markdown", tuple(_MIMES))
    title = _optional_str(request.params, "title")
    template = _optional_str(request.params, "template")
    if template is not None:
        body = template.strip()
        if not body:
            raise PermanentError("the text template rendered to an empty string")
        text = render(body, fmt, title)
    else:
        if not request.prompt.strip():
            raise PermanentError("the prompt is empty: there is nothing to outline")
        text = outline(
            request.prompt,
            fmt,
            title=title,
            audience=_optional_str(request.params, "audience"),
            sections=_sections_param(request.params),
        )
    return GenerationResult(
        media_type="text", mime=_MIMES[fmt], text=text, usage=Usage(characters=len(text))
    )


def _optional_str(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is not None and not isinstance(value, str):
        raise PermanentError(f"params.{name} must be a string, not {value!r}")
    return value


def _sections_param(params: Mapping[str, Any]) -> list[str] | None:
    value = params.get("sections")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise PermanentError(f"params.sections must be a list of non-empty strings, not {value!r}")
    return [v.strip() for v in value]


def render(body: str, fmt: str, title: str | None) -> str:
    title = (title or "").strip()
    if fmt == "markdown" and title:
        heading = f"# {title}"
        # Do not repeat a heading the template already starts with.
        if body.splitlines()[0].strip() != heading:
            body = f"{heading}\n\n{body}"
    elif fmt == "plain" and title:
        body = f"{title}\n\n{body}"
    return body + "\n"


def outline(
    prompt: str,
    fmt: str,
    *,
    title: str | None = None,
    audience: str | None = None,
    sections: Sequence[str] | None = None,
) -> str:
    """An outline of what a text model was asked for, with its prose left to write."""
    brief = prompt.strip()
    parts = list(sections) if sections else asked_sections(brief)
    length = asked_length(brief)
    heading = (title or "").strip() or _title_from(brief)
    markdown = fmt == "markdown"
    lines = [f"# {heading}" if markdown else heading, ""]
    lines += [f"_{OFFLINE_NOTE}_" if markdown else OFFLINE_NOTE, ""]
    lines += ["## Brief" if markdown else "Brief:", ""]
    lines += [(f"> {line}" if markdown else f"  {line}").rstrip() for line in brief.splitlines()]
    lines.append("")
    facts = [("Audience", audience), ("Length asked for", length)]
    for name, value in facts:
        if value:
            lines.append(f"- {name}: {value}" if markdown else f"{name}: {value}")
    if any(value for _, value in facts):
        lines.append("")
    lines += ["## Outline" if markdown else "Outline:", ""]
    if parts:
        for number, part in enumerate(parts, 1):
            lines.append(f"{number}. {part}")
            lines.append(f"   [prose: a text model writes “{part}” here]")
    else:
        lines.append("1. [prose: a text model answers the brief here]")
    return "\n".join(lines).rstrip() + "\n"


def asked_sections(brief: str) -> list[str]:
    """The parts a brief names: "titled: A, B, C" on one line, or a bulleted list."""
    bullets = [m.group("item") for line in brief.splitlines() if (m := _BULLET.match(line))]
    if len(bullets) >= 2:
        return bullets
    # Each keyword in turn ("in parts titled: A, B" names them after the second).
    for keyword in _PART_WORD.finditer(brief):
        found = _NAMED_PARTS.match(brief, keyword.start())
        if found is None:
            continue
        text = found.group("list").split(". ")[0].rstrip(". ")
        items = [p.strip(" \"'“”") for p in re.split(r",\s*|\s+and\s+|;\s*", text)]
        items = [item for item in items if item]
        if len(items) >= 2:
            return items
    return []


def asked_length(brief: str) -> str | None:
    found = _LENGTH.search(brief)
    return " ".join(found.group(0).split()) if found else None


def _title_from(brief: str) -> str:
    flat = " ".join(brief.split())
    sentence = re.split(r"(?<=[.!?])\s", flat, maxsplit=1)[0].rstrip(".!?:")
    if len(sentence) <= _TITLE_CHARS:
        return sentence
    return sentence[: _TITLE_CHARS - 1].rsplit(" ", 1)[0] + "…"
