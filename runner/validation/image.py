"""Image facts with Pillow: dimensions from the header, flatness from the decoded pixels."""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from runner.errors import ArtifactInvalid

#: A band whose values spread over no more than this counts as flat (JPEG rounding noise).
FLAT_TOLERANCE = 2
# Flatness is judged on a reduced copy: JPEG decodes straight to it (draft mode) and the
# comparison stays cheap for very large images. Reducing by an integer factor keeps
# single-pixel details visible as a change in the block's value.
_FLAT_CHECK_SIDE = 512


def dimensions(path: Path) -> tuple[int, int, int]:
    """(width, height, frames) read from the header, without decoding the pixels."""
    with _open(path) as img:
        return img.width, img.height, getattr(img, "n_frames", 1)


def flat_colour(path: Path) -> str | None:
    """The ``#rrggbb`` colour of an image that is one flat colour, else None.

    Decoding happens here, so a truncated or corrupt image raises ArtifactInvalid.
    """
    with _open(path) as img:
        try:
            img.draft("RGB", (_FLAT_CHECK_SIDE, _FLAT_CHECK_SIDE))
            factor = max(1, min(img.width, img.height) // _FLAT_CHECK_SIDE)
            rgba = img.convert("RGBA")
            if factor > 1:
                rgba = rgba.reduce(factor)
        except (OSError, ValueError, SyntaxError) as exc:
            raise ArtifactInvalid(f"image data is corrupt or truncated: {exc}") from exc
    extrema = rgba.getextrema()
    if any(high - low > FLAT_TOLERANCE for low, high in extrema):  # type: ignore[misc]
        return None
    red, green, blue, _ = rgba.getpixel((0, 0))  # type: ignore[misc]
    return f"#{red:02x}{green:02x}{blue:02x}"


def _open(path: Path) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # A decompression-bomb *warning* is for the caller to judge by size rules.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path)
    except Image.DecompressionBombError as exc:
        raise ArtifactInvalid(f"image is implausibly large: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ArtifactInvalid(f"image cannot be opened: {exc}") from exc
