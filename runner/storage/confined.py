"""Folders and files under a storage root, reached without following any symbolic link.

A symlink inside the storage root (``outputs/run -> /etc``) would otherwise carry a write,
a reuse check or a read out of the root. So every path below the root is walked one
folder at a time with ``openat(O_NOFOLLOW | O_DIRECTORY)``: each step is relative to the
folder opened before it, so no link anywhere below the root is followed, and no check
can be raced between "is it a link?" and "use it". The root itself is the configured
location and may be a link (``outputs -> /mnt/media``). Files are created with
``O_EXCL | O_NOFOLLOW`` and renamed into place relative to their folder; a rename
replaces a link at the final name instead of writing through it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
import weakref
from collections.abc import Sequence

from runner.errors import StorageError

_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_ROOT_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class LinkRefused(StorageError):
    """A symbolic link (or a non-folder) stands where a folder or file of the store goes."""


def split_key(key: str) -> tuple[list[str], str]:
    """(folders, file name) of a checked key such as ``run/step.png``."""
    *folders, name = key.split("/")
    return folders, name


def reason(exc: OSError) -> str:
    return f"{exc.strerror}: {exc.filename}" if exc.strerror and exc.filename else str(exc)


def _refusal(parent: int, name: str, shown: str) -> StorageError:
    """Why ``name`` in the folder ``parent`` could not be opened as a folder."""
    with contextlib.suppress(OSError):
        if stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
            return LinkRefused(
                f"{shown} is a symbolic link; mediamix does not follow links inside the "
                "storage root (they can lead out of it): remove it or make it a folder"
            )
    return LinkRefused(f"cannot create folder {shown}: a file is in the way")


def _open_child(parent: int, name: str, shown: str, *, create: bool) -> int:
    try:
        return os.open(name, _FOLDER_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        if not create:
            raise
    except NotADirectoryError:
        raise _refusal(parent, name, shown) from None
    try:
        os.mkdir(name, 0o777, dir_fd=parent)
    except FileExistsError:
        pass  # made by a concurrent writer (or it is a link: the open below says so)
    except FileNotFoundError:
        raise  # the parent itself was removed
    except OSError as exc:
        raise StorageError(f"cannot create folder {shown}: {reason(exc)}") from exc
    try:
        return os.open(name, _FOLDER_FLAGS, dir_fd=parent)
    except NotADirectoryError:
        raise _refusal(parent, name, shown) from None


class ConfinedRoot:
    """A storage root and the folders below it, opened without following links.

    The root's descriptor is kept open (one ``openat`` per write saved: a big batch writes
    thousands of small files); if the root is removed while we run (a user cleaning up),
    the next walk finds the old descriptor's folder gone and opens the root again.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self._lock = threading.Lock()
        #: Every root descriptor opened, the current one last. One replaced (the root was
        #: removed) stays open until this object goes: another thread may still be
        #: walking from it, and a closed number can be reused by the next open.
        self._fds: list[int] = []
        weakref.finalize(self, _close_all, self._fds)

    def _root_fd(self, *, create: bool, fresh: bool) -> int:
        with self._lock:
            if self._fds and not fresh:
                return self._fds[-1]
            self._fds.append(_open_root(self.root, create=create))
            return self._fds[-1]

    def open_folder(self, folders: Sequence[str], *, create: bool, fresh: bool = False) -> int:
        """A new descriptor of ``root/folders...`` (the caller closes it), made as
        needed when ``create``; ``fresh`` opens the root again first.

        Raises FileNotFoundError (without ``create``) when a folder is missing, LinkRefused
        when a link or a file stands where a folder should be, StorageError otherwise.
        """
        try:
            return self._walk(self._root_fd(create=create, fresh=fresh), folders, create=create)
        except FileNotFoundError:
            if fresh:
                raise
            # The kept root may have been removed: walk once more from a fresh one.
            return self._walk(self._root_fd(create=create, fresh=True), folders, create=create)

    def _walk(self, root_fd: int, folders: Sequence[str], *, create: bool) -> int:
        fd = os.dup(root_fd) if not folders else root_fd
        shown = self.root
        try:
            for name in folders:
                shown = f"{shown}/{name}"
                child = _open_child(fd, name, shown, create=create)
                if fd != root_fd:
                    os.close(fd)
                fd = child
            return fd
        except FileNotFoundError:
            if fd != root_fd:
                os.close(fd)
            raise
        except OSError as exc:
            if fd != root_fd:
                os.close(fd)
            raise StorageError(f"cannot open folder {shown}: {reason(exc)}") from exc
        except BaseException:
            if fd != root_fd:
                os.close(fd)
            raise


def _open_root(root: str, *, create: bool) -> int:
    try:
        return os.open(root, _ROOT_FLAGS)
    except FileNotFoundError:
        if not create:
            raise
    except OSError as exc:
        raise StorageError(f"cannot create folder {root}: {reason(exc)}") from exc
    try:
        os.makedirs(root, exist_ok=True)
        return os.open(root, _ROOT_FLAGS)
    except OSError as exc:
        raise StorageError(f"cannot create folder {root}: {reason(exc)}") from exc


def regular_file(folder: int, name: str) -> bool:
    """True when ``name`` in ``folder`` is a regular file (a link to one is not)."""
    try:
        return stat.S_ISREG(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return False


def open_file(folder: int, name: str, shown: str) -> int:
    """A read-only descriptor of the regular file ``name`` in ``folder``."""
    try:
        return os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LinkRefused(
                f"{shown} is a symbolic link; mediamix does not follow links inside the "
                "storage root (they can lead out of it)"
            ) from None
        raise


def create_exclusive(folder: int, name: str) -> int:
    """A new file ``name`` in ``folder``, never one (or a link) that was already there.

    Mode 0o666, so the umask decides the final permissions, as for any file the user writes.
    """
    return os.open(
        name,
        os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
        0o666,
        dir_fd=folder,
    )


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
