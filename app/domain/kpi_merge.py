"""Exports of many workstations combined into one report (``fhir-writeback kpi merge``).

Nothing is counted twice:

- a note is known by (workstation, site, note key): when exports of the same workstation
  overlap, the copy with the highest ``revision`` (the most recent state of the note) is kept;
- a day's counters are known by (workstation, site, day) and only grow during a day, so the
  largest value of each is kept (an export made at noon and one made in the evening give the
  evening's);
- neither rule reads a clock: a workstation whose clock went backwards is merged the same way,
  and said so (``notices``): its notes' durations that ran backwards were already left out when
  they were measured (``clock_backwards``), and an export dated before the days it holds is
  named.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from app.domain.kpi import DayFigures
from app.domain.kpi_export import KpiExport
from app.domain.kpi_report import Period, SiteDay, SiteNote, periods


@dataclass(frozen=True)
class NamedExport:
    name: str  # the file it was read from, for the notices
    export: KpiExport


@dataclass(frozen=True)
class MergeResult:
    notes: tuple[SiteNote, ...]
    days: tuple[SiteDay, ...]
    workstations: tuple[str, ...]
    files: tuple[str, ...]
    notices: tuple[str, ...]  # overlaps counted once, clocks that went backwards

    @property
    def periods(self) -> tuple[Period, ...]:
        return periods(self.notes, self.days)


def short(workstation: str) -> str:
    return workstation[:8]


def merge_exports(files: Sequence[NamedExport]) -> MergeResult:
    notices: list[str] = []
    notes, seen_twice = _merge_notes(files)
    days = _merge_days(files)
    notices += _overlaps(files, seen_twice)
    notices += _clocks(files, notes)
    stations = sorted({f.export.workstation for f in files})
    return MergeResult(
        notes=tuple(sorted(notes.values(), key=lambda n: (n.site, n.note.day, n.note.note))),
        days=tuple(sorted(days, key=lambda d: (d.site, d.day.day, d.workstation))),
        workstations=tuple(stations),
        files=tuple(f.name for f in files),
        notices=tuple(notices),
    )


def _merge_notes(
    files: Sequence[NamedExport],
) -> tuple[dict[tuple[str, str, str], SiteNote], Counter[str]]:
    kept: dict[tuple[str, str, str], SiteNote] = {}
    seen_twice: Counter[str] = Counter()
    for f in files:
        ws = f.export.workstation
        for row in f.export.notes:
            key = (ws, row.site, row.note.note)
            earlier = kept.get(key)
            if earlier is not None:
                seen_twice[ws] += 1
                if earlier.note.revision >= row.note.revision:
                    continue
            kept[key] = SiteNote(ws, row.site, row.note)
    return kept, seen_twice


def _merge_days(files: Sequence[NamedExport]) -> list[SiteDay]:
    best: dict[tuple[str, str, object], DayFigures] = {}
    for f in files:
        ws = f.export.workstation
        for row in f.export.days:
            key = (ws, row.site, row.day.day)
            earlier = best.get(key)
            if earlier is None:
                best[key] = row.day
            else:
                best[key] = DayFigures(
                    row.day.day,
                    max(earlier.sign_ins, row.day.sign_ins),
                    max(earlier.charts_opened, row.day.charts_opened),
                )
    return [SiteDay(ws, site, day) for (ws, site, _d), day in best.items()]


def _overlaps(files: Sequence[NamedExport], seen_twice: Counter[str]) -> list[str]:
    out: list[str] = []
    for i, a in enumerate(files):
        for b in files[i + 1 :]:
            ea, eb = a.export, b.export
            if ea.workstation != eb.workstation:
                continue
            first, last = max(ea.since, eb.since), min(ea.until, eb.until)
            if first <= last:
                out.append(
                    f"{a.name} and {b.name} are both from workstation {short(ea.workstation)} "
                    f"and cover the same days ({first} to {last}): each note and each day is "
                    "counted once."
                )
    for ws, count in sorted(seen_twice.items()):
        out.append(
            f"Workstation {short(ws)}: {count} note record(s) appeared in more than one file; "
            "the most recent state of each note was kept."
        )
    return out


def _clocks(files: Sequence[NamedExport], notes: dict[tuple[str, str, str], SiteNote]) -> list[str]:
    out: list[str] = []
    backwards: Counter[str] = Counter()
    for n in notes.values():
        if n.note.clock_backwards:
            backwards[n.workstation] += 1
    for ws, count in sorted(backwards.items()):
        out.append(
            f"Workstation {short(ws)}: the computer's clock went backwards during {count} "
            "note(s); the durations it made wrong are left out, the notes are counted."
        )
    for f in files:
        days = [r.note.day for r in f.export.notes] + [r.day.day for r in f.export.days]
        made = f.export.exported_at.date()
        if days and max(days) > made + timedelta(days=1):
            out.append(
                f"{f.name} says it was made on {made}, before the last day it holds "
                f"({max(days)}): the clock of workstation {short(f.export.workstation)} was "
                "wrong; its notes are counted once, by their key, not by time."
            )
    return out
