"""Artifacts on local disk, written so that no reader ever sees half a file.

Each artifact is copied to a hidden temporary name in its destination folder and then
renamed over the final name with ``os.replace``, which is atomic within one filesystem:
a reader sees the old file or the whole new one, and a failed copy leaves only a temporary
file, which is removed. This uses the OS directly rather than fsspec's local filesystem,
whose moves and copies promise no such atomicity.

No symbolic link inside the root is followed, by writes or reads (see
:mod:`runner.storage.confined`): a link planted in ``outputs/`` cannot carry an artifact,
a reuse check or an input out of the storage root.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote_from_bytes, unquote, urlsplit

from runner.errors import StorageError
from runner.storage.confined import (
    ConfinedRoot,
    LinkRefused,
    create_exclusive,
    open_file,
    regular_file,
    split_key,
)

#: Copy buffer: large reads keep the copy fast without holding big files in memory.
_COPY_CHUNK = 1 << 20

#: Byte writes up to this size run on the event loop: a thread hop costs more.
INLINE_WRITE_BYTES = 256 << 10


class LocalBackend:
    """Stores keys as files under ``root`` (an absolute directory)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.abspath(root))
        self._root = str(self.root)
        self._root_uri = self.root.as_uri()
        self._confined = ConfinedRoot(self._root)

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

    @contextlib.contextmanager
    def _folder(self, folders: list[str], *, create: bool) -> Iterator[int]:
        folder = self._confined.open_folder(folders, create=create)
        try:
            yield folder
        finally:
            os.close(folder)

    def _key_of(self, uri: str) -> str:
        return self.path_for(uri).relative_to(self.root).as_posix()

    async def put(self, local_path: Path, key: str, *, move: bool) -> Path:
        await asyncio.to_thread(self._install, local_path, key, move)
        return Path(self._root, key)

    async def put_bytes(self, data: bytes, key: str) -> Path:
        """Write ``data`` as the artifact ``key``; returns its file."""
        await self.write_bytes(data, key)
        return Path(self._root, key)

    async def write_bytes(self, data: bytes, key: str, *, keep_folder: bool = False) -> int | None:
        """Write ``data`` as the artifact ``key``; small writes run on the event loop,
        where a thread hop would cost more than the write (text jobs in a big batch).

        With ``keep_folder``, a small write returns its folder's descriptor, still open,
        for a rename there that follows (see :meth:`rename_in`; the caller closes it);
        otherwise, and for a write done in a thread, None."""
        if len(data) <= INLINE_WRITE_BYTES:
            return self._write_new(key, data, keep_folder=keep_folder)
        await asyncio.to_thread(self._write_new, key, data, keep_folder=False)
        return None

    def _write_new(self, key: str, data: bytes, *, keep_folder: bool) -> int | None:
        folders, name = split_key(key)
        shown = f"{self._root}/{key}"
        try:
            return self._write_in(folders, name, shown, data, keep_folder, fresh=False)
        except FileNotFoundError:
            pass
        # The folder was removed while we wrote (a user cleaning up while a batch runs):
        # walk, from the root, and make it again, once.
        try:
            return self._write_in(folders, name, shown, data, keep_folder, fresh=True)
        except FileNotFoundError:
            vanished = f"cannot write artifact {shown}: its folder vanished twice"
            raise StorageError(vanished) from None

    def _write_in(
        self, folders: list[str], name: str, shown: str, data: bytes, keep: bool, *, fresh: bool
    ) -> int | None:
        """Write in the folder (made as needed); its descriptor stays open when ``keep``."""
        folder = self._confined.open_folder(folders, create=True, fresh=fresh)
        try:
            _write_atomically(folder, name, shown, data)
        except BaseException:
            os.close(folder)
            raise
        if keep:
            return folder
        os.close(folder)
        return None

    def _install(self, source: Path, key: str, move: bool) -> None:
        """Put ``source``'s bytes at ``key`` atomically (runs in a worker thread)."""
        folders, name = split_key(key)
        shown = f"{self._root}/{key}"
        with self._folder(folders, create=True) as folder:
            if move and _rename_within_filesystem(source, folder, name, shown):
                return
            temporary = f".{name}.{secrets.token_hex(6)}.part"
            try:
                _copy_exclusive(source, folder, temporary)
                os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
            except OSError as exc:
                _unlink_quietly(folder, temporary)
                raise StorageError(f"cannot write artifact {shown}: {_reason(exc)}") from exc
            except BaseException:  # cancellation or a bug: leave no temporary file behind
                _unlink_quietly(folder, temporary)
                raise
        if move:
            source.unlink(missing_ok=True)

    def rename(self, source_key: str, key: str) -> None:
        """Rename ``source_key`` to ``key``, both in one folder, without following links
        (raises FileNotFoundError when there is nothing to rename)."""
        folders, name = split_key(key)
        source_folders, source_name = split_key(source_key)
        assert source_folders == folders, "a rename stays within its folder"
        folder = self._confined.open_folder(folders, create=False)
        try:
            self.rename_in(folder, source_name, name)
        finally:
            os.close(folder)

    @staticmethod
    def rename_in(folder: int, source_key: str, key: str) -> None:
        """:meth:`rename`, in the folder a ``write_bytes(keep_folder=True)`` kept open
        (the folder is not walked again)."""
        source_name, name = split_key(source_key)[1], split_key(key)[1]
        os.replace(source_name, name, src_dir_fd=folder, dst_dir_fd=folder)

    async def exists(self, uri: str) -> bool:
        return await asyncio.to_thread(self._exists, self._key_of(uri))

    def _exists(self, key: str) -> bool:
        folders, name = split_key(key)
        try:
            with self._folder(folders, create=False) as folder:
                return regular_file(folder, name)
        except (FileNotFoundError, LinkRefused):
            # A link is not an artifact we made: as good as missing (a new write
            # replaces a link at the file's name; one in a folder's place is refused).
            return False

    async def local_path(self, uri: str) -> Path:
        """The artifact's file, checked: it exists and no link leads to it."""
        path = self.path_for(uri)
        await asyncio.to_thread(self._check_file, uri, self._key_of(uri))
        return path

    def _check_file(self, uri: str, key: str) -> None:
        folders, name = split_key(key)
        try:
            with self._folder(folders, create=False) as folder:
                os.close(open_file(folder, name, f"artifact {uri}"))
        except FileNotFoundError as exc:
            raise StorageError(f"artifact {uri} does not exist") from exc
        except OSError as exc:
            raise StorageError(f"cannot read artifact {uri}: {_reason(exc)}") from exc

    async def read_bytes(self, uri: str) -> bytes:
        return await asyncio.to_thread(self._read, uri, self._key_of(uri))

    def _read(self, uri: str, key: str) -> bytes:
        folders, name = split_key(key)
        try:
            with (
                self._folder(folders, create=False) as folder,
                os.fdopen(open_file(folder, name, f"artifact {uri}"), "rb") as fh,
            ):
                return fh.read()
        except FileNotFoundError as exc:
            raise StorageError(f"artifact {uri} does not exist") from exc
        except OSError as exc:
            raise StorageError(f"cannot read artifact {uri}: {_reason(exc)}") from exc

    async def delete(self, uri: str) -> None:
        await asyncio.to_thread(self._delete, uri, self._key_of(uri))

    def _delete(self, uri: str, key: str) -> None:
        folders, name = split_key(key)
        try:
            with self._folder(folders, create=False) as folder:
                os.unlink(name, dir_fd=folder)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageError(f"cannot delete artifact {uri}: {_reason(exc)}") from exc


