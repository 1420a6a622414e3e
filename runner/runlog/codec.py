"""Records as JSON lines: the format of the inbox batch files writers leave for ingest.

One line per record: the record's fields plus ``table`` (where it goes) and ``seq`` (a
process-wide, strictly increasing number that decides which version of a run or job
wins). Times are ISO-8601 strings in UTC, with the offset ``+00:00`` or without one,
both of which DuckDB's ``read_json`` reads into the same TIMESTAMP. Every string,
however deeply nested, is blanked of secrets.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from runner.errors import REDACTOR, redact
from runner.runlog.records import (
    ArtifactRecord,
    AttemptRecord,
    EventRecord,
    JobRecord,
    JudgementRecord,
    Record,
    RunRecord,
    RunStartEvent,
)

#: Record type -> table name (a RunStartEvent's line is also its run's row: see
#: :func:`runner.runlog.merge.lines_of`).
TABLE_OF: dict[type, str] = {
    RunRecord: "runs",
    JobRecord: "jobs",
    AttemptRecord: "attempts",
    EventRecord: "events",
    RunStartEvent: "events",
    ArtifactRecord: "artifacts",
    JudgementRecord: "judgements",
}

#: Table -> its id column.
KEY_OF: dict[str, str] = {
    "runs": "run_id",
    "jobs": "job_id",
    "attempts": "attempt_id",
    "events": "event_id",
    "artifacts": "artifact_id",
    "judgements": "judgement_id",
}

#: Tables whose rows change over time (latest ``seq`` wins); the others are append-only.
UPSERT_TABLES = frozenset({"runs", "jobs"})

# Process start (ns since the epoch) plus a counter: strictly increasing within a process
# (next() on itertools.count is atomic under the GIL, no lock needed), and a later process,
# such as a resumed run, starts above every number an earlier one could have reached.
_SEQ_BASE = time.time_ns()
_seq_counter = itertools.count(1)


def next_seq() -> int:
    return _SEQ_BASE + next(_seq_counter)


def _utc_naive_iso(value: datetime) -> str:
    if value.tzinfo is UTC:
        return value.isoformat()[:-6]  # what every record's own clock gives: drop "+00:00"
    if value.tzinfo is not None:
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        value = value.replace(tzinfo=None)
    return value.isoformat()


def _utc(value: datetime) -> datetime:
    """``value`` in UTC (a naive time is UTC already)."""
    return value if value.tzinfo is None else value.astimezone(UTC)


def _clean(value: Any) -> Any:
    kind = type(value)
    # Exact-type checks first: this runs for every field of every record.
    if kind is str:
        return redact(value)
    if value is None or kind is int or kind is bool:
        return value
    if kind is float:
        # NaN/inf are not JSON and mean "unknown" here.
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return _utc_naive_iso(value)
    if isinstance(value, str):
        return redact(str(value))
    if isinstance(value, dict):
        return {redact(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v) for v in value]
    if isinstance(value, bool | int):
        return int(value)
    if isinstance(value, float):
        return _clean(float(value))
    # Paths, enums, bytes...: their text form, redacted like any other string.
    return redact(str(value))


def encode_line(table: str, seq: int, fields: dict[str, Any]) -> bytes:
    """One journal line (UTF-8, newline included) for a record's ``fields``."""
    # A field left out reads back as NULL (ingest names every column), exactly as a null
    # would: most fields of most records are None, and skipping them halves the work.
    # Times at the top level are TIMESTAMP columns: DuckDB 1.1 applies a line's offset
    # but 2.0 drops it, so every time reaches the line in UTC (records' own are already).
    row = {
        name: value if not isinstance(value, datetime) or value.tzinfo is UTC else _utc(value)
        for name, value in fields.items()
        if value is not None
    }
    row["table"] = table
    row["seq"] = seq
    # Fast path: orjson encodes the whole record (NaN and inf as null, as _clean does),
    # and the secrets are blanked in the encoded line in one pass. It gives way to the
    # value-by-value path for what orjson refuses (keys that are not strings, integers
    # beyond 64 bits, strings holding lone surrogates) and for secrets whose characters
    # make line-level blanking unsafe.
    try:
        redacted = REDACTOR.redact_json(orjson.dumps(row, default=_as_text, option=_LINE))
    except orjson.JSONEncodeError:
        redacted = None
    if redacted is not None:
        return redacted
    # ASCII with escapes: a lone surrogate (a batch row's "\\ud800") stays valid UTF-8.
    return (_ENCODER.encode({name: _clean(value) for name, value in row.items()}) + "\n").encode()


def _as_text(value: Any) -> Any:
    """What orjson cannot encode itself, as :func:`_clean` would write it."""
    if isinstance(value, set | frozenset):
        return list(value)
    return str(value)


_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=False)
#: Dataclasses as their text, as the value-by-value path writes them. Times are encoded
#: natively (a callback per time cost about 1 us a line, a sixth of its encoding).
_LINE = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_APPEND_NEWLINE


def table_of(record: Record) -> str:
    try:
        return TABLE_OF[type(record)]
    except KeyError:
        raise TypeError(f"not a run-log record: {type(record).__name__}") from None


def as_aware(value: datetime | None) -> datetime | None:
    """A TIMESTAMP read back from the log (naive UTC) as an aware datetime."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
