"""Prompt, param and condition templates: Jinja2, sandboxed, strict about undefined names."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache, lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template
from jinja2 import TemplateError as JinjaTemplateError
from jinja2.sandbox import SandboxedEnvironment

from runner.errors import TemplateError


class Names:
    """Read-only names for templates: ``inputs.items`` means the input called "items".

    A plain dict would answer ``inputs.items`` with its own ``.items`` method, so
    templates see this wrapper, which has no methods of its own to shadow a name.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_data", data)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        return self._data[name]

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __iter__(self) -> Any:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return repr(dict(self._data))


@cache
def environment() -> SandboxedEnvironment:
    # Sandboxed: templates come from YAML files, which may come from anywhere.
    # StrictUndefined: a misspelt name is an error, never a silently empty prompt.
    return SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
    )


@lru_cache(maxsize=1024)
def _compiled(source: str) -> Template:
    # A batch renders the same few templates thousands of times; compiling is the dear part.
    return environment().from_string(source)


def render(source: str, context: Mapping[str, Any], *, step: str, what: str = "prompt") -> str:
    try:
        return _compiled(source).render(**context).strip()
    except JinjaTemplateError as exc:
        raise TemplateError(step, f"{what} template: {exc.message or exc}") from exc
    except Exception as exc:  # a filter or method raised inside the sandbox
        raise TemplateError(step, f"{what} template failed: {type(exc).__name__}: {exc}") from exc


@lru_cache(maxsize=1024)
def _compiled_expression(source: str) -> Any:
    # A batch evaluates the same few `when` and `for_each` expressions once per row.
    return environment().compile_expression(source, undefined_to_none=False)


def evaluate(expression: str, context: Mapping[str, Any], *, step: str, what: str) -> Any:
    """Evaluate a bare Jinja2 expression (``when``, ``for_each``) to a Python value."""
    try:
        return _compiled_expression(expression)(**context)
    except JinjaTemplateError as exc:
        raise TemplateError(step, f"{what} expression: {exc.message or exc}") from exc
    except Exception as exc:
        raise TemplateError(step, f"{what} expression failed: {type(exc).__name__}: {exc}") from exc


def render_params(
    value: Any, context: Mapping[str, Any], *, step: str, path: str = "params"
) -> Any:
    """Render every string in a params tree that contains template syntax."""
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        return render(value, context, step=step, what=path)
    if isinstance(value, Mapping):
        return {
            k: render_params(v, context, step=step, path=f"{path}.{k}") for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            render_params(v, context, step=step, path=f"{path}[{i}]") for i, v in enumerate(value)
        ]
    return value