def _write_atomically(folder: int, name: str, shown: str, data: bytes) -> None:
    """Write ``data`` to a fresh temporary name beside ``name`` in ``folder``, then rename
    it over ``name``: readers see no file or the whole file, never part of one.

    Raises FileNotFoundError when the folder was removed while we wrote."""
    while True:
        temporary = f".{name}.{_PID[0]}-{next(_temporary_numbers)}.part"
        try:
            # O_EXCL | O_NOFOLLOW: never write through a file (or link) someone put there.
            fd = create_exclusive(folder, temporary)
        except FileExistsError:  # left by a crashed process that had our pid: next number
            continue
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise StorageError(f"cannot write artifact {shown}: {_reason(exc)}") from exc
        break
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
    except OSError as exc:
        _unlink_quietly(folder, temporary)
        raise StorageError(f"cannot write artifact {shown}: {_reason(exc)}") from exc
    except BaseException:
        _unlink_quietly(folder, temporary)
        raise


def _unlink_quietly(folder: int, name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=folder)


_temporary_numbers = itertools.count()
#: This process's id, for temporary names (getpid is a system call; a fork asks again).
_PID = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _PID.__setitem__(0, os.getpid()))


def _rename_within_filesystem(source: Path, folder: int, name: str, shown: str) -> bool:
    """Rename when both paths share a filesystem (atomic, no copy); False if they do not."""
    try:
        os.replace(source, name, dst_dir_fd=folder)
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            return False
        raise StorageError(f"cannot move {source} to {shown}: {_reason(exc)}") from exc
    return True


def _copy_exclusive(source: Path, folder: int, temporary: str) -> None:
    with os.fdopen(create_exclusive(folder, temporary), "wb") as out, open(source, "rb") as src:
        shutil.copyfileobj(src, out, _COPY_CHUNK)


def _reason(exc: OSError) -> str:
    # With a folder descriptor the error's file name is relative: the message has the path.
    return exc.strerror or str(exc)
