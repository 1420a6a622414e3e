"""The small Markdown subset the document generator lays out: headings, paragraphs, bullets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

BlockKind = Literal["heading", "paragraph", "bullet"]
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
# Characters XML 1.0 (DOCX) cannot hold and a PDF text operator should not carry.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


@dataclass(frozen=True)
class Block:
    kind: BlockKind
    text: str
    #: Heading level 1-6; 0 for other blocks.
    level: int = 0


def parse(markdown: str) -> list[Block]:
    """Split text into blocks. Lines of one paragraph are joined with spaces."""
    blocks: list[Block] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append(Block("paragraph", " ".join(paragraph)))
            paragraph.clear()

    for raw in _CONTROL.sub("", markdown).splitlines():
        line = raw.strip()
        if not line:
            flush()
        elif heading := _HEADING.match(line):
            flush()
            blocks.append(Block("heading", heading.group(2), level=len(heading.group(1))))
        elif bullet := _BULLET.match(raw):
            flush()
            blocks.append(Block("bullet", bullet.group(1).strip()))
        else:
            paragraph.append(line)
    flush()
    return blocks
