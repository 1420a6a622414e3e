"""``local`` video model ``slideshow``: image inputs (and an optional audio input) → H.264 MP4.

Each image is scaled to fit and letterboxed to one frame size, shown for
``params.seconds_per_image`` (default: the audio's length shared out, or 3 s), and
encoded by the ffmpeg binary of the ``mediamix[video]`` extra. Without image inputs a card
is rendered from the prompt. The MP4 is streamed out of a temporary file.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image, UnidentifiedImageError

from runner.errors import ArtifactInvalid, PermanentError, UnavailableError
from runner.providers.base import GenerationRequest, GenerationResult, InputAsset, Usage
from runner.providers.local import image_card
from runner.providers.local.params import float_param, int_param
from runner.validation import inspect_file
from runner.validation.ffmpeg import ffmpeg_path

DEFAULT_SECONDS_PER_IMAGE = 3.0
_CHUNK = 1 << 20
_STDERR_TAIL_LINES = 8


async def generate(request: GenerationRequest) -> GenerationResult:
    exe = ffmpeg_path()
    if exe is None:
        raise UnavailableError("video assembly needs ffmpeg: pip install 'mediamix[video]'")
    params = request.params
    width = int_param(params, "width", 1280, 64, 3840) // 2 * 2  # yuv420p needs even sides
    height = int_param(params, "height", 720, 64, 2160) // 2 * 2
    fps = int_param(params, "fps", 25, 1, 60)
    workdir = Path(tempfile.mkdtemp(prefix="mediamix-slideshow-"))
    try:
        images = [_local_path(a) for a in request.inputs if a.media_type == "image"]
        await asyncio.to_thread(_check_images, request.inputs)
        if not images:
            card = workdir / "card.png"
            png = await asyncio.to_thread(image_card.render_card, request.prompt, params)
            card.write_bytes(png)
            images = [str(card)]
        audio = next((_local_path(a) for a in request.inputs if a.media_type == "audio"), None)
        per_image = await _seconds_per_image(params, audio, len(images))
        duration = per_image * len(images)
        output = workdir / "slideshow.mp4"
        args = _ffmpeg_args(images, audio, output, per_image, duration, (width, height), fps)
        await _run(exe, args, workdir, timeout=request.timeout)
        handle = output.open("rb")
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    if os.name == "posix":
        # An open file outlives its directory entry: removing the directory now leaves
        # nothing behind even if the stream is never read to the end.
        shutil.rmtree(workdir, ignore_errors=True)
    return GenerationResult(
        media_type="video",
        mime="video/mp4",
        stream=_stream_file(handle, workdir),
        usage=Usage(seconds=round(duration, 3)),
        metadata={"images": len(images), "seconds_per_image": per_image, "audio": bool(audio)},
    )


def _local_path(asset: InputAsset) -> str:
    if asset.path is None or not Path(asset.path).is_file():
        raise PermanentError(
            f"{asset.media_type} input from step {asset.step!r} is not a local file"
        )
    return asset.path


def _check_images(inputs: Sequence[InputAsset]) -> None:
    # ffmpeg's image looping retries an undecodable picture forever; refuse it up front.
    for asset in inputs:
        if asset.media_type != "image" or asset.path is None:
            continue
        try:
            with Image.open(asset.path) as img:
                img.verify()
        except (OSError, ValueError, SyntaxError, UnidentifiedImageError) as exc:
            raise PermanentError(
                f"image input from step {asset.step!r} cannot be read: {exc}"
            ) from exc


async def _seconds_per_image(params: Mapping[str, Any], audio: str | None, count: int) -> float:
    given = float_param(params, "seconds_per_image", None, 0.1, 3600)
    if given is not None:
        return given
    if audio is None:
        return DEFAULT_SECONDS_PER_IMAGE
    try:
        facts = await asyncio.to_thread(inspect_file, audio, "audio")
    except ArtifactInvalid as exc:
        raise PermanentError(f"the audio input cannot be read: {exc}") from exc
    if not facts.duration_s:
        return DEFAULT_SECONDS_PER_IMAGE
    return facts.duration_s / count


def _ffmpeg_args(
    images: list[str],
    audio: str | None,
    output: Path,
    per_image: float,
    duration: float,
    size: tuple[int, int],
    fps: int,
) -> list[str]:
    width, height = size
    args = ["-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    # Each picture is decoded once and repeated inside the filter graph (looping the input
    # would decode the file again for every frame), fitted into the frame, padded black,
    # and the pictures are joined end to end.
    for image in images:
        args += ["-i", image]
    if audio is not None:
        args += ["-i", audio]
    frames = max(1, round(per_image * fps))
    scaled = [
        f"[{i}:v]scale={width}:{height}:force_original_aspect_ratio=decrease,"
        f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1,format=yuv420p,"
        f"loop=loop={frames - 1}:size=1:start=0,setpts=N/{fps}/TB[v{i}]"
        for i in range(len(images))
    ]
    joined = "".join(f"[v{i}]" for i in range(len(images)))
    graph = ";".join([*scaled, f"{joined}concat=n={len(images)}:v=1:a=0[video]"])
    args += ["-filter_complex", graph, "-map", "[video]"]
    if audio is not None:
        args += ["-map", f"{len(images)}:a:0", "-c:a", "aac", "-b:a", "128k"]
    args += [
        "-c:v", "libx264", "-preset", "veryfast", "-tune", "stillimage",
        "-pix_fmt", "yuv420p", "-r", str(fps),
        # The video sets the length: longer audio is cut, shorter audio ends early.
        "-t", f"{duration:.3f}",
        "-movflags", "+faststart",
        str(output),
    ]  # fmt: skip
    return args


async def _run(exe: str, args: list[str], workdir: Path, timeout: float) -> None:
    process = await asyncio.create_subprocess_exec(
        exe,
        *args,
        cwd=workdir,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except BaseException:  # timeout or cancellation: do not leave ffmpeg running
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    if process.returncode != 0:
        tail = stderr.decode("utf-8", "replace").strip().splitlines()[-_STDERR_TAIL_LINES:]
        raise PermanentError(
            f"ffmpeg failed (exit {process.returncode}): " + " | ".join(tail or ["no output"])
        )


async def _stream_file(fh: BinaryIO, workdir: Path) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(fh.read, _CHUNK):
            yield chunk
    finally:
        fh.close()
        shutil.rmtree(workdir, ignore_errors=True)
