"""Text facts, read in chunks: character count, blankness, and which phrases occur.

Blank means nothing a reader would see: whitespace, zero-width characters (U+200B..U+200D,
U+2060, U+FEFF), every other format or control character (Unicode categories Cf, Cc, Zs,
Zl, Zp), and the few letters and marks that draw nothing (Hangul fillers, variation
selectors, the braille blank). A placeholder answer of ``"\u200b\u200b\u200b"`` is as empty
as ``""``.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from runner.errors import ArtifactInvalid

_CHUNK = 1 << 20

#: Categories that never draw anything: format, control, and space separators.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Cs", "Zs", "Zl", "Zp"})
#: Characters of other categories that draw nothing either.
_INVISIBLE_OTHERS = (
    "\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180d\u180f\u2800\u3164\ufe00-\ufe0f\uffa0"
    "\U000e0100-\U000e01ef"
)
#: The first character outside every invisible range (Unicode 14's Cf, Cc, Zs, Zl, Zp and
#: the others above): a C-speed scan, so a megabyte of text is judged without a Python loop.
_MAYBE_VISIBLE = re.compile(
    "[^\x00-\x20\x7f-\xa0\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2"
    "\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u2064\u2066-\u206f\u3000\ufeff"
    "\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f\ud800-\udfff" + _INVISIBLE_OTHERS + "]"
)
_INVISIBLE_OTHER = re.compile(f"[{_INVISIBLE_OTHERS}]")


def is_blank(text: str) -> bool:
    """True when ``text`` has nothing visible (see the module docstring).

    Usually settled by the first character. The category check covers characters a newer
    Unicode made invisible that the ranges above do not list yet."""
    position = 0
    while (found := _MAYBE_VISIBLE.search(text, position)) is not None:
        char = found.group()
        if unicodedata.category(char) not in _INVISIBLE_CATEGORIES and not (
            _INVISIBLE_OTHER.match(char)
        ):
            return False
        position = found.end()
    return True


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
            blank = blank and is_blank(piece)
            if wanted:
                # Keep the last characters so a phrase cut by a chunk boundary is still seen.
                window = carry + piece.casefold()
                found.update(p for p, folded in wanted.items() if folded in window)
                carry = window[-overlap:] if overlap else ""
            if not raw:
                break
    return TextScan(chars=chars, blank=blank, found=frozenset(found))
