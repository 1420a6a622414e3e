"""Real, small media for fake answers, made once per process and cached.

Images come from Pillow (a gradient with seeded noise, so they are neither blank nor
identical), audio from the ``wave`` module, MP3 and MP4 from the ffmpeg binary that
``imageio-ffmpeg`` ships (cached in a temp dir for the process).
"""

from __future__ import annotations

import io
import itertools
import math
import random
import struct
import subprocess
import tempfile
import wave
from functools import cache
from pathlib import Path

from PIL import Image

PCM_RATE = 24_000  # Gemini TTS returns 24 kHz 16-bit mono PCM.


@cache
def _image(width: int, height: int, seed: int) -> Image.Image:
    rng = random.Random(seed)
    gradient = Image.linear_gradient("L").resize((width, height))
    across = Image.linear_gradient("L").transpose(Image.Transpose.ROTATE_90).resize((width, height))
    noise = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    tint = Image.new("RGB", (width, height), (rng.randrange(256), 90, rng.randrange(256)))
    base = Image.merge("RGB", (gradient, across, gradient))
    return Image.blend(Image.blend(base, tint, 0.4), noise, 0.25)


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


@cache
def png(width: int = 256, height: int = 256, seed: int = 0) -> bytes:
    return _encode(_image(width, height, seed), "PNG")


@cache
def blank_png(width: int = 256, height: int = 256) -> bytes:
    """A flat white picture: what a placeholder-returning provider sends."""
    return _encode(Image.new("RGB", (width, height), (255, 255, 255)), "PNG")


@cache
def jpeg(width: int = 256, height: int = 256, seed: int = 0) -> bytes:
    return _encode(_image(width, height, seed), "JPEG")


@cache
def webp(width: int = 256, height: int = 256, seed: int = 0) -> bytes:
    return _encode(_image(width, height, seed), "WEBP")


def _samples(seconds: float, freq: float, rate: int, amplitude: float) -> bytes:
    count = int(seconds * rate)
    return b"".join(
        struct.pack("<h", int(amplitude * 32767 * math.sin(2 * math.pi * freq * i / rate)))
        for i in range(count)
    )


def _wav_from_pcm(pcm: bytes, rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()


@cache
def wav(seconds: float = 1.0, freq: float = 440.0, rate: int = 16_000) -> bytes:
    return _wav_from_pcm(_samples(seconds, freq, rate, 0.5), rate)


@cache
def silent_wav(seconds: float = 1.0, rate: int = 16_000) -> bytes:
    return _wav_from_pcm(b"\x00\x00" * int(seconds * rate), rate)


@cache
def pcm16(seconds: float = 1.0, freq: float = 440.0) -> bytes:
    """Raw little-endian 16-bit mono PCM at 24 kHz (Gemini TTS's inline audio)."""
    return _samples(seconds, freq, PCM_RATE, 0.5)


@cache
def silent_pcm16(seconds: float = 1.0) -> bytes:
    return b"\x00\x00" * int(seconds * PCM_RATE)


_file_numbers = itertools.count()


@cache
def _workdir() -> Path:
    # Kept for the process; the OS temp cleaner takes it later.
    return Path(tempfile.mkdtemp(prefix="mediamix-fake-media-"))


def _scratch(suffix: str) -> Path:
    return _workdir() / f"{next(_file_numbers)}{suffix}"


def _ffmpeg(args: list[str], suffix: str) -> bytes:
    """Run ffmpeg with ``args`` into a fresh file with ``suffix``; return its bytes."""
    import imageio_ffmpeg

    target = _scratch(suffix)
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    subprocess.run([*command, *args, str(target)], check=True, capture_output=True)
    return target.read_bytes()


def _wav_file(data: bytes) -> str:
    source = _scratch(".wav")
    source.write_bytes(data)
    return str(source)


# No ID3 tag: the file starts with an MPEG frame sync, as a bare MP3 stream does.
_MP3 = ["-codec:a", "libmp3lame", "-id3v2_version", "0", "-write_xing", "0"]


@cache
def mp3(seconds: float = 1.0, freq: float = 440.0) -> bytes:
    return _ffmpeg(["-i", _wav_file(wav(seconds, freq)), *_MP3], ".mp3")


@cache
def silent_mp3(seconds: float = 1.0) -> bytes:
    return _ffmpeg(["-i", _wav_file(silent_wav(seconds)), *_MP3], ".mp3")


@cache
def mp4(seconds: float = 1.0, width: int = 160, height: int = 120) -> bytes:
    source = f"testsrc=duration={seconds}:size={width}x{height}:rate=10"
    encode = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    return _ffmpeg(["-f", "lavfi", "-i", source, *encode, "-movflags", "+faststart"], ".mp4")
