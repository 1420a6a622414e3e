"""Preset ``validate:`` rules, parsed and type-checked once.

Defaults that apply when a preset says nothing (a rule of the same name replaces them):

=========  =========  ==============================================
media      min_bytes  other built-in minimums
=========  =========  ==============================================
image      100        16 x 16 pixels, not one flat colour
audio      1000       duration > 0, not silent (peak above -60 dBFS)
video      1000       at least one video frame
document   200        PDF: 1 page; DOCX: some text or a picture
text       1          not only whitespace or invisible characters
=========  =========  ==============================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_NUMBER_RULES = (
    "min_bytes",
    "max_bytes",
    "min_width",
    "min_height",
    "max_width",
    "max_height",
    "min_duration_s",
    "max_duration_s",
    "min_pages",
    "max_pages",
    "min_chars",
    "max_chars",
)
_LIST_RULES = ("mime", "contains", "not_contains")
_FLAG_RULES = ("allow_flat_image", "allow_silence")

#: Every rule name a preset's ``validate:`` mapping may use.
RULE_NAMES: frozenset[str] = frozenset((*_NUMBER_RULES, *_LIST_RULES, *_FLAG_RULES))

DEFAULT_MIN_BYTES: dict[str, int] = {
    "image": 100,
    "audio": 1000,
    "video": 1000,
    "document": 200,
    "text": 1,
}
DEFAULT_MIN_IMAGE_SIDE = 16

#: Content types each media type accepts before any ``mime`` rule narrows them.
MEDIA_MIMES: dict[str, tuple[str, ...]] = {
    "image": ("image/*",),
    "audio": ("audio/*",),
    "video": ("video/*",),
    "document": (
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    "text": ("text/*", "application/json"),
}


@dataclass(frozen=True)
class Rules:
    numbers: Mapping[str, float]
    mime: tuple[str, ...] = ()
    contains: tuple[str, ...] = ()
    not_contains: tuple[str, ...] = ()
    allow_flat_image: bool = False
    allow_silence: bool = False

    def get(self, name: str, default: float | None = None) -> float | None:
        return self.numbers.get(name, default)


#: What a preset without ``validate`` asks for.
NO_RULES = Rules(numbers={})


def parse_rules(raw: Mapping[str, Any]) -> Rules:
    """Check names and value types; raise ValueError naming every unusable rule."""
    if not raw:
        return NO_RULES
    problems = [f"unknown validation rule {name!r}" for name in raw if name not in RULE_NAMES]
    numbers: dict[str, float] = {}
    lists: dict[str, tuple[str, ...]] = {}
    flags: dict[str, bool] = {}
    for name, value in raw.items():
        if name in _NUMBER_RULES:
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                problems.append(f"rule {name!r} must be a non-negative number, not {value!r}")
            else:
                numbers[name] = value
        elif name in _LIST_RULES:
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
                problems.append(f"rule {name!r} must be a list of strings, not {value!r}")
            else:
                lists[name] = tuple(items)
        elif name in _FLAG_RULES:
            if not isinstance(value, bool):
                problems.append(f"rule {name!r} must be true or false, not {value!r}")
            else:
                flags[name] = value
    if problems:
        raise ValueError("; ".join(problems))
    return Rules(
        numbers=numbers,
        mime=lists.get("mime", ()),
        contains=lists.get("contains", ()),
        not_contains=lists.get("not_contains", ()),
        allow_flat_image=flags.get("allow_flat_image", False),
        allow_silence=flags.get("allow_silence", False),
    )


def mime_matches(mime: str, patterns: tuple[str, ...]) -> bool:
    """``image/*`` matches any image type; other patterns match exactly (ignoring case)."""
    mime = mime.lower()
    for pattern in patterns:
        pattern = pattern.lower()
        if (pattern.endswith("/*") and mime.startswith(pattern[:-1])) or mime == pattern:
            return True
    return False
