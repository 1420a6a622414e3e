"""A Jinja sandbox whose renders stop past a time bound and an output size bound.

Templates come from YAML files that may come from anywhere, and render with inputs that
come from batch rows. Jinja's sandbox stops templates from reaching Python internals,
not from spending: ``{% for i in range(99999) %}{% for j in range(99999) %}`` runs for
hours and ``'x' * 100000000`` builds 100 MB. Here a render has a :class:`Budget` (the
project's ``limits:``), checked where a template can spend without bound:

- every ``for`` loop iterates through :func:`bounded_loop` (the parsed template is
  rewritten so), and every call (macros, methods, ``loop()``) passes :meth:`call`: each
  checks the clock every few hundred steps, so runaway loops and recursion stop;
- operations that build one big value in a single C call are checked *before* they run:
  ``*`` and ``**``, ``%`` and ``str.format`` widths, ``center``/``ljust``/``rjust``/
  ``zfill``/``expandtabs``/``replace``/``join`` and the filters that pad, indent, repeat
  or fill (``center``, ``indent``, ``format``, ``replace``, ``join``, ``batch``,
  ``slice``, ``tojson``, ``lipsum``), and any string or list a call returns;
- the output is counted as it streams (see :func:`runner.engine.templating.render`).

Past a bound the render raises :class:`BoundExceeded`, which the renderer turns into a
TemplateError naming the step.
"""

from __future__ import annotations

import math
import operator
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from contextvars import ContextVar
from functools import wraps
from typing import Any

from jinja2 import nodes
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from runner.config.model import TemplateLimits

#: Loop steps and calls between two looks at the clock.
_CHECK_EVERY = 256
#: Digits a ``**`` result may have.
_MAX_POWER_DIGITS = 10_000


class BoundExceeded(Exception):
    """A render passed its time or size bound."""


class Budget:
    """The bounds of one render, and how far it has gone."""

    __slots__ = ("check_at", "deadline", "limits", "steps")

    def __init__(self, limits: TemplateLimits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.seconds
        self.steps = 0
        self.check_at = _CHECK_EVERY

    def step(self, count: int = 1) -> None:
        """Count ``count`` loop steps or calls; every few hundred, look at the clock."""
        self.steps += count
        if self.steps >= self.check_at:
            self.check_at = self.steps + _CHECK_EVERY
            if time.monotonic() > self.deadline:
                self.out_of_time()

    def out_of_time(self) -> None:
        raise BoundExceeded(
            f"stopped after {self.limits.seconds:g}s (limits.template_seconds in mediamix.yaml)"
        )

    def size(self, count: float, what: str = "a value") -> None:
        """Refuse ``what`` of ``count`` characters (or items) past the size bound."""
        if count > self.limits.output_chars:
            raise BoundExceeded(
                f"stopped: {what} of {count:,.0f} characters is over the limit of "
                f"{self.limits.output_chars:,} (limits.template_output_chars in mediamix.yaml)"
            )


#: The budget of the render running in this thread or task (None outside a render).
ACTIVE: ContextVar[Budget | None] = ContextVar("mediamix_template_budget", default=None)


def _budget() -> Budget | None:
    return ACTIVE.get()


def bounded_loop(iterable: Any) -> Any:
    """What every ``for`` loop of a template iterates: the same items, on a budget."""
    budget = _budget()
    if budget is None:
        return iterable
    if isinstance(iterable, Sized) and len(iterable) < _CHECK_EVERY:
        # A short loop cannot run away by itself: count its steps at once.
        budget.step(len(iterable))
        return iterable
    return _counted(iterable, budget)


def _counted(iterable: Iterable[Any], budget: Budget) -> Iterator[Any]:
    for item in iterable:
        budget.step()
        yield item


def _length(value: Any) -> int | None:
    return len(value) if isinstance(value, str | list | tuple | bytes) else None


_PRINTF_WIDTH = re.compile(r"%[-#0 +]*(\d*)(?:\.(\d+))?")
_DIGITS = re.compile(r"\d+")


def _widest_printf(fmt: str) -> int:
    widths = [int(n) for match in _PRINTF_WIDTH.finditer(fmt) for n in match.groups() if n]
    return max(widths, default=0)


def _precheck_format(budget: Budget, fmt: str, args: Any, kwargs: Any) -> None:
    """Refuse ``fmt.format(...)`` whose field widths pass the size bound. A width taken
    from an argument (``{:>{w}}``) counts every whole-number argument as a width."""
    widest = 0
    nested = False
    try:
        for _, _, spec, _ in string.Formatter().parse(fmt):
            if spec:
                nested = nested or "{" in spec
                widest = max([widest, *(int(n) for n in _DIGITS.findall(spec))])
    except ValueError:
        return  # malformed: str.format says so itself
    if nested:
        values = [*args, *(kwargs.values() if isinstance(kwargs, dict) else ())]
        if args and isinstance(args[0], dict):  # format_map
            values += list(args[0].values())
        widest = max([widest, *(v for v in values if type(v) is int)])
    budget.size(widest, "a str.format() field width")


def _precheck_str_method(budget: Budget, owner: str, name: str, args: tuple[Any, ...]) -> None:
    """Refuse a ``str`` method call whose result would pass the size bound."""
    first = args[0] if args else None
    if name in ("center", "ljust", "rjust", "zfill") and isinstance(first, int):
        budget.size(first, f"str.{name}({first})")
    elif name == "expandtabs":
        tabsize = first if isinstance(first, int) else 8
        budget.size(len(owner) + owner.count("\t") * tabsize, "str.expandtabs()")
    elif name == "replace" and len(args) >= 2 and isinstance(first, str):
        new = args[1]
        if isinstance(new, str) and len(new) > len(first):
            count = owner.count(first) if first else len(owner) + 1
            if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
                count = min(count, args[2])
            budget.size(len(owner) + count * (len(new) - len(first)), "str.replace()")
    elif name == "join" and isinstance(first, Sized):
        budget.size(len(owner) * max(0, len(first) - 1), "str.join()")


class BoundedSandbox(SandboxedEnvironment):
    """Jinja's sandbox, plus the budget checks described in the module docstring."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        for name, check in _FILTER_CHECKS.items():
            self.filters[name] = _checked_filter(self.filters[name], check)
        self.globals["lipsum"] = _bounded_lipsum(self.globals["lipsum"])  # type: ignore[arg-type]

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """The sandbox's own ``str.format``, with its field widths checked first (the
        sandbox hands templates this wrapper instead of the method)."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt: str = value.__self__
        real = wrapped

        def checked(*args: Any, **kwargs: Any) -> str:
            budget = _budget()
            if budget is not None:
                _precheck_format(budget, fmt, args, kwargs)
            return real(*args, **kwargs)

        return checked

    def parse_bounded(self, source: str) -> nodes.Template:
        """The template's tree with every ``for`` loop iterating through bounded_loop."""
        tree = self.parse(source)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Call(
                nodes.ImportedName(f"{__name__}.bounded_loop"), [loop.iter], [], None, None
            )
            loop.iter.set_lineno(loop.lineno)
        return tree

    def call_binop(self, context: Context, operator_: str, left: Any, right: Any) -> Any:
        budget = _budget()
        if budget is not None:
            _precheck_binop(budget, operator_, left, right)
        result = super().call_binop(context, operator_, left, right)
        if budget is not None and (size := _length(result)) is not None:
            budget.size(size, f"the result of {operator_}")
        return result

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        if budget is None:
            return super().call(__context, __obj, *args, **kwargs)
        budget.step()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            _precheck_str_method(budget, owner, getattr(__obj, "__name__", ""), args)
        result = super().call(__context, __obj, *args, **kwargs)
        if (size := _length(result)) is not None:
            budget.size(size, "the value a call returned")
        return result


