"""A batch's inputs file: one pipeline run per row, every problem pointing at its line.

JSON Lines (``.jsonl``, ``.ndjson``, ``.json``): one object per line, keys are pipeline
inputs, values of the input's JSON type (strings are coerced like ``-i NAME=VALUE``).
CSV (``.csv``): a header of input names; every cell is a string coerced to the input's
type. An empty CSV cell or a JSON ``null`` means "not given" (the default applies).

A bad row (invalid JSON, unknown input, wrong type, missing required input) becomes a
:class:`BadRow` with its ``FILE:LINE`` message; a problem with the whole file (unreadable,
an unknown CSV column, no rows) raises UsageError.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from runner.config.input_values import MAX_DEPTH, check_input, shown
from runner.config.model import InputSpec, Pipeline
from runner.engine.plan import coerce_input
from runner.errors import UsageError

JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})

#: Far above MAX_TEXT_CHARS: a longer cell is read, then refused as a bad row.
_CSV_FIELD_LIMIT = 1 << 30

#: The JSON types each declared input type accepts (bool is not a number here).
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "list": (list,),
    "object": (dict,),
}


@dataclass(frozen=True)
class Row:
    """One valid row: the run's resolved inputs and where the row came from."""

    #: 1-based position among the file's rows (blank lines and the CSV header excluded).
    number: int
    #: 1-based line of the file where the row starts.
    line: int
    #: Inputs as given (coerced, defaults not applied): the row's identity.
    given: dict[str, Any]
    #: Inputs with defaults applied: what the pipeline runs with.
    inputs: dict[str, Any]

    @cached_property
    def digest(self) -> str:
        """A stable hash of the row's content: the same row hashes the same anywhere."""
        return row_digest(self.given)


@dataclass(frozen=True)
class BadRow:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True)
class InputRows:
    rows: list[Row]
    bad: list[BadRow]


#: What ``json.dumps(given, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
#: default=str)`` gives, without building an encoder per row. The bytes must never change:
#: ``--resume`` finds a batch's done rows by these digests.
_DIGEST_JSON = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
)


def row_digest(given: Mapping[str, Any]) -> str:
    return hashlib.sha256(_DIGEST_JSON.encode(given).encode()).hexdigest()


def read_rows(path: str | Path, pipeline: Pipeline) -> InputRows:
    """Every row of ``path``, valid ones resolved against ``pipeline``'s inputs."""
    shown = str(path)
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise UsageError(f"{shown}: no such inputs file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{shown}: cannot read inputs file: {exc}") from exc
    raw = _jsonl(text, shown) if _is_jsonl(source, text) else _csv(text, shown, pipeline)
    rows: list[Row] = []
    bad: list[BadRow] = []
    specs = {spec.name: spec for spec in pipeline.inputs}
    number = 0
    for line, given in raw:
        number += 1
        if isinstance(given, BadRow):
            bad.append(given)
            continue
        try:
            coerced = _coerce(given, specs, pipeline.name)
            rows.append(Row(number, line, coerced, _with_defaults(coerced, specs)))
        except UsageError as exc:
            bad.append(BadRow(shown, line, str(exc)))
    if number == 0:
        raise UsageError(f"{shown}: no rows (expected one JSON object or CSV record per job)")
    return InputRows(rows, bad)


def _is_jsonl(path: Path, text: str) -> bool:
    if path.suffix.lower() in JSONL_SUFFIXES:
        return True
    if path.suffix.lower() == ".csv":
        return False
    return text.lstrip().startswith("{")


_Raw = Iterator[tuple[int, "dict[str, Any] | BadRow"]]


def _jsonl(text: str, shown: str) -> _Raw:
    for line, content in enumerate(text.splitlines(), 1):
        if not content.strip():
            continue
        try:
            value = json.loads(content)
        except json.JSONDecodeError as exc:
            yield line, BadRow(shown, line, f"invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        except RecursionError:
            yield line, BadRow(shown, line, f"JSON nested too deeply (at most {MAX_DEPTH} levels)")
            continue
        except ValueError as exc:  # e.g. a number of more than 4,300 digits
            yield line, BadRow(shown, line, f"invalid JSON: {exc}"[:300])
            continue
        if not isinstance(value, dict):
            kind = type(value).__name__
            yield line, BadRow(shown, line, f"expected a JSON object of inputs, got {kind}")
            continue
        yield line, {k: v for k, v in value.items() if v is not None}


def _csv(text: str, shown: str, pipeline: Pipeline) -> _Raw:
    # The csv module's own cap (128 KiB a cell) would end the whole file with an error;
    # cells are held to MAX_TEXT_CHARS as inputs, one bad row at a time, instead.
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    reader = csv.reader(text.splitlines(keepends=True))
    try:
        yield from _csv_records(reader, shown, pipeline)
    except csv.Error as exc:
        # The reader cannot go on after a malformed record (e.g. a NUL byte).
        raise UsageError(f"{shown}:{reader.line_num}: not valid CSV: {exc}") from exc


def _csv_records(reader: Any, shown: str, pipeline: Pipeline) -> _Raw:
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise UsageError(f"{shown}:1: a CSV inputs file needs a header row of input names")
    names = [h.strip() for h in header]
    known = {spec.name for spec in pipeline.inputs}
    unknown = [n for n in names if n not in known]
    if unknown:
        takes = ", ".join(sorted(known)) or "(none)"
        raise UsageError(
            f"{shown}:1: unknown column(s) {', '.join(map(repr, unknown))}; "
            f"{pipeline.name} takes: {takes}"
        )
    end = reader.line_num
    for record in reader:
        line, end = end + 1, reader.line_num  # a quoted cell may span several lines
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(names):
            yield (
                line,
                BadRow(
                    shown, line, f"expected {len(names)} cells (one per column), got {len(record)}"
                ),
            )
            continue
        yield line, {n: cell for n, cell in zip(names, record, strict=True) if cell != ""}


def _coerce(given: dict[str, Any], specs: dict[str, InputSpec], pipeline: str) -> dict[str, Any]:
    unknown = sorted(set(given) - set(specs))
    if unknown:
        takes = ", ".join(sorted(specs)) or "(none)"
        raise UsageError(f"unknown input(s) {', '.join(unknown)}; {pipeline} takes: {takes}")
    out: dict[str, Any] = {}
    for name, value in given.items():
        spec = specs[name]
        value = coerce_input(spec, value)
        accepted = _JSON_TYPES.get(spec.type, (object,))
        if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in accepted):
            raise UsageError(
                f"input {name!r} expects a {spec.type}, got {type(value).__name__} {shown(value)}"
            )
        out[name] = value
    # Checked here too so the message does not suggest -i, which a batch row cannot use.
    missing = [
        s.name for s in specs.values() if s.required and s.default is None and s.name not in out
    ]
    if missing:
        raise UsageError(f"missing required input(s): {', '.join(missing)}")
    # The bounds resolve_inputs checks, after the type checks as there. A string that
    # came out of coerce_input was checked by it already; a row is read once, so each
    # value is checked once.
    for name in specs:
        if name in out and type(out[name]) is not str:
            check_input(name, out[name])
    return out


def _with_defaults(coerced: dict[str, Any], specs: dict[str, InputSpec]) -> dict[str, Any]:
    """What resolve_inputs gives for ``coerced`` (checked, nothing required missing): every
    input in declared order, a default where none was given, None where there is none."""
    return {name: coerced.get(name, spec.default) for name, spec in specs.items()}
