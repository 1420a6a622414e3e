"""Small, real media files made on the fly for tests (no binary files in the repo)."""

from __future__ import annotations

import contextlib
import io
import math
import struct
import subprocess
import wave
import zlib
from pathlib import Path

from PIL import Image, ImageDraw


def png(width: int = 64, height: int = 48, *, flat: tuple[int, int, int] | None = None) -> bytes:
    """A PNG: one flat colour when ``flat`` is given, else a diagonal stripe pattern."""
    img = Image.new("RGB", (width, height), flat or (30, 60, 90))
    if flat is None:
        draw = ImageDraw.Draw(img)
        for x in range(-height, width, 8):
            draw.line((x, 0, x + height, height), fill=(240, 200, 40), width=3)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def wav(seconds: float = 1.0, *, amplitude: float = 0.5, rate: int = 16000) -> bytes:
    """A mono 16-bit WAV holding a 440 Hz tone (``amplitude`` 0 gives digital silence)."""
    frames = int(seconds * rate)
    peak = int(32767 * amplitude)
    samples = struct.pack(
        f"<{frames}h", *(int(peak * math.sin(2 * math.pi * 440 * i / rate)) for i in range(frames))
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples)
    return out.getvalue()


def encode_audio(ffmpeg: str, wav_path: Path, out_path: Path) -> Path:
    """Re-encode a WAV with ffmpeg (format chosen by ``out_path``'s suffix)."""
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-i", str(wav_path), str(out_path)], check=True, timeout=60
    )
    return out_path


# --- ISO-BMFF by hand ------------------------------------------------------------------


def box(kind: bytes, *children: bytes) -> bytes:
    payload = b"".join(children)
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def full_box(kind: bytes, body: bytes, version: int = 0) -> bytes:
    return box(kind, bytes([version, 0, 0, 0]) + body)


def mp4_movie(*, samples: int, fragments: tuple[int, ...] = (), handler: bytes = b"vide") -> bytes:
    """A structurally valid MP4 with one track of ``samples`` samples (no real codec data).

    ``fragments`` adds a moof per entry with that many samples in its trun, as fragmented
    MP4 does.
    """
    ftyp = box(b"ftyp", b"isom", struct.pack(">I", 512), b"isomiso2avc1mp41")
    mvhd = full_box(b"mvhd", struct.pack(">IIII", 0, 0, 1000, 2000) + bytes(80))
    tkhd_body = struct.pack(">IIII", 0, 0, 1, 0) + struct.pack(">I", 2000) + bytes(52)
    tkhd = full_box(b"tkhd", tkhd_body + struct.pack(">II", 320 << 16, 240 << 16))
    mdhd = full_box(b"mdhd", struct.pack(">IIII", 0, 0, 12800, 25600) + bytes(4))
    hdlr = full_box(b"hdlr", bytes(4) + handler + bytes(12) + b"handler\x00")
    stsz = full_box(b"stsz", struct.pack(">II", 100, samples))
    trak = box(b"trak", tkhd, box(b"mdia", mdhd, hdlr, box(b"minf", box(b"stbl", stsz))))
    moov = box(b"moov", mvhd, trak)
    moofs = b"".join(
        box(
            b"moof",
            box(
                b"traf",
                full_box(b"tfhd", struct.pack(">I", 1)),
                full_box(b"trun", struct.pack(">I", count)),
            ),
        )
        for count in fragments
    )
    mdat = box(b"mdat", bytes(1200))
    return ftyp + moov + moofs + mdat


# --- PDF by hand -----------------------------------------------------------------------


def pdf_without_pages() -> bytes:
    """A well-formed PDF whose page tree is empty (only ``/Type /Pages``, no ``/Page``)."""
    return (
        b"%PDF-1.4\n"
        b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
        b"trailer\n<< /Root 1 0 R /Size 3 >>\n"
        b"% padding so that the file passes the minimum size check ........................\n"
        b"%%EOF\n"
    )


def pdf_with_object_stream(pages: int) -> bytes:
    """A PDF whose page dictionaries live only inside a compressed object stream."""
    objects = b" ".join(b"<< /Type /Page /Parent 2 0 R >>" for _ in range(pages))
    packed = zlib.compress(objects)
    page_tree = f"2 0 obj\n<< /Type /Pages /Count {pages} >>\nendobj\n".encode()
    stream_dict = f"<< /Type /ObjStm /N {pages} /Filter /FlateDecode /Length {len(packed)} >>"
    return b"".join(
        [
            b"%PDF-1.5\n",
            b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n",
            page_tree,
            b"3 0 obj\n" + stream_dict.encode() + b"\nstream\n" + packed + b"\nendstream\nendobj\n",
            b"% padding .......................................................................\n",
            b"%%EOF\n",
        ]
    )


def inflate_pdf_streams(data: bytes) -> bytes:
    """Every Flate stream of a PDF decompressed and joined (to look for drawn text)."""
    out = []
    start = 0
    while (begin := data.find(b"stream\n", start)) != -1:
        end = data.find(b"endstream", begin)
        with contextlib.suppress(zlib.error):  # not every stream is Flate
            out.append(zlib.decompress(data[begin + 7 : end].rstrip(b"\r\n")))
        start = end + 9
    return b"\n".join(out)
