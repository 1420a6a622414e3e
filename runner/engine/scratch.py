"""Scratch folders: one private folder per engine under ``.mediamix/tmp``.

A run removes its folder when it ends; a run that was killed cannot, and its folder may
hold half a downloaded video. Each folder is named after the host and process that made
it, so the next engine on the same host removes the folders of processes that are gone
(never another host's: on a shared project folder their pids mean nothing here).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

_NAME = re.compile(r"^run-(?P<host>[A-Za-z0-9.-]+)-(?P<pid>\d+)-")


def make_scratch(parent: Path) -> Path:
    """A new private folder in ``parent``, after clearing folders of dead processes."""
    parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(parent)
    return Path(tempfile.mkdtemp(prefix=f"run-{_host()}-{os.getpid()}-", dir=parent))


def sweep_stale(parent: Path) -> list[Path]:
    """Remove this host's scratch folders whose process no longer runs; return them."""
    removed: list[Path] = []
    host = _host()
    for folder in parent.glob("run-*"):
        found = _NAME.match(folder.name)
        if found is None or found["host"] != host or _alive(int(found["pid"])):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _host() -> str:
    # Folder-name safe: letters, digits, dots and dashes only.
    return re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:64] or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True
