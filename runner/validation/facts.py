"""What an artifact file is: content type from its bytes, size, sha256, and measurements."""

from __future__ import annotations

import hashlib
import re
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from runner.errors import ArtifactInvalid
from runner.validation import audio, document, ffmpeg, image, mp4, text
from runner.validation.sniff import DOCX_MIME, sniff_file

UNKNOWN_MIME = "application/octet-stream"
_HASH_CHUNK = 1 << 20
_MP4_MIMES = {"video/mp4", "video/quicktime", "audio/mp4"}
_MARKDOWN_SUFFIXES = {".md", ".markdown"}
_FFMPEG_VIDEO = re.compile(r"Stream #\S+.*?: Video: .*?, (\d{2,5})x(\d{2,5})")


@dataclass
class ArtifactFacts:
    """Measured facts about one artifact file; a measurement is None where it does not apply."""

    mime: str
    size: int
    sha256: str
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    pages: int | None = None
    frames: int | None = None
    chars: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def inspect_file(path: str | Path, media_type: str) -> ArtifactFacts:
    """Sniff, hash and measure ``path``. This describes the file; it does not judge it.

    The content type comes from the bytes (``text/plain`` becomes ``text/markdown`` for a
    ``.md`` file). ``media_type`` is what the file is meant to be; it picks the measurement
    where the bytes are ambiguous (an MP4 holding only audio). Raises ArtifactInvalid when
    the file is missing, or broken so badly that it cannot be measured (an MP4 without its
    moov box, an unreadable image header).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        digest = _sha256(path)
    except OSError as exc:
        raise ArtifactInvalid(f"artifact file cannot be read: {exc}") from exc
    mime = sniff_file(path) or UNKNOWN_MIME
    if mime == "text/plain" and path.suffix.lower() in _MARKDOWN_SUFFIXES:
        mime = "text/markdown"
    facts = ArtifactFacts(mime=mime, size=size, sha256=digest)
    _measure(facts, path, media_type)
    return facts


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _measure(facts: ArtifactFacts, path: Path, media_type: str) -> None:
    mime = facts.mime
    if mime.startswith("image/"):
        facts.width, facts.height, facts.frames = image.dimensions(path)
    elif mime in _MP4_MIMES:
        _measure_mp4(facts, path, media_type)
    elif mime.startswith("audio/"):
        facts.duration_s = audio.duration_s(path, mime)
    elif mime.startswith("video/"):
        _measure_with_ffmpeg(facts, path)
    elif mime == "application/pdf":
        facts.pages = document.pdf_page_count(path)
    elif mime == DOCX_MIME:
        facts.chars = len(document.docx_content(path).text)
    elif mime.startswith("text/") or mime == "application/json":
        facts.chars = text.scan_text(path).chars


def _measure_mp4(facts: ArtifactFacts, path: Path, media_type: str) -> None:
    try:
        movie = mp4.read_movie(path)
    except mp4.Mp4Error as exc:
        raise ArtifactInvalid(f"{facts.mime} file is broken: {exc}") from exc
    facts.duration_s = movie.duration_s
    if media_type == "audio" or facts.mime == "audio/mp4":
        sound = movie.tracks_of("soun")
        if sound and sound[0].duration_s is not None:
            facts.duration_s = sound[0].duration_s
        return
    video = movie.tracks_of("vide")
    if video:
        facts.width, facts.height = video[0].width, video[0].height
        facts.frames = video[0].sample_count
    else:
        facts.frames = 0


def _measure_with_ffmpeg(facts: ArtifactFacts, path: Path) -> None:
    # WebM/Matroska have no parser here; ffmpeg reads them when the extra is installed.
    if ffmpeg.ffmpeg_path() is None:
        return
    try:
        report = ffmpeg.stream_report(path)
    except subprocess.TimeoutExpired as exc:
        raise ArtifactInvalid("reading the video's streams timed out") from exc
    facts.duration_s = ffmpeg.parse_duration(report)
    match = _FFMPEG_VIDEO.search(report)
    if match is None:
        facts.frames = 0
    else:
        facts.width, facts.height = int(match.group(1)), int(match.group(2))
