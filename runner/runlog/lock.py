"""An advisory ``flock`` on ``runlog.lock``: who may open ``runlog.duckdb``, and how.

DuckDB lets one process open a file read-write, or any number open it read-only, never
both; trying anyway fails with "Could not set lock on file". Ingest holds this lock
exclusively and readers hold it shared, so they wait for each other (bounded by a
timeout) instead of failing. ``flock`` locks belong to an open file, so two threads of
one process exclude each other too.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runner.errors import RunLogError

_POLL_S = (0.005, 0.01, 0.02, 0.05, 0.1)


class LockFileError(RunLogError):
    """The lock file cannot be opened (a folder in its place, no permission): a problem
    with the project's files for a person to fix, not a failed run."""

    exit_code = 2


@contextmanager
def locked(path: Path, *, exclusive: bool, timeout_s: float) -> Iterator[None]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except IsADirectoryError:
        raise LockFileError(
            f"{path} is a folder; mediamix keeps its run-log lock file there: remove the folder"
        ) from None
    except OSError as exc:
        raise LockFileError(f"cannot open the run-log lock {path}: {exc.strerror}") from exc
    try:
        _acquire(fd, path, exclusive=exclusive, timeout_s=timeout_s)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, path: Path, *, exclusive: bool, timeout_s: float) -> None:
    mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
    deadline = time.monotonic() + timeout_s
    attempt = 0
    while True:
        try:
            fcntl.flock(fd, mode)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise RunLogError(
                    f"the run log is busy: another mediamix process held {path} for more "
                    f"than {timeout_s:g}s (a long-running `mediamix sql` or ingest?); "
                    "try again when it finishes"
                ) from None
            time.sleep(_POLL_S[min(attempt, len(_POLL_S) - 1)])
            attempt += 1
