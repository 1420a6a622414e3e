"""Scratch folders: one private folder per engine under ``.mediamix/tmp``.

A run removes its folder when it ends; a run that was killed cannot, and its folder may
hold half a downloaded video. So each folder holds a lock file that its engine keeps
locked while it lives (the kernel drops the lock when the process dies, however it
dies), and the next engine to start removes every folder whose lock it can take. Folders
are named after their host, and only this host's are judged: a lock on a shared network
folder says nothing reliable about another machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

LOCK_NAME = ".lock"


class Scratch:
    """A private scratch folder, locked for as long as this object is open."""

    def __init__(self, parent: Path) -> None:
        parent.mkdir(parents=True, exist_ok=True)
        sweep_stale(parent)
        self.path = Path(tempfile.mkdtemp(prefix=f"run-{_host()}-{os.getpid()}-", dir=parent))
        self._lock = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # new and ours: never busy

    def close(self) -> None:
        """Remove the folder and let go of its lock."""
        if self._lock < 0:
            return
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._lock)
        self._lock = -1


def sweep_stale(parent: Path) -> list[Path]:
    """Remove this host's scratch folders that no live engine holds; return them."""
    removed: list[Path] = []
    prefix = f"run-{_host()}-"
    for folder in parent.glob(f"{prefix}*"):
        if _PID.match(folder.name[len(prefix) :]) and _abandoned(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


_PID = re.compile(r"^\d+-")


def _abandoned(folder: Path) -> bool:
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False  # no lock file yet: an engine is still making its folder
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # its engine holds the lock: in use
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
    return True


def _host() -> str:
    # Folder-name safe: letters, digits, dots and dashes only.
    return re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:64] or "host"
