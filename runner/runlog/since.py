"""``--since`` values: a duration back from now (``90m``, ``24h``, ``7d``, ``2w``) or a UTC
date/time (``2026-11-01``, ``2026-11-01T09:30``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from runner.errors import UsageError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """The moment ``text`` names, as an aware UTC datetime."""
    now = now or datetime.now(UTC)
    match = _DURATION.match(text)
    if match:
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        return now - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"--since {text!r}: expected a duration like 30m, 24h, 7d, 2w "
            "or a date like 2026-11-01 (UTC)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
