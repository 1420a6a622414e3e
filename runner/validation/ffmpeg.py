"""The ffmpeg binary from the optional ``imageio-ffmpeg`` extra (``mediamix[video]``).

Validation uses it to decode compressed audio for the silence check and to read WebM
streams; the local video generator uses it to encode. Without it those checks are skipped
and video assembly is unavailable.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

_PROBE_TIMEOUT_S = 120.0
_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_MAX_VOLUME = re.compile(r"max_volume: (-?inf|-?\d+(?:\.\d+)?) dB")


@cache
def ffmpeg_path() -> str | None:
    """Path of the bundled ffmpeg binary, or None when the extra is not installed."""
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:  # package present but its binary is missing
        return None
    return exe if Path(exe).is_file() else None


def run_ffmpeg(args: list[str]) -> str:
    """Run ffmpeg (no shell) and return its stderr, where it reports what it found."""
    exe = ffmpeg_path()
    if exe is None:
        raise FileNotFoundError("ffmpeg is not installed")
    done = subprocess.run(
        [exe, "-hide_banner", "-nostdin", *args],
        capture_output=True,
        timeout=_PROBE_TIMEOUT_S,
        check=False,
    )
    return done.stderr.decode("utf-8", "replace")


def stream_report(path: str | Path) -> str:
    """ffmpeg's description of the file's streams (``Stream #0:0: Video: h264 ...``)."""
    # With no output file ffmpeg exits non-zero after printing the input's streams.
    return run_ffmpeg(["-i", str(path)])


def parse_duration(report: str) -> float | None:
    match = _DURATION.search(report)
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def audio_peak_dbfs(path: str | Path) -> tuple[float | None, float | None]:
    """Decode the first audio stream; return (duration_s, peak level in dBFS).

    The peak is ``-inf`` for digital silence and None when nothing could be decoded.
    """
    report = run_ffmpeg(
        ["-i", str(path), "-map", "0:a:0", "-af", "volumedetect", "-f", "null", "-"]
    )
    match = _MAX_VOLUME.search(report)
    peak = None if match is None else float(match.group(1))
    return parse_duration(report), peak
