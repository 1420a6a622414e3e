"""The run-log report as one self-contained HTML file: inline CSS and SVG, no scripts,
no external assets, so it can be attached to a CI run or mailed as is."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from html import escape
from typing import Any

_PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")
_W, _H = 760, 290
_LEFT, _RIGHT, _TOP, _BOTTOM = 78, 170, 14, 58
#: Longest legend label (characters) that fits the space right of the plot.
_LEGEND_CHARS = 22

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#111}
h1{font-size:1.4rem;margin:0 0 .25rem}h2{font-size:1.1rem;margin:1.75rem 0 .25rem}
.meta,.note{color:#555;margin:0 0 1rem}.note{font-size:.85rem}
.scroll{overflow-x:auto}table{border-collapse:collapse}
th,td{padding:.3rem .7rem;border-bottom:1px solid #ddd;text-align:left;white-space:nowrap}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f4f6}
svg{display:block;max-width:100%;height:auto}
svg text{font:12px system-ui,sans-serif;fill:#333}svg .axis-title{font-weight:600;fill:#555}
"""

#: Table headings for the report's keys (the JSON keeps the keys themselves).
_HEADINGS = {
    "media_type": "media type",
    "success_rate": "success rate",
    "attempts_per_success": "attempts / success",
    "p50_latency_ms": "p50 latency",
    "p95_latency_ms": "p95 latency",
    "cost_usd": "cost (USD)",
    "mean_score": "mean score",
    "rejection_rate": "rejected by judge",
    "judge_cost_usd": "judging (USD)",
}

