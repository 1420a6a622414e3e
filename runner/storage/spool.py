"""Spooling a provider's result to a local scratch file, the one form storage takes in.

Streams are written chunk by chunk through a small buffer, so a multi-gigabyte video never
sits whole in memory; disk writes run in a worker thread so a slow disk cannot stall the
event loop. Whatever goes wrong (a disk error, a provider stream that breaks off,
cancellation) the partial file is removed before the error travels on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from runner.errors import StorageError
from runner.providers.base import GenerationResult

#: Chunks are gathered up to this size before each write: large enough that the thread
#: hop per write is cheap, small enough that thousands of concurrent spools fit in memory.
FLUSH_BYTES = 1 << 20


async def spool_result(result: GenerationResult, directory: Path, *, suffix: str) -> Path:
    """Write the result's text (UTF-8), data or stream to a new file in ``directory``.

    Returns the file's path. I/O failures raise StorageError; errors raised by the
    provider's stream itself (e.g. a transient download failure) pass through unchanged.
    """
    body = _single_body(result)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, path = _new_file(directory, suffix)
    except OSError as exc:
        raise StorageError(f"cannot create a scratch file in {directory}: {exc}") from exc
    try:
        try:
            with os.fdopen(fd, "wb") as fh:
                if isinstance(body, bytes):
                    await _write(fh, body, path)
                else:
                    await _copy_stream(body, fh, path)
        except OSError as exc:  # the final flush and close happen outside _write
            raise StorageError(f"cannot write scratch file {path}: {exc}") from exc
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _new_file(directory: Path, suffix: str) -> tuple[int, Path]:
    """A new, empty file under a random name. Unlike mkstemp's 0600, its mode is 0666
    less the umask: a spooled file is renamed into place as the artifact, which should
    get the same permissions as any file the user writes (a web server may serve it)."""
    while True:
        path = directory / f"spool-{secrets.token_hex(8)}{suffix}"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), path
        except FileExistsError:
            continue


def _single_body(result: GenerationResult) -> bytes | AsyncIterator[bytes]:
    if result.text is not None:
        return result.text.encode("utf-8")
    if result.data is not None:
        return result.data
    if result.stream is not None:
        return result.stream
    raise StorageError(f"the {result.media_type} result carries no text, data or stream")


async def _copy_stream(stream: AsyncIterator[bytes], fh: BinaryIO, path: Path) -> None:
    buffer = bytearray()
    try:
        async for chunk in stream:
            buffer += chunk
            if len(buffer) >= FLUSH_BYTES:
                await _write(fh, bytes(buffer), path)
                buffer.clear()
        if buffer:
            await _write(fh, bytes(buffer), path)
    finally:
        # Release the provider's connection if we stopped before the stream ended.
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()


#: Writes up to this size go straight from the event loop: a thread hop costs more.
INLINE_WRITE_BYTES = 256 << 10


async def _write(fh: BinaryIO, data: bytes, path: Path) -> None:
    try:
        if len(data) <= INLINE_WRITE_BYTES:
            fh.write(data)
        else:
            await asyncio.to_thread(fh.write, data)
    except OSError as exc:
        raise StorageError(f"cannot write scratch file {path}: {exc.strerror or exc}") from exc
