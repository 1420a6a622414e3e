"""``local`` text model ``template``: text from a template, as Markdown or plain text.

The text is ``params.template`` when the step gives one (the engine renders string params
with the same inputs as the prompt, so ``params: {local: {template: ...}}`` is an offline
stand-in for what an LLM would write), else the rendered prompt itself. Deterministic,
instant, and a dependable last fallback for text steps.
"""

from __future__ import annotations

from runner.errors import PermanentError
from runner.providers.base import GenerationRequest, GenerationResult, Usage
from runner.providers.local.params import str_param

_MIMES = {"markdown": "text/markdown", "plain": "text/plain"}


async def generate(request: GenerationRequest) -> GenerationResult:
    fmt = str_param(request.params, "format", "markdown", tuple(_MIMES))
    title = request.params.get("title")
    if title is not None and not isinstance(title, str):
        raise PermanentError(f"params.title must be a string, not {title!r}")
    template = request.params.get("template")
    if template is not None and not isinstance(template, str):
        raise PermanentError(f"params.template must be a string, not {template!r}")
    body = (template if template is not None else request.prompt).strip()
    if not body:
        raise PermanentError("the text template rendered to an empty string")
    text = render(body, fmt, title)
    return GenerationResult(
        media_type="text", mime=_MIMES[fmt], text=text, usage=Usage(characters=len(text))
    )


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
