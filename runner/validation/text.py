"""Text facts, read in chunks: character count, blankness, and which phrases occur."""

from __future__ import annotations

import codecs
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from runner.errors import ArtifactInvalid

_CHUNK = 1 << 20


@dataclass(frozen=True)
class TextScan:
    chars: int
    blank: bool
    #: The searched-for phrases (as given) that occur, ignoring case.
    found: frozenset[str]


def scan_text(path: Path, phrases: Iterable[str] = ()) -> TextScan:
    wanted = {p: p.casefold() for p in phrases}
    overlap = max((len(p) for p in wanted.values()), default=0)
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    chars, blank = 0, True
    found: set[str] = set()
    carry = ""
    with path.open("rb") as fh:
        while True:
            raw = fh.read(_CHUNK)
            try:
                piece = decoder.decode(raw, final=not raw)
            except UnicodeDecodeError as exc:
                raise ArtifactInvalid(f"text is not valid UTF-8: {exc.reason}") from exc
            chars += len(piece)
            blank = blank and not piece.strip()
            if wanted:
                # Keep the last characters so a phrase cut by a chunk boundary is still seen.
                window = carry + piece.casefold()
                found.update(p for p, folded in wanted.items() if folded in window)
                carry = window[-overlap:] if overlap else ""
            if not raw:
                break
    return TextScan(chars=chars, blank=blank, found=frozenset(found))
