"""A few frames of a video, for a judge that can only look at pictures.

The bundled ffmpeg (``imageio-ffmpeg``, the ``video`` extra) takes ``count`` frames spread
evenly over the clip in one pass, each scaled to at most 768 pixels wide (judges bill by
picture size, and detail beyond that rarely changes a score), as JPEG files.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from runner.validation import ffmpeg

#: Widest frame handed to a judge, in pixels.
MAX_FRAME_WIDTH = 768
_TIMEOUT_S = 120.0


class FramesError(RuntimeError):
    """No frames could be taken (no ffmpeg, or a clip it cannot decode)."""


def extract_frames(video: Path, count: int, duration_s: float | None, out_dir: Path) -> list[Path]:
    """``count`` JPEG frames of ``video`` in ``out_dir``, earliest first."""
    exe = ffmpeg.ffmpeg_path()
    if exe is None:
        raise FramesError("taking frames of a video needs ffmpeg: pip install 'mediamix[video]'")
    if not duration_s or duration_s <= 0:
        duration_s = ffmpeg.parse_duration(ffmpeg.stream_report(video)) or 0.0
    if duration_s <= 0:
        raise FramesError("the video's duration is unknown, so no frames can be spread over it")
    out_dir.mkdir(parents=True, exist_ok=True)
    pattern = out_dir / f"{video.stem}-frame-%02d.jpg"
    # fps=count/duration gives one frame per equal slice of the clip.
    select = f"fps={count}/{duration_s:.6f},scale='min({MAX_FRAME_WIDTH},iw)':-2"
    done = subprocess.run(
        [
            exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-i", str(video), "-vf", select, "-frames:v", str(count), "-q:v", "4",
            str(pattern),
        ],
        capture_output=True,
        timeout=_TIMEOUT_S,
        check=False,
    )  # fmt: skip
    frames = sorted(out_dir.glob(f"{video.stem}-frame-*.jpg"))
    if done.returncode != 0 or not frames:
        for frame in frames:
            frame.unlink(missing_ok=True)
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise FramesError(
            "ffmpeg took no frames from the video" + (f": {detail[-1][:200]}" if detail else "")
        )
    return frames
