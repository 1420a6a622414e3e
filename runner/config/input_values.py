"""Bounds on the values people hand a pipeline: ``-i NAME=VALUE``, ``--inputs-file``, batch
rows (JSONL and CSV) and ``generate --prompt``.

Every value is checked once, where inputs are resolved, so each way in gets the same
limits and the same one-line message (exit 2, or a ``FILE:LINE`` bad row in a batch):

=====================  =============================================================
text                   at most ``MAX_TEXT_CHARS`` characters, valid Unicode (no lone
                       surrogate such as ``"\\ud800"``, which cannot be written as UTF-8)
whole numbers          within a signed 64-bit integer (what the run log can store)
numbers                finite (no NaN or infinity, which JSON cannot carry)
lists and objects      nested at most ``MAX_DEPTH`` deep, at most ``MAX_ITEMS`` values
=====================  =============================================================
"""

from __future__ import annotations

import math
from typing import Any

from runner.errors import UsageError

#: One text value: 1 MiB of characters, far more than any prompt needs.
MAX_TEXT_CHARS = 1 << 20
#: Lists and objects inside one input.
MAX_DEPTH = 32
#: Values (items, keys and leaves together) in one input.
MAX_ITEMS = 100_000
#: Whole numbers: what a signed 64-bit column holds.
MAX_INT = (1 << 63) - 1


def shown(value: Any, limit: int = 60) -> str:
    """A value as a message can quote it: repr, cut to ``limit`` characters."""
    text = repr(value) if not isinstance(value, str) else repr(value[: limit + 1])
    if len(text) > limit:
        more = f" ({len(value):,} characters)" if isinstance(value, str) else ""
        return f"{text[: limit - 3]}...{more}"
    return text


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be an input (too long, not valid Unicode), or None."""
    if len(text) > MAX_TEXT_CHARS:
        return f"text is {len(text):,} characters long; at most {MAX_TEXT_CHARS:,} are accepted"
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        return (
            f"text is not valid Unicode: {bad!r} at character {exc.start + 1} is a lone "
            "surrogate (an undecodable byte?); make sure the file or terminal uses UTF-8"
        )
    return None


def check_input(name: str, value: Any) -> None:
    """Raise UsageError (one line naming the input) unless ``value`` is within bounds."""
    problem = _problem(value)
    if problem is not None:
        raise UsageError(f"input {name!r}: {problem}")


def _problem(value: Any) -> str | None:
    stack: list[tuple[Any, int]] = [(value, 0)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if seen > MAX_ITEMS:
            return f"holds more than {MAX_ITEMS:,} values"
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                return problem
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if abs(item) > MAX_INT:
                # Not repr(): Python refuses to print an int of more than 4,300 digits.
                digits = int(item.bit_length() * math.log10(2)) + 1
                return f"a whole number of about {digits:,} digits is outside ±{MAX_INT:,}"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"the number {item} is not finite"
        elif isinstance(item, list | tuple | dict):
            if depth >= MAX_DEPTH:
                return f"lists and objects are nested more than {MAX_DEPTH} deep"
            if isinstance(item, dict):
                stack.extend((key, depth + 1) for key in item)
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)
    return None
