"""An artifact as a judge is shown it: pictures for what is seen, words for what is read.

- image: the picture itself (PNG, JPEG, WebP and GIF as they are; anything else as PNG);
- video: a few frames spread over the clip (:mod:`runner.judge.frames`);
- text: the text; document: its text (DOCX paragraphs and tables, PDF text layer);
- audio: a transcript, made by a speech-to-text model (a call, so the engine makes it).

Long texts are cut to ``MAX_TEXT_CHARS`` (and the judge is told so): a judge bills by the
token, and the start of a text tells most of what a score needs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from runner.judge.frames import FramesError, extract_frames
from runner.providers.base import InputAsset
from runner.validation.document import docx_content
from runner.validation.sniff import DOCX_MIME

MAX_TEXT_CHARS = 50_000
#: Picture types every vision judge reads as they are.
JUDGE_IMAGE_MIMES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})


class ExhibitError(RuntimeError):
    """The artifact cannot be shown to a judge (no ffmpeg for frames, unreadable text)."""


@dataclass
class Exhibit:
    media_type: str
    #: What the judge looks at: the image, or frames of a video.
    pictures: list[InputAsset] = field(default_factory=list)
    #: What the judge reads: the text, a document's text, or a transcript of speech.
    text: str | None = None
    #: One line telling the judge what it is shown ("4 frames of a 8.0 s video").
    description: str = ""
    #: Files made only for the judge (frames, converted pictures), deleted afterwards.
    scratch: list[Path] = field(default_factory=list)

    def discard(self) -> None:
        for path in self.scratch:
            path.unlink(missing_ok=True)


async def exhibit_for(
    media_type: str,
    *,
    path: Path | None,
    text: str | None,
    mime: str,
    duration_s: float | None,
    frames: int,
    scratch: Path,
) -> Exhibit:
    """What a judge sees of an image, video, text or document artifact."""
    if media_type == "text":
        return _text_exhibit("text", text or "", "the generated text")
    if path is None:
        raise ExhibitError(f"the {media_type} artifact has no file to show the judge")
    if media_type == "image":
        if mime in JUDGE_IMAGE_MIMES:  # shown as it is: nothing to read or convert here
            return Exhibit("image", pictures=[_picture(path, mime)], description="the image")
        return await asyncio.to_thread(_converted_image, path, scratch)
    if media_type == "video":
        try:
            shots = await asyncio.to_thread(extract_frames, path, frames, duration_s, scratch)
        except (FramesError, OSError) as exc:
            raise ExhibitError(str(exc)) from exc
        length = f"{duration_s:.1f} s " if duration_s else ""
        return Exhibit(
            "video",
            pictures=[_picture(p, "image/jpeg") for p in shots],
            description=f"{len(shots)} frames taken evenly over the {length}video, in order",
            scratch=list(shots),
        )
    if media_type == "document":
        words = await asyncio.to_thread(document_text, path, mime)
        return _text_exhibit("document", words, "the text of the generated document")
    raise ExhibitError(f"a judge cannot be shown {media_type} this way")


def transcript_exhibit(transcript: str, duration_s: float | None) -> Exhibit:
    length = f"{duration_s:.1f} s of " if duration_s else ""
    return _text_exhibit(
        "audio", transcript, f"a transcript of {length}generated speech (what was heard)"
    )


def _text_exhibit(media_type: str, text: str, what: str) -> Exhibit:
    cut = len(text) > MAX_TEXT_CHARS
    shown = text[:MAX_TEXT_CHARS]
    note = f" (its first {MAX_TEXT_CHARS:,} of {len(text):,} characters)" if cut else ""
    return Exhibit(media_type, text=shown, description=what + note)


def _picture(path: Path, mime: str) -> InputAsset:
    return InputAsset(media_type="image", mime=mime, path=str(path))


def _converted_image(path: Path, scratch: Path) -> Exhibit:
    """A picture type some judges do not read (BMP, TIFF, ...), as PNG."""
    from PIL import Image, UnidentifiedImageError

    converted = scratch / f"{path.stem}-judge.png"
    try:
        with Image.open(path) as image:
            image.convert("RGB").save(converted, format="PNG")
    except (OSError, UnidentifiedImageError) as exc:
        raise ExhibitError(f"the image cannot be converted for the judge: {exc}") from exc
    return Exhibit(
        "image",
        pictures=[_picture(converted, "image/png")],
        description="the image",
        scratch=[converted],
    )


def document_text(path: Path, mime: str) -> str:
    """A document's words: DOCX paragraphs and tables, a PDF's text layer, or the file."""
    try:
        if mime == DOCX_MIME:
            return docx_content(path).text
        if mime == "application/pdf":
            return _pdf_text(path)
        return path.read_text(encoding="utf-8", errors="replace")
    except ExhibitError:
        raise
    except Exception as exc:  # a broken file is the judge's problem to report, not a crash
        raise ExhibitError(f"the document's text cannot be read: {exc}") from exc


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    pages = [page.extract_text() or "" for page in reader.pages]
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise ExhibitError("the PDF has no text layer to show the judge")
    return text
