"""The KPI model, pure: active editing time, edit rates, statistics and "My week"."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from app.domain.draft import NoteSection
from app.domain.kpi import (
    ActiveTimeMeter,
    DayFigures,
    Delivery,
    NoteFigures,
    NoteOutcome,
    NoteSource,
    PartEdit,
    duration_ms,
    measure_edits,
    median,
    p90,
    part_name,
)
from app.domain.kpi_report import figures, iso_week, week_report
from tests.domain.conftest import make_context
from tests.support.drafts import obs

MONDAY = date(2026, 3, 2)


def note(key: str = "k", **kw: object) -> NoteFigures:
    base = {"note": key, "day": MONDAY, "source": NoteSource.PREFILLED}
    base["outcome"] = NoteOutcome.CONFIRMED
    base.update(kw)
    return NoteFigures(**base)  # type: ignore[arg-type]


# ---------------------------------------------------------------- active editing time


def test_active_time_counts_typing_with_focus_not_pauses_or_wall_time() -> None:
    meter = ActiveTimeMeter(idle_seconds=30)
    meter.focus(True, at=100.0)
    meter.keystroke(100.0)
    meter.keystroke(110.0)  # 10 s of typing
    assert meter.take(115.0) == 15_000
    meter.keystroke(120.0)  # 115..120 still active, then a 5-minute pause: 30 s of it count
    assert meter.take(420.0) == 5_000 + 30_000
    meter.keystroke(420.0)
    meter.focus(False, at=425.0)  # focus left: counting stops at once
    assert meter.take(500.0) == 5_000


def test_keystrokes_without_focus_and_a_clock_going_back_count_nothing() -> None:
    meter = ActiveTimeMeter(idle_seconds=30)
    meter.keystroke(10.0)
    assert meter.take(20.0) == 0
    meter.focus(True, at=20.0)
    meter.keystroke(20.0)
    assert meter.take(10.0) == 0  # an earlier time: nothing, never negative
    assert meter.take(12.0) == 2_000


def test_active_time_is_handed_out_once() -> None:
    meter = ActiveTimeMeter()
    meter.focus(True, at=0.0)
    meter.keystroke(0.0)
    assert meter.take(1.0005) == 1_000
    assert meter.take(1.0015) == 1  # the fraction kept is not lost


# ---------------------------------------------------------------- edit rates


def test_edit_rates_per_section_and_item_kind() -> None:
    from app.domain.prefill import prefill_draft
    from app.store.templates import load_templates

    draft = prefill_draft(make_context(), load_templates().default, now=datetime.now(UTC))
    base = (NoteSection("subjective", "Subjective", "Cough for three days."),)
    hr = obs("hr", "8867-4", "96", "/min", "Heart rate")
    draft = replace(
        draft,
        baseline=replace(draft.baseline, sections=base, items=(hr,)),
        sections=(NoteSection("subjective", "Subjective", "Cough for five days."),),
        items=(hr, obs("rr", "9279-1", "18", "/min", "Respiratory rate")),
    )
    parts = {p.part: p for p in measure_edits(draft)}
    # "three " -> "five " (words with their space): of the longer text's 21 characters,
    # "Cough for " and "days." are unchanged
    assert parts["section:subjective"] == PartEdit("section:subjective", 21, 6)
    assert parts["items:observation"] == PartEdit("items:observation", 2, 1)


def test_a_part_name_never_carries_text() -> None:
    assert part_name("section", "plan") == "section:plan"
    assert part_name("section", "Maria Garcia's history") == "section:other"


# ---------------------------------------------------------------- figures


def test_duration_of_a_clock_going_backwards_is_none() -> None:
    t = datetime(2026, 3, 2, 9, tzinfo=UTC)
    assert duration_ms(t, t + timedelta(seconds=90)) == 90_000
    assert duration_ms(t, t - timedelta(seconds=1)) is None


def test_median_and_p90_nearest_rank() -> None:
    assert median([]) is None and p90([]) is None
    assert median([5, 1, 3]) == 3 and median([1, 2, 3, 4]) == 2.5
    assert p90(list(range(1, 11))) == 9  # the 9th of 10
    assert p90(list(range(1, 12))) == 10  # ceil(9.9) = 10th of 11


def test_delivery_of_a_note() -> None:
    assert note(send_attempts=1).delivery is Delivery.FIRST_TIME
    assert note(send_attempts=3).delivery is Delivery.AFTER_RETRY
    assert note(send_attempts=2, person_needed=1).delivery is Delivery.NEEDED_PERSON
    assert note(outcome=NoteOutcome.WITHDRAWN).delivery is Delivery.NEEDED_PERSON
    assert note(outcome=NoteOutcome.APPROVED).delivery is Delivery.PENDING
    assert note(outcome=NoteOutcome.DISCARDED).delivery is Delivery.NOT_APPROVED


def test_figures_weigh_edit_rates_by_characters() -> None:
    long = note(
        "a", source=NoteSource.IMPORTED, parts=(PartEdit("section:plan", 900, 90),), send_attempts=1
    )
    short = note(
        "b", source=NoteSource.IMPORTED, parts=(PartEdit("section:plan", 100, 50),), send_attempts=2
    )
    typed = note("c", parts=(PartEdit("section:plan", 100, 100),), send_attempts=1)
    f = figures([long, short, typed, note("d", outcome=NoteOutcome.DECLINED)])
    assert f.imported_edit_rate == 140 / 1000  # not the mean of 10% and 50%
    assert (f.notes_approved, f.first_time, f.after_retry, f.declined) == (3, 2, 1, 1)
    assert f.first_time_rate == pytest.approx(2 / 3)


def test_my_week_has_seven_days_with_their_figures() -> None:
    last = MONDAY + timedelta(days=6)
    notes = [
        note("a", day=MONDAY, open_to_approve_ms=60_000, send_attempts=1),
        note("b", day=MONDAY, open_to_approve_ms=180_000, send_attempts=1),
        note("c", day=last, open_to_approve_ms=120_000, send_attempts=1, person_needed=1),
        note("old", day=MONDAY - timedelta(days=1), open_to_approve_ms=1),
    ]
    report = week_report(notes, [DayFigures(MONDAY, sign_ins=2)], last)
    assert [d.day for d in report.days] == [MONDAY + timedelta(days=i) for i in range(7)]
    assert [d.figures.notes_approved for d in report.days] == [2, 0, 0, 0, 0, 0, 1]
    assert report.days[0].figures.open_to_approve.median_ms == 120_000
    assert report.days[6].figures.needed_person == 1
    assert report.week.notes_approved == 3 and report.week.sign_ins == 2
    assert report.week.open_to_approve.median_ms == 120_000
    assert iso_week(MONDAY) == "2026-W10"
