"""Artifacts on local disk, written so that no reader ever sees half a file.

Each artifact is copied to a hidden temporary name in its destination folder and then
renamed over the final name with ``os.replace``, which is atomic within one filesystem:
a reader sees the old file or the whole new one, and a failed copy leaves only a temporary
file, which is removed. This uses the OS directly rather than fsspec's local filesystem,
whose moves and copies promise no such atomicity.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import os
import secrets
import shutil
from pathlib import Path
from urllib.parse import quote_from_bytes, unquote, urlsplit

from runner.errors import StorageError

#: Copy buffer: large reads keep the copy fast without holding big files in memory.
_COPY_CHUNK = 1 << 20

#: Byte writes up to this size run on the event loop: a thread hop costs more.
INLINE_WRITE_BYTES = 256 << 10

#: How many folders a backend remembers having made before it starts over.
_FOLDERS_REMEMBERED = 4096


class LocalBackend:
    """Stores keys as files under ``root`` (an absolute directory)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.abspath(root))
        self._root_uri = self.root.as_uri()
        #: Folders this backend has made or seen: a big batch writes thousands of files
        #: into a few folders, and each mkdir is a system call.
        self._folders: set[str] = set()

    @property
    def root_uri(self) -> str:
        return self._root_uri

    def uri_for(self, key: str) -> str:
        # What (self.root / key).as_uri() gives for a checked key, without pathlib's cost
        # (a big batch asks for thousands of URIs).
        separator = "" if self._root_uri.endswith("/") else "/"
        return f"{self._root_uri}{separator}{quote_from_bytes(os.fsencode(key))}"

    def path_for(self, uri: str) -> Path:
        """The file behind one of this store's ``file://`` URIs."""
        parts = urlsplit(uri)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            raise StorageError(f"{uri!r} is not a file:// URI of this store ({self.root_uri})")
        path = Path(os.path.normpath(unquote(parts.path)))
        if not path.is_relative_to(self.root) or path == self.root:
            raise StorageError(f"{uri!r} is outside this store's root ({self.root_uri})")
        return path

    async def put(self, local_path: Path, key: str, *, move: bool) -> Path:
        destination = self.root / key
        await asyncio.to_thread(_install, local_path, destination, move)
        return destination

    async def put_bytes(self, data: bytes, key: str) -> Path:
        """Write ``data`` as the artifact ``key``; small writes run on the event loop,
        where a thread hop would cost more than the write (text jobs in a big batch)."""
        destination = os.path.join(self.root, key)
        if len(data) <= INLINE_WRITE_BYTES:
            self._write_new(destination, data)
        else:
            await asyncio.to_thread(self._write_new, destination, data)
        return Path(destination)

    def _write_new(self, destination: str, data: bytes) -> None:
        folder = os.path.dirname(destination)
        if folder not in self._folders:
            _make_folder(folder)
            if len(self._folders) >= _FOLDERS_REMEMBERED:
                self._folders.clear()  # a batch of a million rows makes a folder per row
            self._folders.add(folder)
        _write_atomically(destination, data)

    async def exists(self, uri: str) -> bool:
        return await asyncio.to_thread(self.path_for(uri).is_file)

    async def read_bytes(self, uri: str) -> bytes:
        path = self.path_for(uri)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as exc:
            raise StorageError(f"artifact {uri} does not exist") from exc
        except OSError as exc:
            raise StorageError(f"cannot read artifact {uri}: {_reason(exc)}") from exc

    async def delete(self, uri: str) -> None:
        path = self.path_for(uri)
        try:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete artifact {uri}: {_reason(exc)}") from exc


def _make_folder(folder: str) -> None:
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create folder {folder}: {_reason(exc)}") from exc


def _write_atomically(destination: str, data: bytes) -> None:
    """Write ``data`` to a fresh temporary name beside ``destination``, then rename it
    over ``destination``: readers see no file or the whole file, never part of one."""
    folder, base = os.path.split(destination)
    remade = False
    while True:
        name = f"{folder}/.{base}.{os.getpid()}-{next(_temporary_numbers)}.part"
        try:
            # O_EXCL: never write through a file (or symlink) someone else put there;
            # 0o666 so the umask decides the final permissions.
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:  # left by a crashed process that had our pid: next number
            continue
        except FileNotFoundError as exc:
            if remade:
                raise StorageError(f"cannot write artifact {destination}: {_reason(exc)}") from exc
            _make_folder(folder)  # removed while we ran: make it again, once
            remade = True
            continue
        except OSError as exc:
            raise StorageError(f"cannot write artifact {destination}: {_reason(exc)}") from exc
        break
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(name, destination)
    except OSError as exc:
        _unlink_quietly(name)
        raise StorageError(f"cannot write artifact {destination}: {_reason(exc)}") from exc
    except BaseException:
        _unlink_quietly(name)
        raise


def _unlink_quietly(name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name)


_temporary_numbers = itertools.count()


def _install(source: Path, destination: Path, move: bool) -> None:
    """Put ``source``'s bytes at ``destination`` atomically (runs in a worker thread)."""
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create folder {destination.parent}: {_reason(exc)}") from exc
    if move and _rename_within_filesystem(source, destination):
        return
    temporary = destination.with_name(f".{destination.name}.{secrets.token_hex(6)}.part")
    try:
        _copy_exclusive(source, temporary)
        os.replace(temporary, destination)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise StorageError(f"cannot write artifact {destination}: {_reason(exc)}") from exc
    except BaseException:  # cancellation or a bug: still leave no temporary file behind
        temporary.unlink(missing_ok=True)
        raise
    if move:
        source.unlink(missing_ok=True)


def _rename_within_filesystem(source: Path, destination: Path) -> bool:
    """Rename when both paths share a filesystem (atomic, no copy); False if they do not."""
    try:
        os.replace(source, destination)
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            return False
        raise StorageError(f"cannot move {source} to {destination}: {_reason(exc)}") from exc
    return True


def _copy_exclusive(source: Path, temporary: Path) -> None:
    # O_EXCL: never write through a file (or symlink) someone else put at the temporary name;
    # mode 0o666 so the umask decides the final permissions, as for any file the user writes.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
        shutil.copyfileobj(src, out, _COPY_CHUNK)


def _reason(exc: OSError) -> str:
    return f"{exc.strerror}: {exc.filename}" if exc.strerror and exc.filename else str(exc)
