"""The run log's write side: a per-process journal, one ``write`` per record (or per unit
of records that belong together, such as a job's artifacts and its success).

A record is durable the moment ``write()`` returns: its JSON line has been handed to the
kernel with one ``os.write`` on the process's journal segment in ``inbox/``, so it
survives the death of the process (SIGKILL included; no fsync is needed for that, only
for a power cut). That is the ledger's promise: a job counts as done only after its
records are written, so a resumed run never pays again for a job whose answer was stored.

Batching is only for the DuckDB merge: a live segment ``<name>.journal`` is held under an
``flock`` and renamed to ``<name>.jsonl`` (complete, immutable, ready to merge) every
``flush_interval_s`` or every ``max_batch`` records. A segment whose process died is
still a ``.journal``; ingest recognises it because its lock is free and merges it too.
Writers never open the database, so any number of processes write at once.

When the disk is full, ``write()`` keeps the records in memory (in order) and reports the
problem through :meth:`RunLogWriter.problem`, so the engine stops dispatching new paid
calls; the held records are written as soon as space comes back, or reported at close.
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from runner.errors import RunLogError
from runner.runlog.codec import encode_line, next_seq, table_of
from runner.runlog.records import Record

INBOX = "inbox"
BATCH_SUFFIX = ".jsonl"
JOURNAL_SUFFIX = ".journal"
#: A segment being created: hidden, so ingest never takes it for a dead writer's journal.
NEW_SUFFIX = ".new"


def segment_name() -> str:
    # Sortable by time; pid + random part keep concurrent writers apart.
    return f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def write_batch(inbox: Path, lines: list[str]) -> Path:
    """Write one complete batch file atomically (temp name, fsync, rename)."""
    final = inbox / f"{segment_name()}{BATCH_SUFFIX}"
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


class _Segment:
    """One open journal file, locked for as long as this process writes to it."""

    def __init__(self, inbox: Path) -> None:
        name = segment_name()
        self.path = inbox / f"{name}{JOURNAL_SUFFIX}"
        self.done = inbox / f"{name}{BATCH_SUFFIX}"
        temp = inbox / f".{name}{JOURNAL_SUFFIX}{NEW_SUFFIX}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        self.fd = os.open(temp, flags, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(temp, self.path)
        except OSError:
            os.close(self.fd)
            temp.unlink(missing_ok=True)
            raise
        self.size = 0
        self.records = 0

    def append(self, data: bytes, records: int = 1) -> None:
        """Append ``data`` (``records`` whole lines) with one write."""
        written = os.write(self.fd, data)
        if written != len(data):
            # A torn line would poison the file: cut it off and report the full disk.
            os.ftruncate(self.fd, self.size)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.size += written
        self.records += records

    def seal(self) -> None:
        """Hand the segment to ingest: rename to ``.jsonl``, then let go of the lock."""
        try:
            if self.records:
                os.rename(self.path, self.done)
            else:
                self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)


class RunLogWriter:
    """A :class:`~runner.runlog.sink.RunLogSink` journaling records into ``<dir>/inbox``.

    Runs and jobs are upserts by id (the latest write of an id wins), so write a new
    version of a record instead of changing one already written.
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
        self._segment: _Segment | None = None
        #: Encoded records the disk refused (lines, how many), oldest first; written when
        #: space returns.
        self._held: deque[tuple[bytes, int]] = deque()
        self._error: OSError | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self.files_written = 0
        self._thread = threading.Thread(
            target=self._run, name="mediamix-runlog-journal", daemon=True
        )
        self._thread.start()
        atexit.register(self.close)

    # -- the sink protocol ---------------------------------------------------------

    def write(self, record: Record) -> None:
        self._append(encode_line(table_of(record), next_seq(), record.__dict__), 1)

    def write_all(self, records: Sequence[Record]) -> None:
        """The records' lines with one ``write``: a job's artifacts and its success reach
        the journal together (and a system call per record is saved)."""
        lines = [encode_line(table_of(record), next_seq(), record.__dict__) for record in records]
        self._append(b"".join(lines), len(lines))

    def _append(self, data: bytes, records: int) -> None:
        with self._lock:
            if self._closed:
                raise RunLogError("run-log writer is closed")
            if self._held:
                self._held.append((data, records))
                return
            try:
                segment = self._segment or self._open_segment()
                segment.append(data, records)
            except OSError as exc:
                self._error = exc
                self._held.append((data, records))
                return
            full = segment.records >= self.max_batch
        if full:
            self._wake.set()

    def flush(self) -> None:
        """Hand everything written so far to ingest (records are durable already). Never
        raises: records the disk refuses stay held, and :meth:`problem` says so."""
        with self._lock:
            self._write_held()
            self._seal()

    def close(self) -> None:
        """Seal the journal. Never raises: records the disk still refuses are counted in
        :meth:`problem` and :attr:`unwritten` for the caller to report."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self.close)
        self._wake.set()
        self._thread.join()
        with self._lock:
            self._write_held()
            self._seal()

    def problem(self) -> str | None:
        """Why records are not reaching the disk right now (None when they are)."""
        if not self._held:
            return None
        reason = self._error.strerror if self._error and self._error.strerror else "error"
        return f"{reason} at {self.inbox}: {self.unwritten} run-log record(s) held in memory"

    @property
    def unwritten(self) -> int:
        return sum(records for _, records in self._held)

    def __enter__(self) -> RunLogWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- inside ----------------------------------------------------------------------

    def _open_segment(self) -> _Segment:
        self._segment = _Segment(self.inbox)
        return self._segment

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            with self._lock:
                self._write_held()
                self._seal()

    def _seal(self) -> None:
        segment, self._segment = self._segment, None
        if segment is None:
            return
        try:
            segment.seal()
        except OSError as exc:  # its lines stay in the .journal, which ingest merges later
            self._error = exc
            return
        if segment.records:
            self.files_written += 1

    def _write_held(self) -> None:
        """Retry records the disk refused, in order; stop at the first refusal."""
        while self._held:
            try:
                segment = self._segment or self._open_segment()
                segment.append(*self._held[0])
            except OSError as exc:
                self._error = exc
                return
            self._held.popleft()
        self._error = None
