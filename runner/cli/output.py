"""Rows (a list of dicts) rendered for people and scripts: table, json, csv, markdown.

Every command that prints rows uses these, so ``--json`` and ``--format`` behave the
same everywhere. JSON is stable: keys in the order the library produced them, times as
ISO-8601 with offset, dates as ``YYYY-MM-DD``, unknown values as ``null``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import click

Format = Literal["table", "json", "csv", "markdown"]
FORMATS: tuple[str, ...] = ("table", "json", "csv", "markdown")

Row = Mapping[str, Any]
Formatter = Callable[[Any], str]

#: Longest cell shown in a table; the JSON and CSV forms always carry full values.
MAX_CELL = 60


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def to_json(value: Any) -> str:
    return json.dumps(jsonable(value), indent=2, ensure_ascii=False)


def format_cell(value: Any) -> str:
    """A value as a short human-readable cell ("-" for unknown)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.4g}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list | tuple):
        return ", ".join(format_cell(v) for v in value)
    if isinstance(value, Mapping):
        return json.dumps(jsonable(value), ensure_ascii=False)
    return str(value)


def percent(value: Any) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def usd(value: Any) -> str:
    return "-" if value is None else f"${value:.4f}"


def ms(value: Any) -> str:
    """A latency in whole milliseconds: one unit and one format for every row of a column."""
    return "-" if value is None else f"{value:.0f}"


def latency_formatters(columns: Sequence[str]) -> dict[str, Formatter]:
    """``ms`` for every latency column among ``columns``."""
    return {c: ms for c in columns if c == "latency_ms" or c.endswith("_latency_ms")}


def _columns(rows: Sequence[Row], columns: Sequence[str] | None) -> list[str]:
    if columns is not None:
        return list(columns)
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _column_number_format(rows: Sequence[Row], col: str) -> Formatter | None:
    """One number format for a whole column of floats, chosen by its largest value, so a
    column never mixes ``63.77`` with ``1103`` (format_cell alone decides per value)."""
    values = [row.get(col) for row in rows]
    numbers = [v for v in values if isinstance(v, float)]
    if not numbers or any(
        (v is not None and not isinstance(v, int | float)) or isinstance(v, bool) for v in values
    ):
        return None
    largest = max(abs(v) for v in numbers)
    whole = all(v.is_integer() for v in numbers)
    places = 0 if whole or largest >= 100 else 2 if largest >= 1 else 4

    def fmt(value: Any) -> str:
        return "-" if value is None else f"{value:.{places}f}"

    return fmt


def _cells(
    rows: Sequence[Row], columns: list[str], formatters: Mapping[str, Formatter], limit: int | None
) -> list[list[str]]:
    chosen = {
        col: formatters.get(col) or _column_number_format(rows, col) or format_cell
        for col in columns
    }
    out = []
    for row in rows:
        line = []
        for col in columns:
            text = chosen[col](row.get(col))
            text = " ".join(text.split())  # one physical line per row
            if limit is not None and len(text) > limit:
                text = text[: limit - 1] + "…"
            line.append(text)
        out.append(line)
    return out


def _numeric(rows: Sequence[Row], col: str) -> bool:
    values = [row.get(col) for row in rows if row.get(col) is not None]
    return bool(values) and all(
        isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in values
    )


def render_table(
    rows: Sequence[Row],
    columns: Sequence[str] | None = None,
    formatters: Mapping[str, Formatter] | None = None,
) -> str:
    cols = _columns(rows, columns)
    if not cols:
        return "(no rows)"
    cells = _cells(rows, cols, formatters or {}, MAX_CELL)
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(cols)]
    right = [_numeric(rows, c) for c in cols]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = [line(cols), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    if not rows:
        out.append("(no rows)")
    return "\n".join(out)


def render_markdown(
    rows: Sequence[Row],
    columns: Sequence[str] | None = None,
    formatters: Mapping[str, Formatter] | None = None,
) -> str:
    cols = _columns(rows, columns)
    if not cols:
        return "_(no rows)_"

    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    cells = _cells(rows, cols, formatters or {}, None)
    align = ["---:" if _numeric(rows, c) else "---" for c in cols]
    out = ["| " + " | ".join(esc(c) for c in cols) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(esc(v) for v in r) + " |" for r in cells]
    return "\n".join(out)


def render_csv(rows: Sequence[Row], columns: Sequence[str] | None = None) -> str:
    cols = _columns(rows, columns)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(cols)
    for row in rows:
        values = [jsonable(row.get(c)) for c in cols]
        writer.writerow(
            [
                "" if v is None else json.dumps(v) if isinstance(v, list | dict) else v
                for v in values
            ]
        )
    return buf.getvalue().rstrip("\n")


def render(
    rows: Sequence[Row],
    fmt: str,
    columns: Sequence[str] | None = None,
    formatters: Mapping[str, Formatter] | None = None,
) -> str:
    """Rows in one of ``FORMATS``. JSON always carries every key of every row."""
    if fmt == "json":
        return to_json(list(rows))
    if fmt == "csv":
        return render_csv(rows, columns)
    if fmt == "markdown":
        return render_markdown(rows, columns, formatters)
    if fmt == "table":
        return render_table(rows, columns, formatters)
    raise ValueError(f"unknown format {fmt!r}")


def write_text(path: Path, text: str, *, append: bool = False) -> None:
    """Write (or append) ``text`` to ``path``; a failure is one clear line, not a traceback."""
    try:
        with path.open("a" if append else "w", encoding="utf-8") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")
    except OSError as exc:
        raise click.FileError(str(path), hint=exc.strerror or str(exc)) from exc


def emit(text: str, output: str | Path | None = None) -> None:
    """Print ``text``, or write it to ``output`` (``-`` means stdout)."""
    if output is None or str(output) == "-":
        click.echo(text)
        return
    path = Path(output)
    write_text(path, text)
    click.echo(f"wrote {path}", err=True)
