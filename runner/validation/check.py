"""Judge an artifact: built-in placeholder checks, then the preset's ``validate:`` rules.

Every failure raises ArtifactInvalid with a reason a person can act on, such as
"image is a single flat colour (#ffffff) — a placeholder".
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.errors import ArtifactInvalid
from runner.validation import audio, document, image, text
from runner.validation.facts import UNKNOWN_MIME, ArtifactFacts, inspect_file
from runner.validation.rules import (
    DEFAULT_MIN_BYTES,
    DEFAULT_MIN_IMAGE_SIDE,
    MEDIA_MIMES,
    Rules,
    mime_matches,
    parse_rules,
)
from runner.validation.sniff import DOCX_MIME, sniff_mime

#: Why a text that shows nothing fails (whitespace, zero-width and other invisible text).
EMPTY_TEXT = "empty text: only whitespace or invisible characters"


def validate_file(
    path: str | Path, media_type: str, rules: Mapping[str, Any] | None = None
) -> ArtifactFacts:
    """Return the file's facts if it is a usable ``media_type`` artifact; else raise.

    Raises ValueError for unknown or mistyped rules (a configuration mistake, found before
    the file is read) and ArtifactInvalid when the file fails a check.
    """
    if media_type not in MEDIA_MIMES:
        raise ValueError(f"unknown media type {media_type!r}")
    parsed = parse_rules(rules or {})
    path = Path(path)
    facts = inspect_file(path, media_type)
    _check_size(facts, media_type, parsed)
    _check_mime(facts, media_type, parsed)
    if media_type == "image":
        _check_image(facts, path, parsed)
    elif media_type == "audio":
        _check_audio(facts, path, parsed)
    elif media_type == "video":
        _check_video(facts)
    elif media_type == "document":
        _check_document(facts, path, parsed)
    _check_ranges(facts, parsed)
    _check_phrases(facts, path, parsed)
    if media_type == "text":
        _check_text(facts, path)
    return facts


def validate_text(
    content: str, rules: Mapping[str, Any] | None = None, *, markdown: bool = False
) -> ArtifactFacts:
    """:func:`validate_file` for text already in memory: the same checks and facts,
    without writing and re-reading a file (text jobs are the bulk of a large batch)."""
    parsed = parse_rules(rules or {})
    data = content.encode("utf-8")
    mime = sniff_mime(data) or UNKNOWN_MIME
    if mime == "text/plain" and markdown:
        mime = "text/markdown"
    facts = ArtifactFacts(
        mime=mime, size=len(data), sha256=hashlib.sha256(data).hexdigest(), chars=len(content)
    )
    _check_size(facts, "text", parsed)
    _check_mime(facts, "text", parsed)
    _check_ranges(facts, parsed)
    phrases = (*parsed.contains, *parsed.not_contains)
    if phrases:
        folded = content.casefold()
        _judge_phrases({p for p in phrases if p.casefold() in folded}, parsed)
    if text.is_blank(content):
        raise ArtifactInvalid(EMPTY_TEXT)
    return facts


def _check_size(facts: ArtifactFacts, media_type: str, rules: Rules) -> None:
    if facts.size == 0:
        raise ArtifactInvalid("file is empty (0 bytes)")
    least = rules.get("min_bytes", DEFAULT_MIN_BYTES[media_type])
    if least is not None and facts.size < least:
        raise ArtifactInvalid(f"file is {facts.size} bytes; at least {least:g} expected")
    most = rules.get("max_bytes")
    if most is not None and facts.size > most:
        raise ArtifactInvalid(f"file is {facts.size} bytes; at most {most:g} allowed")


def _recognised_media(mime: str) -> bool:
    """Bytes in a real format of their own: the same call would answer in it again. Not
    unrecognised bytes (corrupt or cut off) nor text where media was due (an error page
    served with 200): those are accidents of one call."""
    return mime != UNKNOWN_MIME and not mime_matches(mime, ("text/*", "application/json"))


def _check_mime(facts: ArtifactFacts, media_type: str, rules: Rules) -> None:
    family = MEDIA_MIMES[media_type]
    found = "not a recognised format" if facts.mime == UNKNOWN_MIME else facts.mime
    wrong_format = _recognised_media(facts.mime)
    if not mime_matches(facts.mime, family):
        raise ArtifactInvalid(
            f"expected {' or '.join(family)} but the bytes are {found}",
            deterministic=wrong_format,
        )
    if rules.mime and not mime_matches(facts.mime, rules.mime):
        raise ArtifactInvalid(
            f"content type {found} is not one of {', '.join(rules.mime)}", deterministic=True
        )


def _check_image(facts: ArtifactFacts, path: Path, rules: Rules) -> None:
    width, height = facts.width or 0, facts.height or 0
    min_w = rules.get("min_width", DEFAULT_MIN_IMAGE_SIDE) or 0
    min_h = rules.get("min_height", DEFAULT_MIN_IMAGE_SIDE) or 0
    if width < min_w or height < min_h:
        # Below a size the preset asked for: the model makes that size again. Below only
        # the built-in floor (a few pixels): a placeholder, which may not come twice.
        asked = (width < min_w and "min_width" in rules.numbers) or (
            height < min_h and "min_height" in rules.numbers
        )
        raise ArtifactInvalid(
            f"image is {width}x{height} pixels; at least {min_w:g}x{min_h:g} expected",
            deterministic=asked,
        )
    colour = image.flat_colour(path)  # decodes: also catches truncated images
    if colour is not None and not rules.allow_flat_image:
        raise ArtifactInvalid(f"image is a single flat colour ({colour}) — a placeholder")


def _check_audio(facts: ArtifactFacts, path: Path, rules: Rules) -> None:
    if facts.duration_s is not None and facts.duration_s <= 0:
        raise ArtifactInvalid("audio has no samples (duration 0 s)")
    if rules.allow_silence:
        return
    # None means no decoder for this format (ffmpeg not installed): the check is skipped.
    peak = audio.peak_dbfs(path, facts.mime)
    if peak is not None and peak < audio.SILENCE_PEAK_DBFS:
        level = "-inf" if math.isinf(peak) else f"{peak:.1f}"
        raise ArtifactInvalid(f"audio is silent (peak {level} dBFS)")


def _check_video(facts: ArtifactFacts) -> None:
    if facts.frames == 0:
        raise ArtifactInvalid(f"{facts.mime} file has no video frames")
    # frames/width are None for WebM without ffmpeg: nothing more can be known there.
    if facts.width == 0 or facts.height == 0:
        raise ArtifactInvalid(f"video frames are {facts.width}x{facts.height} pixels")


def _check_document(facts: ArtifactFacts, path: Path, rules: Rules) -> None:
    if facts.mime == "application/pdf" and not facts.pages:
        raise ArtifactInvalid("PDF has 0 pages")
    if facts.mime == DOCX_MIME and not facts.chars and not document.docx_content(path).pictures:
        raise ArtifactInvalid("DOCX has no text and no pictures")


def _check_text(facts: ArtifactFacts, path: Path) -> None:
    if text.scan_text(path).blank:
        raise ArtifactInvalid(EMPTY_TEXT)


# (rule suffix, fact, how to say it, unit, whether a miss is deterministic). Pixel sizes
# are what a model was asked for and it answers the same again; durations, pages and
# lengths vary from call to call (and a short one may be a truncation).
_RANGES = (
    ("width", "width", "image is {} px wide", "", True),
    ("height", "height", "image is {} px high", "", True),
    ("duration_s", "duration_s", "media is {:.2f} s long", " s", False),
    ("pages", "pages", "document has {} pages", "", False),
    ("chars", "chars", "text has {} characters", "", False),
)


def _check_ranges(facts: ArtifactFacts, rules: Rules) -> None:
    if not rules.numbers:
        return
    for suffix, fact, described, unit, deterministic in _RANGES:
        least, most = rules.get(f"min_{suffix}"), rules.get(f"max_{suffix}")
        if least is None and most is None:
            continue
        value = getattr(facts, fact)
        if value is None:
            # The format has no such measure: the same format will not have one next time.
            raise ArtifactInvalid(
                f"rule min/max_{suffix} cannot be checked: {fact} is not measurable "
                f"for {facts.mime}",
                deterministic=True,
            )
        if least is not None and value < least:
            raise ArtifactInvalid(
                f"{described.format(value)}; at least {least:g}{unit} expected",
                deterministic=deterministic,
            )
        if most is not None and value > most:
            raise ArtifactInvalid(
                f"{described.format(value)}; at most {most:g}{unit} allowed",
                deterministic=deterministic,
            )


def _check_phrases(facts: ArtifactFacts, path: Path, rules: Rules) -> None:
    phrases = (*rules.contains, *rules.not_contains)
    if not phrases:
        return
    if facts.mime == DOCX_MIME:
        body = document.docx_content(path).text.casefold()
        found = {p for p in phrases if p.casefold() in body}
    elif facts.chars is not None:
        found = set(text.scan_text(path, phrases).found)
    else:
        raise ArtifactInvalid(f"rules contains/not_contains cannot read the text of {facts.mime}")
    _judge_phrases(found, rules)


def _judge_phrases(found: set[str], rules: Rules) -> None:
    missing = [p for p in rules.contains if p not in found]
    if missing:
        raise ArtifactInvalid(f"text does not contain {', '.join(map(repr, missing))}")
    banned = [p for p in rules.not_contains if p in found]
    if banned:
        raise ArtifactInvalid(f"text contains {', '.join(map(repr, banned))}, which is not allowed")
