"""Video answers of any size, made while they are sent: a real short MP4, then one ``free``
box of zeros up to the size asked for.

``POST /_fake/config {"video_bytes": N}`` (or ``state.video_bytes = N``) makes every video
answer of Runway (its task output) and OpenAI (Sora video content) ``N`` bytes long. The
server never holds more than the small MP4 and one chunk of zeros, so a benchmark can
stream gigabytes through a client and measure the client alone. ISO-BMFF readers skip
``free`` boxes, so the file still opens (and passes mediamix's validation) as the short
clip it starts with.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from aiohttp import web

#: Zeros are sent in pieces of this size.
CHUNK_BYTES = 1 << 20
#: A ``free`` box with a 64-bit size: 4-byte size 1, type, 8-byte real size.
_LARGE_BOX_HEADER = 16
_ZEROS = bytes(CHUNK_BYTES)


@dataclass(frozen=True)
class PaddedMp4:
    """``head`` (a whole MP4) padded with a ``free`` box to ``size`` bytes in total."""

    head: bytes
    size: int

    def __post_init__(self) -> None:
        if self.size < len(self.head) + _LARGE_BOX_HEADER:
            raise ValueError(
                f"a padded video needs at least {len(self.head) + _LARGE_BOX_HEADER} bytes"
            )

    def chunks(self) -> Iterator[bytes]:
        yield self.head
        padding = self.size - len(self.head)
        yield struct.pack(">I4sQ", 1, b"free", padding)
        left = padding - _LARGE_BOX_HEADER
        while left > 0:
            piece = min(left, CHUNK_BYTES)
            yield _ZEROS if piece == CHUNK_BYTES else _ZEROS[:piece]
            left -= piece


async def stream(request: web.Request, body: PaddedMp4, content_type: str) -> web.StreamResponse:
    """Send ``body`` chunk by chunk, with its Content-Length (a download a client can size)."""
    answer = web.StreamResponse(headers={"Content-Type": content_type})
    answer.content_length = body.size
    await answer.prepare(request)
    for chunk in body.chunks():
        await answer.write(chunk)
    await answer.write_eof()
    return answer
