"""``local`` document models ``pdf`` (fpdf2) and ``docx`` (python-docx).

The prompt is the body in a small Markdown subset (``#`` headings, blank-line paragraphs,
``-`` bullets). Image inputs are placed after the first heading (``params.image_position``:
``after_heading`` | ``start`` | ``end``); text inputs are appended as sections.
``params.title`` adds a top heading and sets the document's metadata title.
"""

from __future__ import annotations

import asyncio
import io
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from runner.errors import PermanentError
from runner.providers.base import GenerationRequest, GenerationResult, InputAsset
from runner.providers.local.markdown_lite import Block, parse
from runner.providers.local.params import str_param
from runner.validation import DOCX_MIME

_POSITIONS = ("after_heading", "start", "end")
_MAX_IMAGE_HEIGHT_SHARE = 0.6  # of the printable page height


@dataclass(frozen=True)
class Picture:
    path: str
    step: str | None


Item = Block | Picture


async def generate_pdf(request: GenerationRequest) -> GenerationResult:
    title, items = _layout(request)
    pdf = await asyncio.to_thread(render_pdf, title, items, request.params)
    return GenerationResult(media_type="document", mime="application/pdf", data=pdf)


async def generate_docx(request: GenerationRequest) -> GenerationResult:
    title, items = _layout(request)
    docx = await asyncio.to_thread(render_docx, title, items)
    return GenerationResult(media_type="document", mime=DOCX_MIME, data=docx)


def _layout(request: GenerationRequest) -> tuple[str | None, list[Item]]:
    params = request.params
    position = str_param(params, "image_position", "after_heading", _POSITIONS)
    title = params.get("title")
    if title is not None and not isinstance(title, str):
        raise PermanentError(f"params.title must be a string, not {title!r}")
    items: list[Item] = list(parse(request.prompt))
    if title and not (items and isinstance(items[0], Block) and items[0].text == title):
        items.insert(0, Block("heading", title, level=1))
    pictures = [_picture(asset) for asset in request.inputs if asset.media_type == "image"]
    if position == "end":
        at = len(items)
    elif position == "start":
        at = 0
    else:
        at = next((i + 1 for i, b in enumerate(items) if getattr(b, "kind", "") == "heading"), 0)
    items[at:at] = pictures
    for asset in request.inputs:
        if asset.media_type == "text":
            items.extend(_section(asset))
    if not items:
        raise PermanentError("the document would be empty: no prompt text and no inputs")
    doc_title = title or next(
        (b.text for b in items if isinstance(b, Block) and b.kind == "heading"), None
    )
    return doc_title, items


def _picture(asset: InputAsset) -> Picture:
    if asset.path is None or not Path(asset.path).is_file():
        raise PermanentError(f"image input from step {asset.step!r} is not a local file")
    return Picture(asset.path, asset.step)


def _section(asset: InputAsset) -> list[Block]:
    if asset.text is not None:
        body = asset.text
    elif asset.path is not None:
        body = Path(asset.path).read_text(encoding="utf-8", errors="replace")
    else:
        raise PermanentError(f"text input from step {asset.step!r} has no text")
    blocks = parse(body)
    if blocks and blocks[0].kind != "heading" and asset.step:
        blocks.insert(0, Block("heading", asset.step.replace("_", " ").capitalize(), level=2))
    return blocks


# --- PDF -------------------------------------------------------------------------------

_PDF_HEADING_PT = {1: 22, 2: 17, 3: 14, 4: 12, 5: 11, 6: 11}
_BODY_PT = 11
# The core PDF fonts speak Windows-1252 only; these have plain stand-ins.
_CP1252_STAND_INS = str.maketrans({"→": "->", "←": "<-", "−": "-", "≤": "<=", "≥": ">=", "✓": "v"})


