"""``--shard I/N``: which rows one CI machine runs.

A row belongs to the shard its content hashes to, so the split does not depend on the
rows' order or on the other rows: reordering or appending rows moves nothing already placed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from runner.errors import UsageError

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, digest: str) -> bool:
        """Whether the row whose content hash is ``digest`` (hex) belongs to this shard."""
        return int(digest[:16], 16) % self.count == self.index - 1


def parse_shard(text: str) -> Shard:
    match = _SHARD.match(text)
    if match is None:
        raise UsageError(f"--shard expects I/N such as 2/4, got {text!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 1 <= index <= count:
        raise UsageError(f"--shard {text}: I must be between 1 and N (N at least 1)")
    return Shard(index, count)
