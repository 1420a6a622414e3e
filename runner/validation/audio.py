"""Audio facts: duration from the container headers, loudness from the samples.

WAV is read with the standard library (peak computed chunk by chunk, never the whole file
in memory). Compressed formats need a decoder for the silence check: the optional ffmpeg
binary. Without it only the headers are read and the silence check is skipped.
"""

from __future__ import annotations

import math
import struct
import subprocess
import wave
from array import array
from pathlib import Path

from runner.errors import ArtifactInvalid
from runner.validation import ffmpeg, mp4

#: Below this peak level audio counts as silence (dithered silence peaks near -90 dBFS).
SILENCE_PEAK_DBFS = -60.0
_CHUNK_FRAMES = 65536

# MPEG audio header tables, indexed [version is MPEG-1][layer 1..3][bitrate index] (kbit/s).
_BITRATES = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_SAMPLE_RATES = {
    0b11: (44100, 48000, 32000),
    0b10: (22050, 24000, 16000),
    0b00: (11025, 12000, 8000),
}


def duration_s(path: Path, mime: str) -> float | None:
    """Duration from headers alone (cheap); None when the format does not say."""
    try:
        if mime == "audio/wav":
            return _wav_duration(path)
        if mime == "audio/mpeg":
            return _mp3_duration(path)
        if mime == "audio/flac":
            return _flac_duration(path)
        if mime == "audio/ogg":
            return _ogg_duration(path)
        if mime == "audio/mp4":
            return mp4.read_movie(path).duration_s
    except (wave.Error, EOFError, struct.error, mp4.Mp4Error) as exc:
        raise ArtifactInvalid(f"{mime} file could not be read: {exc}") from exc
    return None


def peak_dbfs(path: Path, mime: str) -> float | None:
    """Peak sample level in dBFS (``-inf`` for digital silence); None when not measurable."""
    if mime == "audio/wav":
        try:
            return _wav_peak_dbfs(path)
        except wave.Error:
            pass  # not plain PCM (float, extensible): let ffmpeg decode it
    if ffmpeg.ffmpeg_path() is None:
        return None
    try:
        _, peak = ffmpeg.audio_peak_dbfs(path)
    except subprocess.TimeoutExpired as exc:
        raise ArtifactInvalid("decoding the audio to check for silence timed out") from exc
    if peak is None:
        raise ArtifactInvalid(f"{mime} file has no decodable audio")
    return peak


