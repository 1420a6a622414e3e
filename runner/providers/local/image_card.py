"""``local`` image model ``card``: the prompt set in type on a gradient, as a PNG.

Colours come from a hash of the prompt and ``params.seed``, so the same request always
gives the same picture and different prompts look different.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import textwrap
import unicodedata
from collections.abc import Mapping
from typing import Any

from PIL import Image, ImageChops, ImageDraw, ImageFont

from runner.providers.base import GenerationRequest, GenerationResult, Usage
from runner.providers.local.params import int_param

DEFAULT_SIZE = (1280, 720)
_MARGIN = 0.08  # of the shorter side
_FontType = ImageFont.FreeTypeFont | ImageFont.ImageFont


async def generate(request: GenerationRequest) -> GenerationResult:
    png = await asyncio.to_thread(render_card, request.prompt, request.params)
    return GenerationResult(media_type="image", mime="image/png", data=png, usage=Usage(images=1))


def render_card(prompt: str, params: Mapping[str, Any]) -> bytes:
    """Render the card and return PNG bytes. ``params``: width, height, seed, title."""
    width = int_param(params, "width", DEFAULT_SIZE[0], 64, 8192)
    height = int_param(params, "height", DEFAULT_SIZE[1], 64, 8192)
    seed = params.get("seed", 0)
    title, body = _split_title(prompt, params.get("title"))
    title, body = _drawable(title), _drawable(body)
    digest = hashlib.sha256(f"{seed}\x00{title}\x00{body}".encode()).digest()

    start, end = _palette(digest)
    img = _gradient((width, height), start, end, angle=digest[6] % 2)
    draw = ImageDraw.Draw(img)
    margin = int(min(width, height) * _MARGIN)
    text_width = width - 2 * margin
    ink, shadow = _ink_for(start, end)

    title_size = max(12, height // 9)
    title_font, title_lines = _fit(draw, title, text_width, title_size, max_lines=3)
    body_font, body_lines = _fit(draw, body, text_width, max(10, height // 24), max_lines=8)
    line_gap = 1.25
    title_h = _line_height(title_font) * line_gap * len(title_lines)
    body_h = _line_height(body_font) * line_gap * len(body_lines)
    gap = margin // 2 if body_lines else 0
    y = max(margin, (height - title_h - gap - body_h) / 2)
    for font, lines in ((title_font, title_lines), (body_font, body_lines)):
        step = _line_height(font) * line_gap
        for line in lines:
            offset = max(1, height // 360)
            draw.text((margin + offset, y + offset), line, font=font, fill=shadow)
            draw.text((margin, y), line, font=font, fill=ink)
            y += step
        y += gap
    # An accent bar keeps even a one-word card from looking empty.
    bar_h = max(2, height // 90)
    draw.rectangle(
        (margin, height - margin, margin + width // 5, height - margin + bar_h), fill=ink
    )

    out = io.BytesIO()
    img.save(out, format="PNG", optimize=False, compress_level=3)
    return out.getvalue()


def _split_title(prompt: str, title: object) -> tuple[str, str]:
    text = prompt.strip()
    if isinstance(title, str) and title.strip():
        return title.strip(), text
    first, _, rest = text.partition("\n")
    return first.strip().lstrip("# ").strip() or " ", rest.strip()


def _palette(digest: bytes) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    # Two colours a third of the colour wheel apart, both fairly saturated and dark
    # enough for light text.
    import colorsys

    hue = digest[0] / 255
    hue2 = (hue + 0.18 + digest[1] / 255 * 0.15) % 1.0
    sat = 0.55 + digest[2] / 255 * 0.3
    light = 0.28 + digest[3] / 255 * 0.14

    def rgb(h: float, lightness: float) -> tuple[int, int, int]:
        r, g, b = colorsys.hls_to_rgb(h, lightness, sat)
        return round(r * 255), round(g * 255), round(b * 255)

    return rgb(hue, light), rgb(hue2, light + 0.1)


def _gradient(
    size: tuple[int, int], start: tuple[int, int, int], end: tuple[int, int, int], angle: int
) -> Image.Image:
    # A 256-step ramp scaled up is far faster than drawing line by line; the mean of a
    # vertical and a horizontal ramp runs corner to corner.
    ramp = Image.linear_gradient("L")
    if angle:
        ramp = ImageChops.add(ramp, ramp.transpose(Image.Transpose.ROTATE_90), scale=2)
    mask = ramp.resize(size, Image.Resampling.BILINEAR)
    return Image.composite(Image.new("RGB", size, end), Image.new("RGB", size, start), mask)


def _ink_for(
    start: tuple[int, int, int], end: tuple[int, int, int]
) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    luma = sum(0.299 * a + 0.587 * b + 0.114 * c for a, b, c in (start, end)) / 2
    return ((250, 250, 245), (0, 0, 0)) if luma < 150 else ((20, 20, 28), (255, 255, 255))


def _fit(
    draw: ImageDraw.ImageDraw, text: str, width: int, size: int, max_lines: int
) -> tuple[_FontType, list[str]]:
    """Largest font (from ``size`` down) at which ``text`` wraps into ``max_lines``."""
    while True:
        font = _font(size)
        lines = _wrap(draw, text, font, width) if text else []
        if len(lines) <= max_lines or size <= 10:
            if len(lines) > max_lines:
                lines = [*lines[: max_lines - 1], lines[max_lines - 1].rstrip() + " …"]
            return font, lines
        size = int(size * 0.85)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: _FontType, width: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        words = paragraph.split()
        line = ""
        for word in words:
            candidate = f"{line} {word}".strip()
            if draw.textlength(candidate, font=font) <= width or not line:
                line = candidate
            else:
                lines.extend(_break_long(draw, line, font, width))
                line = word
        # A single word wider than the card is broken by characters.
        lines.extend(_break_long(draw, line, font, width))
    return [ln for ln in lines if ln]


def _break_long(draw: ImageDraw.ImageDraw, line: str, font: _FontType, width: int) -> list[str]:
    if draw.textlength(line, font=font) <= width:
        return [line]
    chars_per_line = max(1, int(len(line) * width / draw.textlength(line, font=font)))
    return textwrap.wrap(line, chars_per_line, break_long_words=True) or [line]


@functools.cache
def _font(size: int) -> _FontType:
    # DejaVu covers accents, Greek and Cyrillic; Pillow's built-in font only ASCII. Use
    # it when the system has it, else the built-in one (characters it lacks are replaced).
    try:
        return ImageFont.truetype(_PREFERRED_FONT, size)
    except OSError:
        return ImageFont.load_default(size=size)


_PREFERRED_FONT = "DejaVuSans.ttf"
# Common typography with plain stand-ins, for fonts without the real glyphs.
_ASCII_STAND_INS = str.maketrans(
    {"—": " - ", "–": "-", "…": "...", "•": "*", "“": '"', "”": '"', "‘": "'", "’": "'", "→": "->"}
)


def _drawable(text: str) -> str:
    """Replace characters the font has no glyph for (they would print as boxes)."""
    return "".join(_drawable_char(ch) for ch in text)


@functools.cache
def _drawable_char(ch: str) -> str:
    if ch.isascii() or _has_glyph(ch):
        return ch
    stand_in = ch.translate(_ASCII_STAND_INS)
    if stand_in != ch:
        return stand_in
    # Accented letters lose their accents; anything else (emoji, symbols) is dropped.
    stripped = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
    return stripped


def _has_glyph(ch: str) -> bool:
    font = _font(24)
    return _mask_signature(font, ch) != _mask_signature(font, _SURELY_MISSING)


_SURELY_MISSING = "\U0010fffd"  # private use: no font draws it, so it shows "no glyph"


@functools.cache
def _mask_signature(font: _FontType, ch: str) -> tuple[tuple[int, int], bytes]:
    mask = font.getmask(ch)
    return mask.size, bytes(mask)


def _line_height(font: _FontType) -> float:
    _, top, _, bottom = font.getbbox("Ag")
    return float(bottom - top) if bottom > top else 12.0
