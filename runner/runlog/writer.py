"""The run log's write side: records go to immutable batch files, never to DuckDB.

``write()`` only appends to an in-memory list. A background thread turns the list into
one JSON-lines file in ``inbox/`` every ``flush_interval_s`` (or sooner, once
``max_batch`` records are waiting). Each file is written under a hidden temporary name,
fsynced and renamed, so a reader sees a whole batch or nothing, and a killed process
loses at most the records of the last interval. Because writers never open the
database, any number of runs can write at once with no lock contention; ``RunLog.ingest``
merges the files later.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from runner.errors import RunLogError
from runner.runlog.codec import KEY_OF, UPSERT_TABLES, encode_line, next_seq, table_of
from runner.runlog.records import Record

INBOX = "inbox"
BATCH_SUFFIX = ".jsonl"

_Pending = tuple[str, int, dict[str, Any]]


def batch_file_name() -> str:
    # Sortable by time; pid + random part keep concurrent writers apart.
    return f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}{BATCH_SUFFIX}"


def write_batch(inbox: Path, lines: list[str]) -> Path:
    """Write one batch file atomically (temp name, fsync, rename) and return its path."""
    final = inbox / batch_file_name()
    temp = inbox / f".{final.name}.tmp"
    try:
        with open(temp, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines))
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, final)
    except OSError:
        temp.unlink(missing_ok=True)
        raise
    return final


def _latest_only(batch: list[_Pending]) -> list[_Pending]:
    """The batch without run and job versions a later record in it replaces: ingest keeps
    only the highest ``seq`` of an id anyway, and a job that starts and finishes within
    one flush interval (most of a batch's) then costs one line, not two."""
    last: dict[tuple[str, Any], int] = {}
    for position, (table, _, fields) in enumerate(batch):
        if table in UPSERT_TABLES:
            last[(table, fields[KEY_OF[table]])] = position
    return [
        item
        for position, item in enumerate(batch)
        if item[0] not in UPSERT_TABLES or last[(item[0], item[2][KEY_OF[item[0]]])] == position
    ]


class RunLogWriter:
    """A :class:`~runner.runlog.sink.RunLogSink` that batches records into ``<dir>/inbox``.

    Records must not be mutated after ``write()``: write a new or updated record instead
    (runs and jobs are upserts by id, so the latest write of an id wins).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        flush_interval_s: float = 0.5,
        max_batch: int = 5000,
    ) -> None:
        self.inbox = Path(directory) / INBOX
        try:
            self.inbox.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunLogError(f"cannot create run-log inbox {self.inbox}: {exc}") from exc
        self.flush_interval_s = flush_interval_s
        self.max_batch = max_batch
        self._pending: list[_Pending] = []
        self._lock = threading.Lock()
        # Held while a batch is taken and written: flush() returning means "on disk".
        self._io_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._error: OSError | None = None
        self.files_written = 0
        self._thread = threading.Thread(
            target=self._run, name="mediamix-runlog-writer", daemon=True
        )
        self._thread.start()
        atexit.register(self.close)

    def write(self, record: Record) -> None:
        table = table_of(record)
        # A shallow copy of the fields: later attribute changes do not leak into this row.
        item = (table, next_seq(), record.__dict__.copy())
        with self._lock:
            if self._closed:
                raise RunLogError("run-log writer is closed")
            self._pending.append(item)
            full = len(self._pending) >= self.max_batch
        if full:
            self._wake.set()

    def flush(self) -> None:
        self._write_pending()
        if self._error is not None:
            error, self._error = self._error, None
            raise RunLogError(f"cannot write run-log batch to {self.inbox}: {error}") from error

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self.close)
        self._wake.set()
        self._thread.join()
        self.flush()

    def __enter__(self) -> RunLogWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            self._write_pending()

    def _write_pending(self) -> None:
        with self._io_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return
            lines = [encode_line(table, seq, fields) for table, seq, fields in _latest_only(batch)]
            try:
                write_batch(self.inbox, lines)
            except OSError as exc:
                # Keep the records (in order) and retry on the next flush; report it too.
                with self._lock:
                    self._pending[:0] = batch
                self._error = exc
                return
            self.files_written += 1
            self._error = None
