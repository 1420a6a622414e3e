"""Document facts: PDF page count from the raw bytes, DOCX text and pictures via python-docx."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path

from runner.errors import ArtifactInvalid

# "/Type /Page" but not "/Type /Pages" (the page tree nodes).
_PAGE_OBJECT = re.compile(rb"/Type\s*/Page(?![A-Za-z0-9])")
_STREAM = re.compile(rb"stream\r?\n(.*?)endstream", re.DOTALL)
_SCAN_CHUNK = 1 << 20
_OVERLAP = 64
# Object streams hide page dictionaries inside compressed streams; decompressing them
# means holding the file, so it is done only up to this size.
_OBJECT_STREAM_SCAN_LIMIT = 64 * 1024 * 1024


def pdf_page_count(path: Path) -> int:
    """Count page objects; raise ArtifactInvalid when the file is not a complete PDF."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        fh.seek(max(0, size - 1024))
        if b"%%EOF" not in fh.read():
            raise ArtifactInvalid("PDF is truncated (no %%EOF marker at the end)")
        fh.seek(0)
        pages, uses_object_streams, pending = 0, False, b""
        while chunk := fh.read(_SCAN_CHUNK):
            pending += chunk
            uses_object_streams = uses_object_streams or b"/ObjStm" in pending
            # Matches starting before `complete` are whole (they are far shorter than the
            # overlap); the rest is carried into the next round and counted there.
            complete = len(pending) - _OVERLAP
            if complete <= 0:
                continue
            pages += sum(1 for m in _PAGE_OBJECT.finditer(pending) if m.start() < complete)
            pending = pending[complete:]
        pages += len(_PAGE_OBJECT.findall(pending))
    if pages == 0 and uses_object_streams and size <= _OBJECT_STREAM_SCAN_LIMIT:
        pages = _count_in_object_streams(path.read_bytes())
    return pages


def _count_in_object_streams(data: bytes) -> int:
    pages = 0
    for match in _STREAM.finditer(data):
        try:
            pages += len(_PAGE_OBJECT.findall(zlib.decompress(match.group(1))))
        except zlib.error:
            continue  # not Flate, or not an object stream: nothing to count there
    return pages


@dataclass(frozen=True)
class DocxContent:
    text: str
    pictures: int


def docx_content(path: Path) -> DocxContent:
    """All paragraph and table text of a DOCX, and how many pictures it embeds."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError, OSError) as exc:
        raise ArtifactInvalid(f"DOCX cannot be opened: {exc}") from exc
    except Exception as exc:  # lxml's XMLSyntaxError and zip errors have no shared base
        raise ArtifactInvalid(f"DOCX is corrupt: {exc}") from exc
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        parts.extend(cell.text for row in table.rows for cell in row.cells)
    pictures = sum(1 for rel in document.part.rels.values() if "image" in rel.reltype)
    return DocxContent(text="\n".join(p for p in parts if p), pictures=pictures)
