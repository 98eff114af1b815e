"""The merged KPI report as rows, text, CSV and JSON (``fhir-writeback kpi merge``); the HTML
report with its charts is app.kpi_html.

One row per site and ISO week, one per site in total, then all sites; durations in seconds
(one decimal), rates as fractions (0.125 = 12.5 %), empty where there was nothing to measure.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from app.domain.kpi_export import EXPORT_FORMAT, EXPORT_VERSION
from app.domain.kpi_merge import MergeResult
from app.domain.kpi_report import Distribution, Period

REPORT_COLUMNS = (
    "site",
    "period",
    "workstations",
    "notes_approved",
    "confirmed",
    "first_time",
    "after_retry",
    "needed_person",
    "first_time_rate",
    "duplicates_prevented",
    "conflicts",
    "amendments",
    "addenda",
    "discarded",
    "declined",
    "sign_ins",
    "charts_opened",
    "open_to_approve_median_s",
    "open_to_approve_p90_s",
    "approve_to_confirm_median_s",
    "approve_to_confirm_p90_s",
    "active_edit_median_s",
    "active_edit_p90_s",
    "imported_edit_rate",
    "imported_item_rate",
    "clock_backwards",
)


def period_row(period: Period) -> dict[str, Any]:
    f = period.figures
    row: dict[str, Any] = {
        "site": period.site,
        "period": period.period,
        "workstations": period.workstations,
    }
    for name in (
        "notes_approved",
        "confirmed",
        "first_time",
        "after_retry",
        "needed_person",
        "duplicates_prevented",
        "conflicts",
        "amendments",
        "addenda",
        "discarded",
        "declined",
        "sign_ins",
        "charts_opened",
        "clock_backwards",
    ):
        row[name] = getattr(f, name)
    row["first_time_rate"] = _rate(f.first_time_rate)
    for name, dist in (
        ("open_to_approve", f.open_to_approve),
        ("approve_to_confirm", f.approve_to_confirm),
        ("active_edit", f.active_edit),
    ):
        row[f"{name}_median_s"], row[f"{name}_p90_s"] = _seconds(dist)
    row["imported_edit_rate"] = _rate(f.imported_edit_rate)
    row["imported_item_rate"] = _rate(f.imported_item_rate)
    return {name: row[name] for name in REPORT_COLUMNS}


def _seconds(dist: Distribution) -> tuple[float | None, float | None]:
    median = None if dist.median_ms is None else round(dist.median_ms / 1000, 1)
    high = None if dist.p90_ms is None else round(dist.p90_ms / 1000, 1)
    return median, high


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def report_json(merged: MergeResult) -> str:
    document = {
        "format": f"{EXPORT_FORMAT}-report",
        "version": EXPORT_VERSION,
        "files": list(merged.files),
        "workstations": len(merged.workstations),
        "notices": list(merged.notices),
        "periods": [period_row(p) for p in merged.periods],
    }
    return json.dumps(document, indent=1) + "\n"


def report_csv(merged: MergeResult) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=REPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for period in merged.periods:
        writer.writerow({k: "" if v is None else v for k, v in period_row(period).items()})
    return out.getvalue()


TEXT_COLUMNS = (
    ("period", "week", 9),
    ("notes_approved", "notes", 6),
    ("open_to_approve_median_s", "open>appr med", 13),
    ("open_to_approve_p90_s", "p90", 7),
    ("approve_to_confirm_median_s", "appr>chart med", 14),
    ("active_edit_median_s", "editing med", 11),
    ("imported_edit_rate", "import edit", 11),
    ("first_time_rate", "1st time", 8),
    ("after_retry", "retry", 5),
    ("needed_person", "person", 6),
    ("duplicates_prevented", "dups", 4),
    ("conflicts", "confl", 5),
    ("amendments", "corr", 4),
    ("addenda", "add", 3),
    ("discarded", "disc", 4),
    ("declined", "decl", 4),
    ("sign_ins", "sign-ins", 8),
)


def report_text(merged: MergeResult) -> str:
    """Tables for a terminal: one per site (durations in minutes, rates in percent)."""
    lines = [
        f"KPI report: {len(merged.files)} file(s) from {len(merged.workstations)} "
        "workstation(s). Durations: median and 90th percentile; rates of notes approved.",
    ]
    rows = [period_row(p) for p in merged.periods]
    for site in dict.fromkeys(r["site"] for r in rows):
        lines += ["", f"Site: {site}", _text_line({k: t for k, t, _w in TEXT_COLUMNS})]
        lines += [_text_line(_text_values(r)) for r in rows if r["site"] == site]
    return "\n".join(lines) + "\n"


def _text_values(row: dict[str, Any]) -> dict[str, str]:
    shown: dict[str, str] = {}
    for key, _title, _width in TEXT_COLUMNS:
        value = row[key]
        if value is None:
            shown[key] = "-"
        elif key.endswith("_s"):
            shown[key] = f"{value / 60:.1f} min" if value >= 90 else f"{value:.0f} s"
        elif key.endswith("_rate"):
            shown[key] = f"{100 * value:.1f}%"
        else:
            shown[key] = str(value)
    return shown


def _text_line(values: dict[str, str]) -> str:
    return "  ".join(values[k].rjust(w) for k, _t, w in TEXT_COLUMNS)


def notices_text(notices: Sequence[str]) -> str:
    return "".join(f"Note: {n}\n" for n in notices)