Series = Mapping[str, Mapping[date, float]]


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """0 and round steps (1, 2, 2.5 or 5 times a power of ten) reaching at least ``top``."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    steps = math.ceil(top / step - 1e-9)
    return [step * i for i in range(steps + 1)]


def _tick_label(value: float, step: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.0f}%"
    if value == 0:
        return "$0" if unit == "$" else "0"
    # As many decimals as the step needs: $0.0025 steps show 4, $0.5 steps show 1.
    decimals = 0
    while decimals < 8 and abs(round(step, decimals) - step) > step * 1e-6:
        decimals += 1
    text = f"{value:,.{decimals}f}"
    return f"${text}" if unit == "$" else text


def _day_label(day: date) -> str:
    return f"{day:%b} {day.day}"


def _value_label(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.1f}%"
    if unit == "$":
        return f"${value:.6f}".rstrip("0").rstrip(".") if value < 1 else f"${value:,.2f}"
    return f"{value:g}"


def line_chart(
    title: str,
    days: Sequence[date],
    series: Series,
    *,
    unit: str,
    y_max: float,
    y_title: str,
) -> str:
    """An SVG line chart: one line per series over ``days``; a point (with its value on
    hover) wherever data exists. ``y_max`` is rounded up to a tidy axis."""
    plot_w = _W - _LEFT - _RIGHT
    plot_h = _H - _TOP - _BOTTOM
    ticks = [0.0, 25.0, 50.0, 75.0, 100.0] if unit == "%" else nice_ticks(y_max)
    top = ticks[-1]
    step = ticks[1] - ticks[0]
    n = len(days)

    def x(i: int) -> float:
        return _LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return _TOP + plot_h * (1 - v / top)

    out = [
        f'<svg width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for v in ticks:
        out.append(
            f'<line x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
            f'stroke="{"#9ca3af" if v == 0 else "#e5e7eb"}"/>'
            f'<text x="{_LEFT - 8}" y="{y(v) + 4:.1f}" text-anchor="end">'
            f"{escape(_tick_label(v, step, unit))}</text>"
        )
    every = max(1, math.ceil(n / 8))
    for i, day in enumerate(days):
        if i % every == 0 or i == n - 1:
            out.append(
                f'<line x1="{x(i):.1f}" x2="{x(i):.1f}" y1="{_TOP + plot_h}" '
                f'y2="{_TOP + plot_h + 4}" stroke="#9ca3af"/>'
                f'<text x="{x(i):.1f}" y="{_TOP + plot_h + 18}" text-anchor="middle">'
                f"{escape(_day_label(day))}</text>"
            )
    out.append(
        f'<text class="axis-title" x="{_LEFT + plot_w / 2}" y="{_H - 10}" '
        f'text-anchor="middle">UTC day</text>'
        f'<text class="axis-title" transform="rotate(-90)" x="{-(_TOP + plot_h / 2):.1f}" '
        f'y="16" text-anchor="middle">{escape(y_title)}</text>'
    )
    for index, (name, points) in enumerate(sorted(series.items())):
        color = _PALETTE[index % len(_PALETTE)]
        coords = [(x(i), y(points[d]), d) for i, d in enumerate(days) if d in points]
        if len(coords) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in coords)
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        out += [
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{color}"><title>'
            f"{escape(name)}, {d.isoformat()}: {escape(_value_label(points[d], unit))}"
            "</title></circle>"
            for px, py, d in coords
        ]
        label = name if len(name) <= _LEGEND_CHARS else name[: _LEGEND_CHARS - 1] + "…"
        ly = _TOP + 12 + 20 * index
        out.append(
            f'<rect x="{_W - _RIGHT + 16}" y="{ly - 9}" width="10" height="10" fill="{color}"/>'
            f'<text x="{_W - _RIGHT + 32}" y="{ly}"><title>{escape(name)}</title>'
            f"{escape(label)}</text>"
        )
    if not series:
        out.append(
            f'<text x="{_LEFT + plot_w / 2}" y="{_TOP + plot_h / 2}" text-anchor="middle">'
            "no data</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _series(
    points: Sequence[Mapping[str, Any]], value: Callable[[Mapping[str, Any]], float | None]
) -> dict[str, dict[date, float]]:
    series: dict[str, dict[date, float]] = {}
    for p in points:
        v = value(p)
        if v is not None:
            series.setdefault(str(p["provider"]), {})[p["day"]] = v
    return series


def _cell(value: Any, column: str) -> str:
    if value is None:
        return "-"
    if column in ("success_rate", "rejection_rate"):
        return f"{value * 100:.1f}%"
    if column in ("cost_usd", "judge_cost_usd"):
        return f"${value:.4f}"
    if column == "mean_score":
        return f"{value:.2f}"
    if column == "attempts_per_success":
        return f"{value:.2f}"
    if column.endswith("_latency_ms"):
        # One format for every row: whole milliseconds (a column of 63.8 beside 1,103 misreads).
        return f"{value:,.0f} ms"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _table(by: str, rows: Sequence[Mapping[str, Any]]) -> str:
    columns = list(rows[0].keys()) if rows else [by]
    numeric = {c: c != by for c in columns}
    head = "".join(
        f"<th{' class=n' if numeric[c] else ''}>{escape(_HEADINGS.get(c, c))}</th>" for c in columns
    )
    body = []
    for row in rows:
        cells = []
        for c in columns:
            cls = ' class="n"' if numeric[c] else ""
            cells.append(f"<td{cls}>{escape(_cell(row.get(c), c))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not rows:
        body.append("<tr><td>no jobs in this window</td></tr>")
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def report_charts(timeseries: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The report's two SVG charts (``success``, ``cost``) from ``Queries.timeseries``:
    also what the dashboard's statistics page shows."""
    days = sorted({p["day"] for p in timeseries})
    success = _series(
        timeseries, lambda p: 100.0 * p["succeeded"] / p["attempts"] if p["attempts"] else None
    )
    cost = _series(timeseries, lambda p: p["cost_usd"])
    cost_max = max((v for s in cost.values() for v in s.values()), default=0.0)
    return {
        "success": line_chart(
            "Attempt success rate by provider, per UTC day",
            days,
            success,
            unit="%",
            y_max=100.0,
            y_title="success rate",
        ),
        "cost": line_chart(
            "Cost by provider, per UTC day",
            days,
            cost,
            unit="$",
            y_max=cost_max,
            y_title="cost (USD)",
        ),
    }


def render_report_html(
    *,
    by: str,
    rows: Sequence[Mapping[str, Any]],
    timeseries: Sequence[Mapping[str, Any]],
    generated_at: datetime,
    since: datetime | None,
    source: str,
) -> str:
    """``rows`` from ``Queries.report``; ``timeseries`` from ``Queries.timeseries``."""
    charts = report_charts(timeseries)
    window = f"since {since.isoformat()}" if since else "all time"
    label = _HEADINGS.get(by, by)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>mediamix report by {escape(label)}</title>",
            f"<style>{_CSS}</style></head><body>",
            f"<h1>mediamix report by {escape(label)}</h1>",
            f'<p class="meta">{escape(window)} · generated '
            f"{escape(generated_at.isoformat(timespec='seconds'))} · {escape(source)}</p>",
            f"<h2>By {escape(label)}</h2>",
            _table(by, rows),
            "<h2>Attempt success rate by provider</h2>",
            '<p class="note">Share of attempts that produced a valid artifact, per UTC day '
            "(skipped attempts left out). Hover a point for its value.</p>",
            charts["success"],
            "<h2>Cost by provider</h2>",
            '<p class="note">USD per UTC day, attempts with a known price only.</p>',
            charts["cost"],
            "</body></html>",
        ]
    )
