"""The figures summed up: "My week" for the clinician, and per site and week for a merge.

Both read the same ``NoteFigures`` and ``DayFigures`` (app.domain.kpi). A note counts on the
day of its outcome: an approved note on the day it was approved. Durations give a median and
a 90th percentile (nearest rank); edit rates are summed over notes (characters changed over
characters, not a mean of per-note rates, so a long note weighs more than a one-liner).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

from app.domain.kpi import (
    DayFigures,
    Delivery,
    NoteFigures,
    NoteOutcome,
    NoteSource,
    median,
    p90,
    share,
)

WEEK_DAYS = 7
T = TypeVar("T")


@dataclass(frozen=True)
class Distribution:
    """A duration's figures over notes (milliseconds)."""

    count: int
    median_ms: float | None
    p90_ms: int | None

    @classmethod
    def of(cls, values: Sequence[int]) -> Distribution:
        return cls(len(values), median(values), p90(values))


@dataclass(frozen=True)
class Figures:
    """Everything measured, summed over a set of notes and days."""

    notes_approved: int
    confirmed: int
    first_time: int
    after_retry: int
    needed_person: int
    pending: int
    duplicates_prevented: int
    conflicts: int
    amendments: int
    addenda: int
    discarded: int
    declined: int
    sign_ins: int
    charts_opened: int
    clock_backwards: int
    open_to_approve: Distribution
    approve_to_confirm: Distribution
    active_edit: Distribution
    imported_chars_changed: int
    imported_chars_total: int
    imported_items_changed: int
    imported_items_total: int

    @property
    def imported_edit_rate(self) -> float | None:
        """Share of the characters of imported drafts the clinicians changed."""
        return share(self.imported_chars_changed, self.imported_chars_total)

    @property
    def imported_item_rate(self) -> float | None:
        return share(self.imported_items_changed, self.imported_items_total)

    @property
    def first_time_rate(self) -> float | None:
        """Of the notes whose write-back ended (in the chart, or stopped for a person)."""
        return share(self.first_time, self.first_time + self.after_retry + self.needed_person)


def figures(notes: Iterable[NoteFigures], days: Iterable[DayFigures] = ()) -> Figures:
    everything = list(notes)
    approved = [n for n in everything if n.outcome.approved]
    deliveries = [n.delivery for n in approved]
    imported = [n for n in approved if n.source is NoteSource.IMPORTED]
    chars = [n.chars() for n in imported]
    items = [n.items() for n in imported]
    day_list = list(days)
    return Figures(
        notes_approved=len(approved),
        confirmed=sum(n.outcome is NoteOutcome.CONFIRMED for n in approved),
        first_time=deliveries.count(Delivery.FIRST_TIME),
        after_retry=deliveries.count(Delivery.AFTER_RETRY),
        needed_person=deliveries.count(Delivery.NEEDED_PERSON),
        pending=deliveries.count(Delivery.PENDING),
        duplicates_prevented=sum(n.duplicates_prevented for n in approved),
        conflicts=sum(n.conflicts for n in approved),
        amendments=sum(n.source is NoteSource.AMENDMENT for n in approved),
        addenda=sum(n.source is NoteSource.ADDENDUM for n in approved),
        discarded=sum(n.outcome is NoteOutcome.DISCARDED for n in everything),
        declined=sum(n.outcome is NoteOutcome.DECLINED for n in everything),
        sign_ins=sum(d.sign_ins for d in day_list),
        charts_opened=sum(d.charts_opened for d in day_list),
        clock_backwards=sum(n.clock_backwards for n in everything),
        open_to_approve=Distribution.of(_present(n.open_to_approve_ms for n in approved)),
        approve_to_confirm=Distribution.of(_present(n.approve_to_confirm_ms for n in approved)),
        active_edit=Distribution.of([n.active_edit_ms for n in approved]),
        imported_chars_changed=sum(c for c, _ in chars),
        imported_chars_total=sum(t for _, t in chars),
        imported_items_changed=sum(c for c, _ in items),
        imported_items_total=sum(t for _, t in items),
    )


def _present(values: Iterable[int | None]) -> list[int]:
    return [v for v in values if v is not None]


# ---------------------------------------------------------------- My week


@dataclass(frozen=True)
class DayOfWeek:
    day: date
    figures: Figures


@dataclass(frozen=True)
class WeekReport:
    """The last seven days up to ``last_day`` (inclusive), each with its figures, and the
    week's figures as a whole."""

    days: tuple[DayOfWeek, ...]
    week: Figures

    @property
    def first_day(self) -> date:
        return self.days[0].day

    @property
    def last_day(self) -> date:
        return self.days[-1].day


def week_report(
    notes: Sequence[NoteFigures], days: Sequence[DayFigures], last_day: date
) -> WeekReport:
    first = last_day - timedelta(days=WEEK_DAYS - 1)
    in_week = [n for n in notes if first <= n.day <= last_day]
    days_in = [d for d in days if first <= d.day <= last_day]
    rows = []
    for offset in range(WEEK_DAYS):
        day = first + timedelta(days=offset)
        rows.append(
            DayOfWeek(
                day,
                figures([n for n in in_week if n.day == day], [d for d in days_in if d.day == day]),
            )
        )
    return WeekReport(tuple(rows), figures(in_week, days_in))


# ---------------------------------------------------------------- per site and week


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class Period:
    site: str  # a site id, or "all sites"
    period: str  # an ISO week ("2026-W10"), or "total"
    workstations: int
    figures: Figures


ALL_SITES = "all sites"
TOTAL = "total"


@dataclass(frozen=True)
class SiteNote:
    workstation: str
    site: str
    note: NoteFigures


@dataclass(frozen=True)
class SiteDay:
    workstation: str
    site: str
    day: DayFigures


def periods(notes: Sequence[SiteNote], days: Sequence[SiteDay]) -> tuple[Period, ...]:
    """Per site and ISO week, then per site in total, then all sites per week and in total."""
    sites = sorted({n.site for n in notes} | {d.site for d in days})
    out: list[Period] = []
    for site in [*sites, ALL_SITES]:
        site_notes = [n for n in notes if site in (ALL_SITES, n.site)]
        site_days = [d for d in days if site in (ALL_SITES, d.site)]
        weeks = sorted(
            {iso_week(n.note.day) for n in site_notes} | {iso_week(d.day.day) for d in site_days}
        )
        for week in [*weeks, TOTAL]:
            chosen_notes = _in_week(site_notes, week, lambda n: n.note.day)
            chosen_days = _in_week(site_days, week, lambda d: d.day.day)
            stations = {n.workstation for n in chosen_notes} | {d.workstation for d in chosen_days}
            out.append(
                Period(
                    site,
                    week,
                    len(stations),
                    figures([n.note for n in chosen_notes], [d.day for d in chosen_days]),
                )
            )
    return tuple(out)


def _in_week(rows: Sequence[T], week: str, day_of: Callable[[T], date]) -> list[T]:
    if week == TOTAL:
        return list(rows)
    return [r for r in rows if iso_week(day_of(r)) == week]
