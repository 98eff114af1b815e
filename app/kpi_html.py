"""The merged KPI report as one HTML file with inline SVG charts (``kpi merge --html OUT``).

No script, no external file, no font to fetch: it opens in any browser, offline, and can be
mailed. Per site (and for all sites): notes approved per week, the median and 90th percentile
time from opening the chart to approving, the share of imported drafts' text changed, and how
write-backs went (first attempt, after a retry, needing a person); then the table of every
figure. The page is a Jinja2 template with autoescaping; the charts are drawn here as SVG
elements (every bar carries its value as text and as a tooltip).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from jinja2 import Environment
from markupsafe import Markup

from app import __version__
from app.domain.clock import utc_now
from app.domain.kpi_merge import MergeResult
from app.domain.kpi_report import TOTAL, Period
from app.kpi_output import REPORT_COLUMNS, period_row

WIDTH, HEIGHT = 460, 230
LEFT, RIGHT, TOP, BOTTOM = 46, 12, 30, 42
BLUE, LIGHT_BLUE, GREEN, AMBER, RED = "#1f5f8b", "#8fb8d8", "#2e7d32", "#c77700", "#b3261e"


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    color: str


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    shown: Callable[[float], str] = lambda v: f"{v:g}",
    stacked: bool = False,
) -> Markup:
    """An SVG bar chart: one group (or stack) of bars per label, each value written above it
    (a stack: its total)."""
    columns = list(zip(*(s.values for s in series), strict=True))
    tops = [sum(v or 0 for v in col) if stacked else max(v or 0 for v in col) for col in columns]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{_e(title)}" class="chart">',
        f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" class="title">{_e(title)}</text>',
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" '
        'stroke="#888"/>',
    ]
    if not any(v is not None for col in columns for v in col):
        parts.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" class="tick">'
            "nothing to show</text></svg>"
        )
        return Markup("".join(parts))  # every text in it went through _e
    scale = _Scale(max(tops) or 1.0, len(labels), 1 if stacked else len(series))
    parts.append(
        f'<text x="{LEFT - 6}" y="{HEIGHT - BOTTOM}" text-anchor="end" class="tick">0</text>'
        f'<text x="{LEFT - 6}" y="{scale.y(max(tops)) + 4:.1f}" text-anchor="end" '
        f'class="tick">{_e(shown(max(tops)))}</text>'
        f'<line x1="{LEFT - 3}" y1="{scale.y(max(tops)):.1f}" x2="{LEFT}" '
        f'y2="{scale.y(max(tops)):.1f}" stroke="#888"/>'
    )
    for i, label in enumerate(labels):
        parts += _bars(scale, i, label, series, shown, stacked)
        if stacked and tops[i]:
            x = scale.x(i, 0) + scale.bar / 2
            parts.append(_value(x, scale.y(tops[i]), shown(tops[i])))
    parts += _legend(series)
    parts.append("</svg>")
    return Markup("".join(parts))  # every text in it went through _e


@dataclass(frozen=True)
class _Scale:
    top: float
    slots: int
    per_slot: int

    @property
    def slot(self) -> float:
        return (WIDTH - LEFT - RIGHT) / max(self.slots, 1)

    @property
    def bar(self) -> float:
        return self.slot * 0.7 / self.per_slot

    def x(self, i: int, j: int) -> float:
        return LEFT + i * self.slot + self.slot * 0.15 + j * self.bar

    def height(self, value: float) -> float:
        return (HEIGHT - TOP - BOTTOM) * value / (self.top * 1.2)

    def y(self, value: float) -> float:
        return HEIGHT - BOTTOM - self.height(value)


def _bars(
    scale: _Scale,
    i: int,
    label: str,
    series: Sequence[Series],
    shown: Callable[[float], str],
    stacked: bool,
) -> list[str]:
    out: list[str] = []
    base = 0.0
    for j, s in enumerate(series):
        value = s.values[i]
        if value is None:
            continue
        x = scale.x(i, 0 if stacked else j)
        y = scale.y(base + value) if stacked else scale.y(value)
        tip = f"{label}: {s.name} {shown(value)}"
        out.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{scale.bar:.1f}" '
            f'height="{scale.height(value):.1f}" fill="{s.color}"><title>{_e(tip)}</title></rect>'
        )
        if value and not stacked:
            out.append(_value(x + scale.bar / 2, y, shown(value)))
        base += value if stacked else 0
    centre = LEFT + (i + 0.5) * scale.slot
    out.append(
        f'<text x="{centre:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
        f'class="tick">{_e(label)}</text>'
    )
    return out


def _value(x: float, y: float, text: str) -> str:
    return f'<text x="{x:.1f}" y="{y - 3:.1f}" text-anchor="middle" class="value">{_e(text)}</text>'


def _legend(series: Sequence[Series]) -> list[str]:
    out: list[str] = []
    x = LEFT
    for s in series if len(series) > 1 else ():
        out.append(
            f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" fill="{s.color}"/>'
            f'<text x="{x + 14}" y="{HEIGHT - 5}" class="tick">{_e(s.name)}</text>'
        )
        x += 14 + 7 * len(s.name) + 16
    return out


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def _percent(rate: float | None) -> float | None:
    return None if rate is None else round(100 * rate, 1)


def site_charts(periods: Sequence[Period]) -> list[Markup]:
    weeks = [p for p in periods if p.period != TOTAL]
    rows = [period_row(p) for p in weeks]
    labels = [p.period for p in weeks]
    return [
        bar_chart(
            "Notes approved per week",
            labels,
            [Series("notes", [r["notes_approved"] for r in rows], BLUE)],
        ),
        bar_chart(
            "Opening the chart to approving (minutes)",
            labels,
            [
                Series("median", [_minutes(r["open_to_approve_median_s"]) for r in rows], BLUE),
                Series("p90", [_minutes(r["open_to_approve_p90_s"]) for r in rows], LIGHT_BLUE),
            ],
        ),
        bar_chart(
            "Imported drafts: text changed (%)",
            labels,
            [Series("changed", [_percent(r["imported_edit_rate"]) for r in rows], GREEN)],
            shown=lambda v: f"{v:g}%",
        ),
        bar_chart(
            "Write-backs",
            labels,
            [
                Series("first attempt", [r["first_time"] for r in rows], GREEN),
                Series("after a retry", [r["after_retry"] for r in rows], AMBER),
                Series("needed a person", [r["needed_person"] for r in rows], RED),
            ],
            stacked=True,
        ),
    ]


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>FHIR Write-back: KPI report</title>
<style>
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
.chart { border: 1px solid #ddd; background: white; }
.chart .title { font-size: 13px; font-weight: 600; } .chart .tick { font-size: 10px; fill: #555; }
.chart .value { font-size: 10px; fill: #222; }
.table { overflow-x: auto; }
table { border-collapse: collapse; margin-top: 12px; font-size: 12px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
th { background: #f0f4f8; } td.name { text-align: left; }
.notice { background: #fff8e1; border: 1px solid #f3d98b; padding: 6px 10px; margin: 4px 0; }
</style></head><body>
<h1>FHIR Write-back: KPI report</h1>
<p>Made {{ made }} by fhir-writeback {{ version }} from {{ files|length }} export(s) of
{{ workstations }} workstation(s). Counts and durations only: no patient, note or user is
named. Durations: median and 90th percentile over notes approved; each note counted once.</p>
{% for notice in notices %}<p class="notice">{{ notice }}</p>{% endfor %}
{% for site in sites %}
<section class="site" id="site-{{ loop.index }}"><h2>{{ site.name }}</h2>
<div class="charts">{% for chart in site.charts %}{{ chart }}{% endfor %}</div>
<div class="table"><table><thead><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr></thead><tbody>
{% for row in site.rows %}<tr>{% for c in columns %}<td{% if c in ('site', 'period') %}
 class="name"{% endif %} data-column="{{ c }}">{{ row[c] if row[c] is not none else '' }}</td>
{% endfor %}</tr>
{% endfor %}</tbody></table></div></section>
{% endfor %}
</body></html>
"""


def report_html(merged: MergeResult, *, made: datetime | None = None) -> str:
    periods = merged.periods
    sites = []
    for name in dict.fromkeys(p.site for p in periods):
        mine = [p for p in periods if p.site == name]
        sites.append(
            {"name": name, "charts": site_charts(mine), "rows": [period_row(p) for p in mine]}
        )
    template = Environment(autoescape=True).from_string(_PAGE)
    return template.render(
        made=(made or utc_now()).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
        files=merged.files,
        workstations=len(merged.workstations),
        notices=merged.notices,
        sites=sites,
        columns=REPORT_COLUMNS,
    )