def _precheck_binop(budget: Budget, operator_: str, left: Any, right: Any) -> None:
    if operator_ == "*":
        for seq, times in ((left, right), (right, left)):
            length = _length(seq)
            if length is not None and isinstance(times, int) and not isinstance(times, bool):
                budget.size(length * times, "a repeated value")
    elif operator_ == "**" and isinstance(left, int) and isinstance(right, int):
        if abs(left) > 1 and right > 0:
            digits = right * math.log10(abs(left))
            if digits > _MAX_POWER_DIGITS:
                raise BoundExceeded(f"stopped: a number of about {digits:,.0f} digits is too large")
    elif operator_ == "%" and isinstance(left, str):
        budget.size(_widest_printf(left), "a %-format field width")
        starred = right if isinstance(right, tuple) else (right,)
        if "*" in left:
            widths = [v for v in starred if isinstance(v, int) and not isinstance(v, bool)]
            budget.size(max(widths, default=0), "a %-format field width")


# -- filters and globals that build values in one go -----------------------------------


def _check_center(budget: Budget, value: Any, width: Any = 80, *_: Any, **__: Any) -> None:
    if isinstance(width, int):
        budget.size(width, f"center({width})")


def _check_indent(budget: Budget, value: Any, width: Any = 4, *_: Any, **kw: Any) -> None:
    width = kw.get("width", width)
    size = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    lines = str(value).count("\n") + 1
    budget.size(len(str(value)) + lines * size, "indent()")


def _check_format(budget: Budget, value: Any, *args: Any, **_: Any) -> None:
    if isinstance(value, str):
        _precheck_binop(budget, "%", value, args)


def _check_replace(budget: Budget, value: Any, old: Any = "", new: Any = "", *rest: Any) -> None:
    if isinstance(value, str):
        _precheck_str_method(budget, value, "replace", (str(old), str(new), *rest))


def _check_join(budget: Budget, value: Any, d: Any = "", *_: Any, **__: Any) -> None:
    if isinstance(value, Sized):
        budget.size(len(str(d)) * max(0, len(value) - 1), "join()")


def _check_fill(budget: Budget, value: Any, count: Any = 1, *_: Any, **__: Any) -> None:
    if isinstance(count, int):
        budget.size(count, "batch()/slice() pieces")


def _check_tojson(budget: Budget, value: Any, indent: Any = None, *_: Any, **__: Any) -> None:
    if isinstance(indent, int):
        budget.size(indent * 64, f"tojson(indent={indent})")


FilterCheck = Callable[..., None]
_FILTER_CHECKS: dict[str, FilterCheck] = {
    "center": _check_center,
    "indent": _check_indent,
    "format": _check_format,
    "replace": _check_replace,
    "join": _check_join,
    "batch": _check_fill,
    "slice": _check_fill,
    "tojson": _check_tojson,
}


def _checked_filter(real: Callable[..., Any], check: FilterCheck) -> Callable[..., Any]:
    """``real`` (a Jinja filter), with ``check`` run on its arguments first.

    Some filters take the eval context or environment first (pass_* decorators): the
    wrapper keeps the marker and hands the check only the filtered value onwards.
    """
    passes = getattr(real, "jinja_pass_arg", None)

    @wraps(real)
    def checked(*args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        if budget is not None:
            check(budget, *(args[1:] if passes is not None else args), **kwargs)
        return real(*args, **kwargs)

    return checked


def _bounded_lipsum(real: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(real)
    def lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> Any:
        budget = _budget()
        if budget is not None:
            budget.size(operator.mul(n, max) * 12, f"lipsum({n}, max={max})")
        return real(n, html, min, max)

    return lipsum
