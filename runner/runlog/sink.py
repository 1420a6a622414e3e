"""What the engine needs from the run log: somewhere to put records, cheaply."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from runner.runlog.records import Record


class RunLogSink(Protocol):
    def write(self, record: Record) -> None:
        """Record durably (or hold it and report a problem); never blocks for long.
        Run and job records are upserts by id."""

    def write_all(self, records: Sequence[Record]) -> None:
        """:meth:`write` each of ``records``, in order, as one unit where the sink can:
        a process killed meanwhile leaves all of them or none."""

    def flush(self) -> None:
        """Hand everything written so far to the merge."""

    def close(self) -> None:
        """Flush and release resources."""

    def problem(self) -> str | None:
        """Why records cannot be written right now (a full disk), or None. The engine
        dispatches no new paid call while there is one."""


class MemorySink:
    """Keeps records in a list: for dry runs and for unit tests of pure engine logic."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def write(self, record: Record) -> None:
        self.records.append(record)

    def write_all(self, records: Sequence[Record]) -> None:
        self.records.extend(records)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None

    def problem(self) -> str | None:
        return None