def _wav_duration(path: Path) -> float:
    size = path.stat().st_size
    try:
        with wave.open(str(path), "rb") as wav:
            rate, frames = wav.getframerate(), wav.getnframes()
            frame_bytes = wav.getsampwidth() * wav.getnchannels()
    except wave.Error:
        # Float or WAVE_FORMAT_EXTENSIBLE: the stdlib reader refuses it; ffmpeg may not.
        if ffmpeg.ffmpeg_path() is None:
            raise
        return ffmpeg.parse_duration(ffmpeg.stream_report(path)) or 0.0
    # A header written before the data was complete may claim more frames than exist.
    frames = min(frames, max(0, size - 44) // max(frame_bytes, 1))
    return frames / rate if rate else 0.0


def _wav_peak_dbfs(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        width = wav.getsampwidth()
        peak = 0
        while chunk := wav.readframes(_CHUNK_FRAMES):
            peak = max(peak, _chunk_peak(chunk, width))
    # 24-bit samples are reduced to their top 16 bits by _chunk_peak.
    full_scale = {1: 128, 2: 32768, 3: 32768}.get(width, 2**31)
    return 20 * math.log10(peak / full_scale) if peak else -math.inf


def _chunk_peak(chunk: bytes, width: int) -> int:
    if width == 1:  # 8-bit WAV is unsigned, centred on 128
        return max(abs(b - 128) for b in (min(chunk), max(chunk)))
    if width == 3:
        # Keep the two most significant bytes of each little-endian 24-bit sample.
        top = bytearray(len(chunk) // 3 * 2)
        top[0::2] = chunk[1::3]
        top[1::2] = chunk[2::3]
        chunk, width = bytes(top), 2
    samples = array("h" if width == 2 else "i", chunk[: len(chunk) - len(chunk) % width])
    if not samples:
        return 0
    return max(abs(min(samples)), abs(max(samples)))


def _mp3_duration(path: Path) -> float | None:
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(10)
        start = 0
        if head.startswith(b"ID3") and len(head) == 10:
            # Tag size is "syncsafe": 7 bits per byte.
            start = 10 + (head[6] << 21 | head[7] << 14 | head[8] << 7 | head[9])
            if head[5] & 0x10:
                start += 10  # footer
        fh.seek(start)
        window = fh.read(64 * 1024)
        fh.seek(max(0, size - 128))
        has_id3v1 = fh.read(3) == b"TAG"
    for offset in range(len(window) - 4):
        if window[offset] == 0xFF and window[offset + 1] & 0xE0 == 0xE0:
            frame = _mp3_frame(window[offset : offset + 200])
            if frame is not None:
                break
    else:
        raise ArtifactInvalid("MP3 file has no audio frame header")
    bitrate, rate, samples_per_frame, xing_frames = frame
    if xing_frames:  # VBR files say how many frames they hold
        return xing_frames * samples_per_frame / rate
    audio_bytes = size - start - offset - (128 if has_id3v1 else 0)
    return audio_bytes * 8 / (bitrate * 1000)


def _mp3_frame(data: bytes) -> tuple[int, int, int, int] | None:
    """(bitrate kbit/s, sample rate, samples per frame, Xing/VBRI frame count or 0)."""
    version_bits, layer_bits = (data[1] >> 3) & 3, (data[1] >> 1) & 3
    bitrate_index, rate_index = data[2] >> 4, (data[2] >> 2) & 3
    if version_bits == 0b01 or layer_bits == 0 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1, layer = version_bits == 0b11, 4 - layer_bits
    bitrate = _BITRATES[mpeg1, layer][bitrate_index]
    rate = _SAMPLE_RATES[version_bits][rate_index]
    samples = 384 if layer == 1 else 1152 if (layer == 2 or mpeg1) else 576
    mono = (data[3] >> 6) == 0b11
    side_info = (17 if mono else 32) if mpeg1 else (9 if mono else 17)
    frames = 0
    xing = data[4 + side_info : 4 + side_info + 12]
    if xing[:4] in (b"Xing", b"Info") and len(xing) == 12 and xing[7] & 1:
        (frames,) = struct.unpack(">I", xing[8:12])
    elif data[36:40] == b"VBRI" and len(data) >= 54:
        (frames,) = struct.unpack(">I", data[50:54])
    return bitrate, rate, samples, frames


def _flac_duration(path: Path) -> float | None:
    with path.open("rb") as fh:
        block = fh.read(4 + 4 + 18)  # "fLaC", metadata block header, STREAMINFO
    if len(block) < 26:
        raise ArtifactInvalid("FLAC file ends inside its STREAMINFO block")
    # STREAMINFO bytes 10..17: 20-bit sample rate, 3+5 bits layout, 36-bit total samples.
    packed = int.from_bytes(block[18:26], "big")
    rate = packed >> 44
    total = packed & ((1 << 36) - 1)
    return total / rate if rate and total else None


def _ogg_duration(path: Path) -> float | None:
    with path.open("rb") as fh:
        first = fh.read(512)
        size = fh.seek(0, 2)
        fh.seek(max(0, size - 65536))
        tail = fh.read()
    # The first page carries the codec's id header; the last page's granule position is
    # the stream length in samples (48 kHz for Opus, minus its pre-skip).
    if b"OpusHead" in first:
        idx = first.index(b"OpusHead")
        (pre_skip,) = struct.unpack("<H", first[idx + 10 : idx + 12])
        rate = 48000
    elif b"\x01vorbis" in first:
        idx = first.index(b"\x01vorbis")
        (rate,) = struct.unpack("<I", first[idx + 12 : idx + 16])
        pre_skip = 0
    else:
        return None
    last = tail.rfind(b"OggS")
    if last < 0 or len(tail) < last + 14:
        raise ArtifactInvalid("Ogg file has no complete page at its end (truncated?)")
    (granule,) = struct.unpack("<q", tail[last + 6 : last + 14])
    return max(0, granule - pre_skip) / rate if rate else None