def render_pdf(title: str | None, items: Sequence[Item], params: Mapping[str, Any]) -> bytes:
    from fpdf import FPDF, FPDFException
    from fpdf.enums import XPos, YPos

    page_size = str_param(params, "page_size", "A4", ("A4", "A5", "letter", "legal"))
    pdf = FPDF(format=page_size)
    pdf.core_fonts_encoding = "windows-1252"
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.set_margins(20, 20, 20)
    if title:
        pdf.set_title(_cp1252(title))
    pdf.set_creator("mediamix")
    pdf.add_page()
    try:
        for item in items:
            if isinstance(item, Picture):
                _pdf_picture(pdf, item)
                continue
            text = _cp1252(item.text)
            if item.kind == "heading":
                size = _PDF_HEADING_PT[item.level]
                pdf.set_font("Helvetica", "B", size)
                pdf.ln(size * 0.25)
                pdf.multi_cell(0, size * 0.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                pdf.ln(2)
            elif item.kind == "bullet":
                pdf.set_font("Helvetica", "", _BODY_PT)
                pdf.set_x(pdf.l_margin + 4)
                pdf.multi_cell(0, 5.5, f"\u2022  {text}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            else:
                pdf.set_font("Helvetica", "", _BODY_PT)
                pdf.multi_cell(0, 5.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                pdf.ln(3)
        return bytes(pdf.output())
    except FPDFException as exc:
        raise PermanentError(f"PDF layout failed: {exc}") from exc


def _pdf_picture(pdf: Any, picture: Picture) -> None:
    width, height = _image_size(picture)
    w = pdf.epw
    h = w * height / width
    max_h = pdf.eph * _MAX_IMAGE_HEIGHT_SHARE
    if h > max_h:
        h, w = max_h, max_h * width / height
    if pdf.get_y() + h > pdf.page_break_trigger:
        pdf.add_page()
    try:
        pdf.image(picture.path, x=pdf.l_margin + (pdf.epw - w) / 2, y=pdf.get_y(), w=w, h=h)
    except (OSError, ValueError, UnidentifiedImageError) as exc:
        raise PermanentError(f"image from step {picture.step!r} cannot be embedded: {exc}") from exc
    pdf.set_y(pdf.get_y() + h + 4)


def _cp1252(text: str) -> str:
    """Text the core fonts can print: typography kept, accents stripped only if needed."""
    out = []
    for ch in text.translate(_CP1252_STAND_INS):
        try:
            ch.encode("cp1252")
        except UnicodeEncodeError:
            ch = unicodedata.normalize("NFKD", ch).encode("cp1252", "ignore").decode("cp1252")
            ch = ch or "?"
        out.append(ch)
    return "".join(out)


# --- DOCX ------------------------------------------------------------------------------

_DOCX_PICTURE_FORMATS = {"PNG", "JPEG", "GIF", "BMP", "TIFF"}


def render_docx(title: str | None, items: Sequence[Item]) -> bytes:
    import docx
    from docx.shared import Inches

    document = docx.Document()
    if title:
        document.core_properties.title = title
    for item in items:
        if isinstance(item, Picture):
            document.add_picture(_docx_image(item), width=Inches(6))
        elif item.kind == "heading":
            document.add_heading(item.text, level=min(item.level, 9))
        elif item.kind == "bullet":
            document.add_paragraph(item.text, style="List Bullet")
        else:
            document.add_paragraph(item.text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _docx_image(picture: Picture) -> io.BytesIO:
    # python-docx embeds PNG/JPEG/GIF/BMP/TIFF as they are; anything else becomes PNG.
    data = io.BytesIO(Path(picture.path).read_bytes())
    try:
        with Image.open(data) as img:
            if img.format in _DOCX_PICTURE_FORMATS:
                data.seek(0)
                return data
            converted = io.BytesIO()
            img.convert("RGBA").save(converted, format="PNG")
    except (OSError, ValueError, UnidentifiedImageError) as exc:
        raise PermanentError(f"image from step {picture.step!r} cannot be embedded: {exc}") from exc
    converted.seek(0)
    return converted


def _image_size(picture: Picture) -> tuple[int, int]:
    try:
        with Image.open(picture.path) as img:
            return img.width, img.height
    except (OSError, UnidentifiedImageError) as exc:
        raise PermanentError(f"image from step {picture.step!r} cannot be read: {exc}") from exc
