"""View-model of "My week": reads the week's figures off the GUI thread and turns them into
what the charts and the summary show — plain numbers and sentences, no Qt widgets."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from app.domain.kpi_report import Figures, WeekReport
from app.services.errors import ServiceError
from app.services.kpi import KpiService


@dataclass(frozen=True)
class WeekSeries:
    """One value per day of the week (NaN: nothing to show that day)."""

    labels: tuple[str, ...]  # "Mon 2"
    notes: tuple[float, ...]
    median_minutes: tuple[float, ...]
    imported_edit_percent: tuple[float, ...]
    after_retry: tuple[float, ...]
    needed_person: tuple[float, ...]


def series(report: WeekReport) -> WeekSeries:
    days = report.days

    def each(values: Iterable[float | None]) -> tuple[float, ...]:
        return tuple(float("nan") if v is None else float(v) for v in values)

    return WeekSeries(
        labels=tuple(f"{d.day:%a} {d.day.day}" for d in days),
        notes=each(d.figures.notes_approved for d in days),
        median_minutes=each(_minutes(d.figures.open_to_approve.median_ms) for d in days),
        imported_edit_percent=each(_percent(d.figures.imported_edit_rate) for d in days),
        after_retry=each(d.figures.after_retry for d in days),
        needed_person=each(d.figures.needed_person for d in days),
    )


def _minutes(ms: float | None) -> float | None:
    return None if ms is None else ms / 60_000


def _percent(rate: float | None) -> float | None:
    return None if rate is None else 100 * rate


def duration_words(ms: float | None) -> str:
    if ms is None or math.isnan(ms):
        return "–"
    seconds = round(ms / 1000)
    if seconds < 90:
        return f"{seconds} s"
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"


def summary_lines(week: Figures) -> list[str]:
    """The week in sentences, beside the charts."""
    rate = week.imported_edit_rate
    first = week.first_time_rate
    return [
        f"Notes approved: {week.notes_approved} ({week.confirmed} in the chart)",
        f"Median time from opening the chart to approving: "
        f"{duration_words(week.open_to_approve.median_ms)}",
        f"Median active editing per note: {duration_words(week.active_edit.median_ms)}",
        "Imported drafts: "
        + ("none this week" if rate is None else f"{100 * rate:.0f}% of their text changed"),
        "Written to the chart at the first attempt: "
        + ("–" if first is None else f"{100 * first:.0f}%")
        + f" (after a retry: {week.after_retry}; needed a person: {week.needed_person})",
        f"Duplicates prevented: {week.duplicates_prevented}; conflicts: {week.conflicts}",
        f"Corrections: {week.amendments}; addenda: {week.addenda}; "
        f"drafts discarded or declined: {week.discarded + week.declined}",
        f"Sign-ins: {week.sign_ins}",
    ]


class MyWeekModel(QObject):
    ready = Signal(object)  # WeekReport
    error = Signal(str)

    def __init__(self, service: KpiService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.report: WeekReport | None = None

    async def load(self) -> WeekReport | None:
        try:
            report = await self.service.my_week()
        except ServiceError as exc:
            self.error.emit(exc.words)
            return None
        self.report = report
        self.ready.emit(report)
        return report
