"""The inbox: journal segments and batch files waiting to be merged into the database.

``<name>.jsonl``     a complete batch (a sealed journal segment, or an export's batch)
``<name>.journal``   a segment a process is writing now, held under its ``flock``; when the
                     lock is free, its process died and the file is adopted: a torn last
                     line (a write cut short by a full disk) is cut off, the rest merged.
``.<name>...``       a file being made; never read.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from runner.runlog.writer import BATCH_SUFFIX, JOURNAL_SUFFIX

#: Hidden temporaries older than this belong to a process that died making them.
_STALE_TEMP_S = 3600.0


def complete_batches(inbox: Path) -> list[Path]:
    """Batch files ready to merge, oldest first, after adopting dead writers' journals."""
    if not inbox.is_dir():
        return []
    names = os.listdir(inbox)
    if any(n.endswith(JOURNAL_SUFFIX) and not n.startswith(".") for n in names):
        adopt_orphans(inbox)
        names = os.listdir(inbox)
    return sorted(inbox / n for n in names if n.endswith(BATCH_SUFFIX) and not n.startswith("."))


def live_journals(inbox: Path) -> list[Path]:
    if not inbox.is_dir():
        return []
    return sorted(
        inbox / n for n in os.listdir(inbox) if n.endswith(JOURNAL_SUFFIX) and not n.startswith(".")
    )


def adopt_orphans(inbox: Path) -> int:
    """Turn journals whose writer died into batch files; return how many."""
    adopted = 0
    for path in live_journals(inbox):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:  # sealed by its writer a moment ago
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its writer is alive
            # The name may have moved on between listing and locking (sealed, or adopted
            # by another reader): only the file still under this name is ours to adopt.
            try:
                if os.stat(path).st_ino != os.fstat(fd).st_ino:
                    continue
            except FileNotFoundError:
                continue
            _cut_torn_tail(fd)
            os.rename(path, path.with_suffix(BATCH_SUFFIX))
            adopted += 1
        finally:
            os.close(fd)
    return adopted


def _cut_torn_tail(fd: int) -> None:
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    end = size
    while end > 0:  # back to the last newline, a chunk at a time
        start = max(0, end - (1 << 16))
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            os.ftruncate(fd, start + newline + 1)
            return
        end = start
    os.ftruncate(fd, 0)


def sweep_temporaries(inbox: Path) -> None:
    """Remove hidden temporaries that dead processes left behind (an hour old or more)."""
    if not inbox.is_dir():
        return
    cutoff = time.time() - _STALE_TEMP_S
    for name in os.listdir(inbox):
        if not name.startswith("."):
            continue
        path = inbox / name
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            continue


def records_waiting(inbox: Path) -> int:
    """How many records wait in the inbox (lines of batches and live journals)."""
    if not inbox.is_dir():
        return 0
    total = 0
    for name in os.listdir(inbox):
        if name.startswith(".") or not name.endswith((BATCH_SUFFIX, JOURNAL_SUFFIX)):
            continue
        try:
            with open(inbox / name, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    total += chunk.count(b"\n")
        except OSError:
            continue
    return total
