"""Reading and checking ``params`` for the local generators (bad values are permanent)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.errors import PermanentError


def int_param(params: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PermanentError(
            f"params.{name} must be a whole number from {low} to {high}, not {value!r}"
        )
    return value


def float_param(
    params: Mapping[str, Any], name: str, default: float | None, low: float, high: float
) -> float | None:
    value = params.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise PermanentError(
            f"params.{name} must be a number from {low:g} to {high:g}, not {value!r}"
        )
    return float(value)


def str_param(
    params: Mapping[str, Any], name: str, default: str, choices: tuple[str, ...] = ()
) -> str:
    value = params.get(name, default)
    if not isinstance(value, str) or (choices and value not in choices):
        allowed = f" (one of {', '.join(choices)})" if choices else ""
        raise PermanentError(f"params.{name} must be a string{allowed}, not {value!r}")
    return value
