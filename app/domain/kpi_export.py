"""The KPI export of one workstation (``fhir-writeback kpi``), as JSON or CSV, and reading it
back for a merge — pure: text in, text out.

Format ``fhir-writeback-kpi``, version 1 (docs/kpi.md describes every field):

JSON: one object ``{"format", "version", "app_version", "workstation", "exported_at", "since",
"until", "days": [...], "notes": [{..., "parts": [...]}], "rows"}``; ``rows`` is the number of
day, note and part records, so a file cut short is told from a complete one.

CSV: one table, the column ``record`` says what a row is: ``export`` (first: the same fields
as the JSON head), then ``day``, ``note`` and ``part`` rows, then ``end`` with ``rows``. Every
row repeats ``format``, ``version`` and ``workstation``. A file without its ``end`` row, or
whose count does not match, is truncated.

Reading refuses, with words that say what to do, a file of another format or version, a
truncated one and a value that is not what its column holds (``KpiFileError``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from app.domain.kpi import DayFigures, NoteFigures, NoteOutcome, NoteSource, PartEdit

E = TypeVar("E")
EXPORT_FORMAT = "fhir-writeback-kpi"
EXPORT_VERSION = 1

NOTE_COUNTS = (
    "open_to_approve_ms",
    "approve_to_confirm_ms",
    "active_edit_ms",
    "send_attempts",
    "person_needed",
    "conflicts",
    "duplicates_prevented",
    "clock_backwards",
    "revision",
)
_OPTIONAL = frozenset({"open_to_approve_ms", "approve_to_confirm_ms"})
CSV_COLUMNS = (
    "record",
    "format",
    "version",
    "workstation",
    "site",
    "day",
    "note",
    "source",
    "outcome",
    *NOTE_COUNTS,
    "part",
    "total",
    "changed",
    "sign_ins",
    "charts_opened",
    "app_version",
    "exported_at",
    "since",
    "until",
    "rows",
)


class KpiFileError(ValueError):
    """A file that cannot be merged; ``str(exc)`` says why and what to do."""


@dataclass(frozen=True)
class SiteNoteRow:
    site: str
    note: NoteFigures


@dataclass(frozen=True)
class SiteDayRow:
    site: str
    day: DayFigures


@dataclass(frozen=True)
class KpiExport:
    workstation: str  # a random id, made once per workstation and user
    exported_at: datetime
    since: date
    until: date  # inclusive
    app_version: str
    notes: tuple[SiteNoteRow, ...] = ()
    days: tuple[SiteDayRow, ...] = ()

    @property
    def rows(self) -> int:
        return len(self.notes) + len(self.days) + sum(len(n.note.parts) for n in self.notes)


# ---------------------------------------------------------------- writing


def _note_fields(row: SiteNoteRow) -> dict[str, Any]:
    n = row.note
    values: dict[str, Any] = {
        "site": row.site,
        "day": n.day.isoformat(),
        "note": n.note,
        "source": n.source.value,
        "outcome": n.outcome.value,
    }
    values.update({name: getattr(n, name) for name in NOTE_COUNTS})
    return values


def _day_fields(row: SiteDayRow) -> dict[str, Any]:
    return {
        "site": row.site,
        "day": row.day.day.isoformat(),
        "sign_ins": row.day.sign_ins,
        "charts_opened": row.day.charts_opened,
    }


def _head(export: KpiExport) -> dict[str, Any]:
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "app_version": export.app_version,
        "workstation": export.workstation,
        "exported_at": _ts(export.exported_at),
        "since": export.since.isoformat(),
        "until": export.until.isoformat(),
    }


def to_json(export: KpiExport) -> str:
    document = _head(export)
    document["days"] = [_day_fields(d) for d in export.days]
    document["notes"] = [
        {
            **_note_fields(n),
            "parts": [
                {"part": p.part, "total": p.total, "changed": p.changed} for p in n.note.parts
            ],
        }
        for n in export.notes
    ]
    document["rows"] = export.rows
    return json.dumps(document, indent=1, ensure_ascii=True) + "\n"


def to_csv(export: KpiExport) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n", restval="")
    writer.writeheader()
    common = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "workstation": export.workstation}
    writer.writerow({**_head(export), "record": "export"})
    for d in export.days:
        writer.writerow({**common, "record": "day", **_day_fields(d)})
    for n in export.notes:
        writer.writerow({**common, "record": "note", **_note_fields(n)})
        for p in n.note.parts:
            writer.writerow(
                {
                    **common,
                    "record": "part",
                    "site": n.site,
                    "note": n.note.note,
                    "part": p.part,
                    "total": p.total,
                    "changed": p.changed,
                }
            )
    writer.writerow({**common, "record": "end", "rows": export.rows})
    return out.getvalue()


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- reading


def parse_export(text: str) -> KpiExport:
    """A JSON or CSV export (told apart by its first character). KpiFileError otherwise."""
    stripped = text.lstrip("\ufeff \r\n\t")
    if not stripped:
        raise KpiFileError("it is empty: export it again with 'fhir-writeback kpi'")
    if stripped.startswith("{"):
        return _from_json(stripped)
    return _from_csv(stripped)


def _check_format(head: Mapping[str, Any]) -> None:
    if head.get("format") != EXPORT_FORMAT:
        raise KpiFileError(
            "it is not a KPI export of FHIR Write-back (no 'format: "
            f"{EXPORT_FORMAT}'): give the files written by 'fhir-writeback kpi'"
        )
    version = str(head.get("version", "")).strip()
    if version != str(EXPORT_VERSION):
        raise KpiFileError(
            f"it was written by another version of the app (export format version "
            f"{version or 'missing'}; this app reads version {EXPORT_VERSION}): export it again "
            "with this version of the app, or merge it with the version that wrote it"
        )


def _from_json(text: str) -> KpiExport:
    try:
        document = json.loads(text)
    except ValueError:
        raise KpiFileError(
            "it is not complete JSON (cut short while it was copied?): export it again"
        ) from None
    if not isinstance(document, dict):
        raise KpiFileError("it is not a KPI export of FHIR Write-back")
    _check_format(document)
    reader = _Reader("the file")
    export = _export_head(reader, document)
    days = tuple(_day_row(reader, d) for d in _list(document, "days"))
    notes = tuple(_note_row(reader, n, _parts(reader, n)) for n in _list(document, "notes"))
    result = _with_rows(export, notes, days)
    declared = reader.number(document, "rows")
    if declared != result.rows:
        raise KpiFileError(
            f"it holds {result.rows} record(s) but says it has {declared}: it was cut short or "
            "edited; export it again"
        )
    return result


def _list(document: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = document.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise KpiFileError(f"its '{key}' is not a list of records: export it again")
    return value


def _parts(reader: _Reader, note: Mapping[str, Any]) -> tuple[PartEdit, ...]:
    return tuple(
        PartEdit(reader.text(p, "part"), reader.number(p, "total"), reader.number(p, "changed"))
        for p in _list(note, "parts")
    )


def _from_csv(text: str) -> KpiExport:
    rows = list(_csv_rows(text))
    head = rows[0] if rows else {}
    _check_format(head)
    if head.get("record") != "export":
        raise KpiFileError("it does not start with its 'export' record: export it again")
    reader = _Reader("the file")
    export = _export_head(reader, head)
    body = rows[1:]
    if not body or body[-1].get("record") != "end":
        raise KpiFileError(
            "it ends early (no 'end' record: the file was cut short): export it again"
        )
    days: list[SiteDayRow] = []
    notes: list[tuple[Mapping[str, Any], list[PartEdit]]] = []
    for number, row in enumerate(body[:-1], start=3):
        reader = _Reader(f"line {number}")
        _check_format(row)
        kind = row.get("record")
        if kind == "day":
            days.append(_day_row(reader, row))
        elif kind == "note":
            notes.append((row, []))
        elif kind == "part" and notes and notes[-1][0].get("note") == row.get("note"):
            notes[-1][1].append(
                PartEdit(
                    reader.text(row, "part"),
                    reader.number(row, "total"),
                    reader.number(row, "changed"),
                )
            )
        else:
            raise KpiFileError(f"line {number}: an unexpected '{kind}' record: export it again")
    built = tuple(_note_row(_Reader("a note"), row, tuple(parts)) for row, parts in notes)
    result = _with_rows(export, built, tuple(days))
    declared = _Reader("its end record").number(body[-1], "rows")
    if declared != result.rows:
        raise KpiFileError(
            f"it holds {result.rows} record(s) but its end record says {declared}: it was cut "
            "short or edited; export it again"
        )
    return result


def _csv_rows(text: str) -> Iterator[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        raise KpiFileError("it is empty: export it again with 'fhir-writeback kpi'")
    for row in reader:
        if None in row or any(v is None for v in row.values()):
            raise KpiFileError(
                f"line {reader.line_num} has {'more' if None in row else 'fewer'} fields than "
                "the header (the file was cut short or edited): export it again"
            )
        yield row


def _with_rows(
    head: KpiExport, notes: tuple[SiteNoteRow, ...], days: tuple[SiteDayRow, ...]
) -> KpiExport:
    return KpiExport(
        head.workstation, head.exported_at, head.since, head.until, head.app_version, notes, days
    )


def _export_head(reader: _Reader, head: Mapping[str, Any]) -> KpiExport:
    return KpiExport(
        workstation=reader.text(head, "workstation"),
        exported_at=reader.timestamp(head, "exported_at"),
        since=reader.day(head, "since"),
        until=reader.day(head, "until"),
        app_version=str(head.get("app_version") or ""),
    )


def _day_row(reader: _Reader, row: Mapping[str, Any]) -> SiteDayRow:
    return SiteDayRow(
        reader.text(row, "site"),
        DayFigures(
            reader.day(row, "day"),
            reader.number(row, "sign_ins"),
            reader.number(row, "charts_opened"),
        ),
    )


def _note_row(reader: _Reader, row: Mapping[str, Any], parts: tuple[PartEdit, ...]) -> SiteNoteRow:
    counts: dict[str, int | None] = {}
    for name in NOTE_COUNTS:
        counts[name] = reader.optional(row, name) if name in _OPTIONAL else reader.number(row, name)
    note = NoteFigures(
        note=reader.text(row, "note"),
        day=reader.day(row, "day"),
        source=reader.choice(row, "source", NoteSource),
        outcome=reader.choice(row, "outcome", NoteOutcome),
        parts=parts,
        **counts,  # type: ignore[arg-type]
    )
    return SiteNoteRow(reader.text(row, "site"), note)


class _Reader:
    """Reads one field of a record, or says where and what is wrong."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, key: str, value: object, expected: str) -> KpiFileError:
        return KpiFileError(
            f"{self.where}: {key} is {value!r}, not {expected} (the file was edited or is "
            "damaged): export it again"
        )

    def text(self, row: Mapping[str, Any], key: str) -> str:
        value = row.get(key)
        if not isinstance(value, str) or not value or len(value) > 100:
            raise self.fail(key, value, "a name")
        return value

    def number(self, row: Mapping[str, Any], key: str) -> int:
        value = row.get(key)
        try:
            number = value if isinstance(value, int) else int(str(value).strip())
        except ValueError:
            raise self.fail(key, value, "a whole number") from None
        if isinstance(number, bool) or number < 0:
            raise self.fail(key, value, "a whole number")
        return number

    def optional(self, row: Mapping[str, Any], key: str) -> int | None:
        value = row.get(key)
        return None if value in (None, "") else self.number(row, key)

    def day(self, row: Mapping[str, Any], key: str) -> date:
        try:
            return date.fromisoformat(str(row.get(key)))
        except ValueError:
            raise self.fail(key, row.get(key), "a date (YYYY-MM-DD)") from None

    def timestamp(self, row: Mapping[str, Any], key: str) -> datetime:
        try:
            value = datetime.fromisoformat(str(row.get(key)).replace("Z", "+00:00"))
        except ValueError:
            raise self.fail(key, row.get(key), "a UTC time") from None
        if value.tzinfo is None:
            raise self.fail(key, row.get(key), "a UTC time")
        return value

    def choice(self, row: Mapping[str, Any], key: str, parse: Callable[[str], E]) -> E:
        try:
            return parse(str(row.get(key)))
        except ValueError:
            raise self.fail(key, row.get(key), "a known value") from None
