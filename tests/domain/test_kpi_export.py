"""The KPI export format and the merge of many workstations: round trips, known medians,
nothing counted twice, and the bad inputs (another version, cut short, overlapping, a clock
that went backwards) refused or named in words."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from app.domain.kpi import DayFigures, NoteFigures, NoteOutcome, NoteSource, PartEdit
from app.domain.kpi_export import (
    KpiExport,
    KpiFileError,
    SiteDayRow,
    SiteNoteRow,
    parse_export,
    to_csv,
    to_json,
)
from app.domain.kpi_merge import NamedExport, merge_exports
from app.domain.kpi_report import ALL_SITES, TOTAL

MONDAY = date(2026, 3, 2)  # ISO week 2026-W10
MINUTE = 60_000


def note(key: str, minutes: int, day: date = MONDAY, **kw: object) -> NoteFigures:
    values: dict[str, object] = {
        "note": key,
        "day": day,
        "source": NoteSource.PREFILLED,
        "outcome": NoteOutcome.CONFIRMED,
        "open_to_approve_ms": minutes * MINUTE,
        "approve_to_confirm_ms": 2_000,
        "active_edit_ms": minutes * 30_000,
        "send_attempts": 1,
    }
    values.update(kw)
    return NoteFigures(**values)  # type: ignore[arg-type]


def export(
    workstation: str,
    site: str,
    notes: list[NoteFigures],
    *,
    since: date = MONDAY,
    until: date = MONDAY + timedelta(days=6),
    days: tuple[DayFigures, ...] = (),
    made: datetime = datetime(2026, 3, 9, 18, 0, tzinfo=UTC),
) -> KpiExport:
    return KpiExport(
        workstation=workstation,
        exported_at=made,
        since=since,
        until=until,
        app_version="0.1.0",
        notes=tuple(SiteNoteRow(site, n) for n in notes),
        days=tuple(SiteDayRow(site, d) for d in days),
    )


def sample() -> KpiExport:
    imported = note(
        "n2",
        7,
        source=NoteSource.IMPORTED,
        parts=(PartEdit("section:plan", 400, 40), PartEdit("items:observation", 3, 1)),
        approve_to_confirm_ms=None,
        clock_backwards=1,
    )
    return export(
        "ws-aaaa-1111",
        "north",
        [note("n1", 3), imported],
        days=(DayFigures(MONDAY, sign_ins=2, charts_opened=5),),
    )


@pytest.mark.parametrize("write", [to_json, to_csv])
def test_an_export_reads_back_as_it_was_written(write: object) -> None:
    original = sample()
    assert parse_export(write(original)) == original  # type: ignore[operator]


def test_both_formats_carry_the_format_and_its_version() -> None:
    assert '"format": "fhir-writeback-kpi"' in to_json(sample())
    assert '"version": 1' in to_json(sample())
    header, first, *_rows, end = to_csv(sample()).splitlines()
    assert header.startswith("record,format,version,workstation,site,day,note,")
    assert first.startswith("export,fhir-writeback-kpi,1,ws-aaaa-1111,")
    assert end.startswith("end,fhir-writeback-kpi,1,ws-aaaa-1111,") and end.endswith(
        ",5"
    )  # 1 day, 2 notes, 2 parts


# ---------------------------------------------------------------- the merge


def three_workstations() -> list[NamedExport]:
    north_a = export("ws-a", "north", [note("a1", 2), note("a2", 4), note("a3", 6)])
    north_b = export(
        "ws-b",
        "north",
        [note("b1", 8, send_attempts=2), note("b2", 10, person_needed=1)],
        days=(DayFigures(MONDAY, sign_ins=3),),
    )
    south_c = export(
        "ws-c",
        "south",
        [note(f"c{m}", m, day=MONDAY + timedelta(days=7)) for m in (1, 3, 5, 7)],
        since=MONDAY + timedelta(days=7),
        until=MONDAY + timedelta(days=13),
        days=(DayFigures(MONDAY + timedelta(days=7), sign_ins=1),),
    )
    return [
        NamedExport("a.json", north_a),
        NamedExport("b.csv", north_b),
        NamedExport("c.json", south_c),
    ]


def test_three_workstations_give_the_known_medians() -> None:
    merged = merge_exports(three_workstations())
    table = {(p.site, p.period): p for p in merged.periods}
    north = table[("north", "2026-W10")].figures
    assert north.notes_approved == 5 and north.sign_ins == 3
    assert north.open_to_approve.median_ms == 6 * MINUTE  # 2 4 6 8 10
    assert north.open_to_approve.p90_ms == 10 * MINUTE
    assert (north.first_time, north.after_retry, north.needed_person) == (3, 1, 1)
    south = table[("south", "2026-W11")].figures
    assert south.open_to_approve.median_ms == 4 * MINUTE  # 1 3 5 7
    assert south.open_to_approve.p90_ms == 7 * MINUTE
    every = table[(ALL_SITES, TOTAL)]
    assert every.figures.notes_approved == 9 and every.workstations == 3
    assert every.figures.open_to_approve.median_ms == 5 * MINUTE  # 1 2 3 4 5 6 7 8 10
    assert every.figures.open_to_approve.p90_ms == 10 * MINUTE
    assert table[("south", TOTAL)].figures.sign_ins == 1
    assert merged.notices == ()


def test_overlapping_exports_of_one_workstation_are_counted_once() -> None:
    monday_noon = export(
        "ws-a",
        "north",
        [note("a1", 2), note("a2", 4, outcome=NoteOutcome.APPROVED, approve_to_confirm_ms=None)],
        until=MONDAY + timedelta(days=1),
        days=(DayFigures(MONDAY, sign_ins=1),),
    )
    later = replace(
        monday_noon.notes[1].note, outcome=NoteOutcome.CONFIRMED, revision=3
    )  # the same note, confirmed since
    whole_week = export(
        "ws-a",
        "north",
        [note("a1", 2), later, note("a3", 6)],
        days=(DayFigures(MONDAY, sign_ins=2),),
    )
    files = [NamedExport("noon.json", monday_noon), NamedExport("week.csv", whole_week)]
    for order in (files, files[::-1], [*files, files[0]]):  # any order, even a file twice
        merged = merge_exports(order)
        week = {(p.site, p.period): p for p in merged.periods}[("north", TOTAL)].figures
        assert week.notes_approved == 3 and week.confirmed == 3
        assert week.sign_ins == 2  # the larger count of the day, not 1 + 2
        assert any("cover the same days" in n and "counted once" in n for n in merged.notices)


def test_a_clock_that_went_backwards_is_named_and_nothing_counted_twice() -> None:
    skewed = export(
        "ws-d",
        "north",
        [note("d1", 5, clock_backwards=1, open_to_approve_ms=None), note("d2", 3)],
        made=datetime(2026, 2, 20, 9, 0, tzinfo=UTC),  # "made" before the days it holds
    )
    merged = merge_exports([NamedExport("d.json", skewed), NamedExport("d-again.json", skewed)])
    total = {(p.site, p.period): p for p in merged.periods}[("north", TOTAL)].figures
    assert total.notes_approved == 2 and total.open_to_approve.count == 1
    assert total.clock_backwards == 1
    assert any("clock went backwards during 1 note" in n for n in merged.notices)
    assert any("d.json says it was made on 2026-02-20" in n for n in merged.notices)


# ---------------------------------------------------------------- bad files


def test_a_file_from_another_version_is_refused_in_words() -> None:
    text = to_json(sample()).replace('"version": 1', '"version": 2')
    with pytest.raises(KpiFileError, match=r"another version of the app .*version 2"):
        parse_export(text)
    csv_text = to_csv(sample()).replace(",fhir-writeback-kpi,1,", ",fhir-writeback-kpi,2,")
    with pytest.raises(KpiFileError, match="another version"):
        parse_export(csv_text)


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.99])
def test_a_truncated_csv_is_refused(cut: float) -> None:
    text = to_csv(sample())
    with pytest.raises(KpiFileError, match=r"cut short|ends early|fewer fields"):
        parse_export(text[: int(len(text) * cut)])


def test_a_csv_missing_rows_is_refused() -> None:
    lines = to_csv(sample()).splitlines(keepends=True)
    without_a_row = "".join(lines[:2] + lines[3:])
    with pytest.raises(KpiFileError, match=r"holds 4 record.* says 5"):
        parse_export(without_a_row)


def test_truncated_json_and_strangers_are_refused() -> None:
    text = to_json(sample())
    with pytest.raises(KpiFileError, match="not complete JSON"):
        parse_export(text[:-40])
    with pytest.raises(KpiFileError, match="not a KPI export"):
        parse_export('{"format": "fhir-writeback-audit", "version": 1}')
    with pytest.raises(KpiFileError, match="not a KPI export"):
        parse_export("seq,at,actor,kind\n1,2,3,4\n")
    with pytest.raises(KpiFileError, match="empty"):
        parse_export("")
    with pytest.raises(KpiFileError, match="send_attempts is 'x'"):
        parse_export(text.replace('"send_attempts": 1', '"send_attempts": "x"', 1))
