"""Prompt, param and condition templates: Jinja2, sandboxed, strict about undefined names,
bounded in time and size (``limits:`` in mediamix.yaml; see runner.engine.template_bounds)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache, lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template
from jinja2 import TemplateError as JinjaTemplateError

from runner.config.model import TemplateLimits
from runner.engine.substitution import Names, Substitution, substitution
from runner.engine.template_bounds import ACTIVE, BoundedSandbox, BoundExceeded, Budget
from runner.errors import TemplateError


def template_names(
    *,
    inputs: Mapping[str, Any],
    outputs: Mapping[str, Any],
    pipeline: str,
    run: Mapping[str, str],
    item: Any = None,
    index: int | None = None,
) -> dict[str, Any]:
    """What a step's templates can name: a run and ``--dry-run`` both build it here, so a
    name a run knows is never one the dry run calls undefined."""
    return {
        "inputs": Names(inputs),
        "steps": Names(outputs),
        "item": item,
        "item_index": index,
        # Counted from 1, as files (cards-2.png), progress and `jobs show` number items.
        "item_number": None if index is None else index + 1,
        "run": run,
        "pipeline": {"name": pipeline},
    }


#: Bounds when the caller names none (mediamix.yaml's ``limits:`` defaults).
DEFAULT_LIMITS = TemplateLimits()


class _Sandbox(BoundedSandbox):
    def getattr(self, obj: Any, attribute: str) -> Any:
        # inputs.NAME and steps.NAME, read by nearly every prompt (twice a row in a batch):
        # a Names holds data only, never a method, a str.format or an internal object, so
        # the sandbox's checks of the value cannot object and are skipped. Names starting
        # with "_", and missing ones, still go the sandbox's way.
        if type(obj) is Names and not attribute.startswith("_"):
            try:
                return obj._data[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


@cache
def environment() -> BoundedSandbox:
    # Sandboxed: templates come from YAML files, which may come from anywhere; bounded in
    # time and size (runner.engine.template_bounds).
    # StrictUndefined: a misspelt name is an error, never a silently empty prompt.
    return _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


@lru_cache(maxsize=1024)
def _compiled(source: str) -> Template:
    # A batch renders the same few templates thousands of times; compiling is the dear part.
    env = environment()
    return env.from_string(env.parse_bounded(source))


@lru_cache(maxsize=1024)
def _substitution(source: str) -> Substitution | None:
    """The template as text and name lookups, when that is all it is (see
    runner.engine.substitution); None also when it does not parse (Jinja says why)."""
    try:
        return substitution(environment().parse(source))
    except JinjaTemplateError:
        return None


def render(
    source: str,
    context: Mapping[str, Any],
    *,
    step: str,
    what: str = "prompt",
    limits: TemplateLimits = DEFAULT_LIMITS,
) -> str:
    """Render ``source`` within ``limits``: past its time or size bound the render stops
    with a TemplateError naming the step (the step fails, as with any template error)."""
    simple = _substitution(source)
    if simple is not None and (text := simple.render(context, limits.output_chars)) is not None:
        return text
    budget = Budget(limits)
    token = ACTIVE.set(budget)
    try:
        template = _compiled(source)
        most = limits.output_chars
        parts: list[str] = []
        total = 0
        # The output is counted as it streams: a loop printing a big value stops at the
        # limit, not after it has built gigabytes.
        for chunk in template.root_render_func(template.new_context(dict(context))):
            total += len(chunk)
            if total > most:
                budget.size(total, "the rendered text")
            parts.append(chunk)
        return "".join(parts).strip()
    except BoundExceeded as exc:
        raise TemplateError(step, f"{what} template {exc}") from None
    except JinjaTemplateError as exc:
        raise TemplateError(step, f"{what} template: {exc.message or exc}") from exc
    except Exception as exc:  # a filter or method raised inside the sandbox
        raise TemplateError(step, f"{what} template failed: {type(exc).__name__}: {exc}") from exc
    finally:
        ACTIVE.reset(token)


@lru_cache(maxsize=1024)
def _compiled_expression(source: str) -> Any:
    # A batch evaluates the same few `when` and `for_each` expressions once per row.
    return environment().compile_expression(source, undefined_to_none=False)


def evaluate(
    expression: str,
    context: Mapping[str, Any],
    *,
    step: str,
    what: str,
    limits: TemplateLimits = DEFAULT_LIMITS,
) -> Any:
    """Evaluate a bare Jinja2 expression (``when``, ``for_each``) to a Python value."""
    token = ACTIVE.set(Budget(limits))
    try:
        return _compiled_expression(expression)(**context)
    except BoundExceeded as exc:
        raise TemplateError(step, f"{what} expression {exc}") from None
    except JinjaTemplateError as exc:
        raise TemplateError(step, f"{what} expression: {exc.message or exc}") from exc
    except Exception as exc:
        raise TemplateError(step, f"{what} expression failed: {type(exc).__name__}: {exc}") from exc
    finally:
        ACTIVE.reset(token)


def render_params(
    value: Any,
    context: Mapping[str, Any],
    *,
    step: str,
    path: str = "params",
    limits: TemplateLimits = DEFAULT_LIMITS,
) -> Any:
    """Render every string in a params tree that contains template syntax."""
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        return render(value, context, step=step, what=path, limits=limits)
    if isinstance(value, Mapping):
        return {
            k: render_params(v, context, step=step, path=f"{path}.{k}", limits=limits)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            render_params(v, context, step=step, path=f"{path}[{i}]", limits=limits)
            for i, v in enumerate(value)
        ]
    return value
