"""Content type from the bytes themselves, never from a file name or a vendor's header.

Providers sometimes answer with JSON error bodies, HTML pages or empty files where media
was promised; sniffing the magic bytes is what catches that before anything is stored.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

#: How many leading bytes :func:`sniff_mime` needs to recognise any binary format.
HEAD_SIZE = 4096
#: Text files up to this size are read whole, so JSON can be told from plain text.
_TEXT_SNIFF_LIMIT = 4 * 1024 * 1024

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

# ISO-BMFF major brands that are audio-only or QuickTime; everything else with ftyp is MP4.
_AUDIO_MP4_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A "}
_QUICKTIME_BRANDS = {b"qt  "}


def sniff_mime(head: bytes) -> str | None:
    """The content type the leading bytes announce, or None when nothing matches.

    Zip archives come back as ``application/zip``: telling DOCX from other zips needs the
    central directory, so use :func:`sniff_file` for that. Text is recognised only when
    ``head`` is all of the content (JSON needs the whole document to parse).
    """
    if not head:
        return None
    binary = _sniff_binary(head)
    if binary is not None:
        return binary
    return _sniff_text(head)


def sniff_file(path: str | Path) -> str | None:
    """Like :func:`sniff_mime` for a file, telling DOCX from other zips and JSON from text."""
    path = Path(path)
    with path.open("rb") as fh:
        head = fh.read(HEAD_SIZE)
        binary = _sniff_binary(head)
        if binary == "application/zip":
            return DOCX_MIME if _is_docx(path) else binary
        if binary is not None:
            return binary
        if not head:
            return None
        size = path.stat().st_size
        if size <= _TEXT_SNIFF_LIMIT:
            return _sniff_text(head + fh.read())
    # Too big to parse as JSON cheaply: judge the text by its head (a cut UTF-8 sequence at
    # the end of the head is tolerated), and call it plain text.
    return "text/plain" if _looks_like_text(head, partial=True) else None


def _sniff_binary(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"ID3") or _is_mpeg_audio_frame(head):
        return "audio/mpeg"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _AUDIO_MP4_BRANDS:
            return "audio/mp4"
        if brand in _QUICKTIME_BRANDS:
            return "video/quicktime"
        return "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        # EBML: the DocType element says whether this Matroska flavour is WebM.
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if head.startswith(b"PK\x03\x04"):
        return "application/zip"
    return None


def _is_mpeg_audio_frame(head: bytes) -> bool:
    # 11 sync bits, a valid MPEG version (not 01) and layer (not 00; 00 is AAC ADTS),
    # and a bitrate index that is neither "free" nor "bad".
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version = (head[1] >> 3) & 0b11
    layer = (head[1] >> 1) & 0b11
    bitrate_index = head[2] >> 4
    sample_rate_index = (head[2] >> 2) & 0b11
    return (
        version != 0b01
        and layer != 0
        and bitrate_index not in (0, 15)
        and (sample_rate_index != 0b11)
    )


def _sniff_text(content: bytes) -> str | None:
    if not _looks_like_text(content, partial=False):
        return None
    text = content.decode("utf-8-sig")
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            json.loads(stripped)
        except ValueError:
            return "text/plain"
        return "application/json"
    return "text/plain"


def _looks_like_text(content: bytes, *, partial: bool) -> bool:
    if b"\x00" in content:
        return False
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the end of a partial read is still text.
        return partial and exc.start >= len(content) - 3 and exc.reason == "unexpected end of data"
    return True


def _is_docx(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
