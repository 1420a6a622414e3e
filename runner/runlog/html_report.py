"""The run-log report as one self-contained HTML file: inline CSS and SVG, no scripts,
no external assets, so it can be attached to a CI run or mailed as is."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from html import escape
from typing import Any

_PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")
_W, _H = 720, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 150, 16, 40

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#111}
h1{font-size:1.4rem;margin:0 0 .25rem}h2{font-size:1.1rem;margin:1.75rem 0 .5rem}
.meta{color:#555;margin:0 0 1rem}table{border-collapse:collapse}
th,td{padding:.3rem .7rem;border-bottom:1px solid #ddd;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f4f6}
svg{max-width:100%;height:auto}svg text{font:11px system-ui,sans-serif;fill:#333}
"""

Series = Mapping[str, Mapping[date, float]]


def _fmt_axis(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.0f}%"
    if unit == "$":
        return f"${value:.4g}"
    return f"{value:g}"


def line_chart(title: str, days: Sequence[date], series: Series, *, unit: str, y_max: float) -> str:
    """An SVG line chart: one line per series over ``days``; points where data exists."""
    plot_w = _W - _LEFT - _RIGHT
    plot_h = _H - _TOP - _BOTTOM
    y_max = y_max if y_max > 0 else 1.0
    n = len(days)

    def x(i: int) -> float:
        return _LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return _TOP + plot_h * (1 - v / y_max)

    out = [f'<svg viewBox="0 0 {_W} {_H}" role="img" aria-label="{escape(title)}">']
    for k in range(5):
        v = y_max * k / 4
        out.append(
            f'<line x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
            f'stroke="#e5e7eb"/><text x="{_LEFT - 6}" y="{y(v) + 4:.1f}" '
            f'text-anchor="end">{escape(_fmt_axis(v, unit))}</text>'
        )
    step = max(1, n // 8)
    for i, day in enumerate(days):
        if i % step == 0 or i == n - 1:
            out.append(
                f'<text x="{x(i):.1f}" y="{_H - _BOTTOM + 16}" text-anchor="middle">'
                f"{escape(day.strftime('%m-%d'))}</text>"
            )
    for index, (name, points) in enumerate(sorted(series.items())):
        color = _PALETTE[index % len(_PALETTE)]
        coords = [(x(i), y(points[d])) for i, d in enumerate(days) if d in points]
        if len(coords) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in coords)
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        out += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{color}"/>' for px, py in coords]
        ly = _TOP + 14 + 18 * index
        out.append(
            f'<rect x="{_W - _RIGHT + 14}" y="{ly - 9}" width="10" height="10" fill="{color}"/>'
            f'<text x="{_W - _RIGHT + 30}" y="{ly}">{escape(name)}</text>'
        )
    if not series:
        out.append(f'<text x="{_W / 2}" y="{_H / 2}" text-anchor="middle">no data</text>')
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


def _cell(value: Any, column: str) -> tuple[str, bool]:
    if value is None:
        return "-", False
    if column == "success_rate":
        return f"{value * 100:.1f}%", True
    if column == "cost_usd":
        return f"${value:.4f}", True
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}", True
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}", True
    if isinstance(value, datetime | date):
        return value.isoformat(), False
    return str(value), False


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
    days = sorted({p["day"] for p in timeseries})
    success = _series(
        timeseries, lambda p: 100.0 * p["succeeded"] / p["attempts"] if p["attempts"] else None
    )
    cost = _series(timeseries, lambda p: p["cost_usd"])
    cost_max = max((v for s in cost.values() for v in s.values()), default=0.0)
    columns = list(rows[0].keys()) if rows else [by]
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            text, numeric = _cell(row.get(c), c)
            cells.append(
                f'<td class="n">{escape(text)}</td>' if numeric else f"<td>{escape(text)}</td>"
            )
        body.append("<tr>" + "".join(cells) + "</tr>")
    window = f"since {since.isoformat()}" if since else "all time"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>mediamix report by {escape(by)}</title>",
            f"<style>{_CSS}</style></head><body>",
            f"<h1>mediamix report by {escape(by)}</h1>",
            f'<p class="meta">{escape(window)} · generated '
            f"{escape(generated_at.isoformat(timespec='seconds'))} · {escape(source)}</p>",
            f"<h2>By {escape(by)}</h2>",
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>",
            "<h2>Attempt success rate by provider, per UTC day</h2>",
            line_chart("success rate by provider", days, success, unit="%", y_max=100.0),
            "<h2>Cost by provider, per UTC day (USD, known costs only)</h2>",
            line_chart("cost by provider", days, cost, unit="$", y_max=cost_max * 1.1),
            "</body></html>",
        ]
    )
