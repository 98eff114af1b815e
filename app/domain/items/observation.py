"""Observations: measurements the clinician records with the note (vital signs, lab values),
LOINC-coded with a UCUM unit; written as Observation (category from the LOINC code)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from app.domain.clinical import Coding
from app.domain.items.kind import (
    CodecPart,
    Column,
    ImportField,
    ImportPart,
    ImportReader,
    ItemCheck,
    ItemKind,
    KindWords,
    NoteRole,
    new_item_id,
)
from app.domain.items.parts import (
    cell_text,
    decimal_from,
    decimal_json,
    format_number,
    instant_from,
    instant_json,
    optional_text,
    parse_decimal,
)
from app.domain.observation_codes import (
    KnownObservation,
    is_valid_loinc,
    known_observation,
    looks_like_ucum,
    unit_display,
)
from app.domain.validation_problems import (
    MAX_ITEM_TEXT_CHARS,
    ProblemKind,
    ValidationProblem,
    check_text,
    error,
    warning,
)

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
MAX_DECIMAL_PLACES = 6
FUTURE_TOLERANCE = timedelta(minutes=5)  # clock skew between laptop and EHR
_LOINC_SHAPE = re.compile(r"^\d{1,7}-\d$")
SYSTOLIC, DIASTOLIC = "8480-6", "8462-4"


@dataclass(frozen=True)
class ObservationItem:
    """A measurement the clinician records with the note (LOINC code, value, UCUM unit)."""

    item_id: str
    loinc_code: str
    display: str
    value: Decimal | None
    unit: str | None  # UCUM code, e.g. "mm[Hg]", "/min", "kg"
    effective: datetime | None = None
    note: str | None = None

    @property
    def code(self) -> Coding:
        return Coding(LOINC, self.loinc_code, self.display)


# ---------------------------------------------------------------- validation


def check_observation(item: ObservationItem, ctx: ItemCheck) -> Iterable[ValidationProblem]:
    base = f"item:{item.item_id}"
    name = item.display or item.loinc_code or "the observation"
    known: KnownObservation | None = None
    if not is_valid_loinc(item.loinc_code):
        yield error(
            f"{base}:code",
            ProblemKind.LOINC_FORMAT,
            f"{item.loinc_code!r} is not a valid LOINC code (format 12345-6 with a correct check "
            "digit); pick the observation again from the list.",
        )
    else:
        known = known_observation(item.loinc_code)
        if known is None:
            yield warning(
                f"{base}:code",
                ProblemKind.UNKNOWN_CODE,
                f"LOINC {item.loinc_code} is not one the app knows, so its value and unit were "
                "not checked; make sure they are right.",
            )
    if item.note is not None:
        yield from check_text(f"{base}:note", "The comment", item.note, MAX_ITEM_TEXT_CHARS)
    yield from _check_unit(base, name, item, known)
    yield from _check_value(base, name, item, known)
    if item.effective is not None:
        if item.effective.tzinfo is None or item.effective.utcoffset() is None:
            yield error(
                f"{base}:effective",
                ProblemKind.EFFECTIVE_TIME,
                f"The time of {name} has no time zone; enter it again.",
            )
        elif ctx.now is not None and item.effective > ctx.now + FUTURE_TOLERANCE:
            yield error(
                f"{base}:effective",
                ProblemKind.EFFECTIVE_TIME,
                f"The time of {name} is in the future; correct the date and time.",
            )


def _check_unit(
    base: str, name: str, item: ObservationItem, known: KnownObservation | None
) -> Iterable[ValidationProblem]:
    unit = item.unit
    if not unit:
        yield error(
            f"{base}:unit", ProblemKind.UNIT_INVALID, f"Choose a unit for {name} (UCUM code)."
        )
        return
    if known is not None:
        if unit not in known.units:
            allowed = ", ".join(f"{unit_display(u)} ({u})" for u in known.units)
            yield error(
                f"{base}:unit",
                ProblemKind.UNIT_INVALID,
                f"{unit!r} is not a unit for {known.display}; use {allowed}.",
            )
    elif not looks_like_ucum(unit):
        yield error(
            f"{base}:unit",
            ProblemKind.UNIT_INVALID,
            f"{unit!r} is not a UCUM unit code (no spaces, e.g. mm[Hg], /min, mg/dL); "
            "correct the unit.",
        )


def _check_value(
    base: str, name: str, item: ObservationItem, known: KnownObservation | None
) -> Iterable[ValidationProblem]:
    value = item.value
    path = f"{base}:value"
    if value is None:
        yield error(path, ProblemKind.VALUE_MISSING, f"Enter a value for {name}.")
        return
    if not value.is_finite():
        yield error(path, ProblemKind.VALUE_IMPLAUSIBLE, f"The value of {name} is not a number.")
        return
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMAL_PLACES:
        yield error(
            path,
            ProblemKind.VALUE_IMPLAUSIBLE,
            f"The value of {name} has more than {MAX_DECIMAL_PLACES} decimal places; round it.",
        )
        return
    if known is None or item.unit not in known.units:
        if value.adjusted() > 12:
            yield error(
                path, ProblemKind.VALUE_IMPLAUSIBLE, f"The value of {name} is implausibly large."
            )
        return
    limits = known.units[item.unit]
    shown = f"{format(value, 'f')} {unit_display(item.unit)}"
    if not limits.plausible(value):
        yield error(
            path,
            ProblemKind.VALUE_IMPLAUSIBLE,
            f"{shown} is not a possible {known.display.lower()} (plausible: "
            f"{limits.plausible_low}–{limits.plausible_high} {unit_display(item.unit)}); "
            "check the value and the unit.",
        )
    elif not limits.usual(value):
        yield warning(
            path,
            ProblemKind.VALUE_UNUSUAL,
            f"{shown} is outside the usual range for {known.display.lower()}; confirm it is right.",
        )


def check_blood_pressure(observations: Sequence[ObservationItem]) -> Iterable[ValidationProblem]:
    systolic = [o for o in observations if o.loinc_code == SYSTOLIC and o.value is not None]
    diastolic = [o for o in observations if o.loinc_code == DIASTOLIC and o.value is not None]
    if len(systolic) == 1 and len(diastolic) == 1:
        s, d = systolic[0], diastolic[0]
        if s.value is not None and d.value is not None and s.value <= d.value:
            yield warning(
                f"item:{d.item_id}:value",
                ProblemKind.INCONSISTENT_VALUES,
                "The diastolic pressure is not lower than the systolic; check both values.",
            )


# ---------------------------------------------------------------- words, import, codec


def render(item: ObservationItem) -> str:
    """``Heart rate: 96 /min``; ``Heart rate: no value`` while nothing was entered."""
    name = item.display or f"LOINC {item.loinc_code}"
    if item.value is None:
        line = f"{name}: no value"
    else:
        unit = f" {unit_display(item.unit)}" if item.unit else ""
        line = f"{name}: {format_number(item.value)}{unit}"
    return line + (f" ({item.note.strip()})" if item.note and item.note.strip() else "")


def read_import(r: ImportReader, raw: Mapping[str, Any], path: str) -> ObservationItem | None:
    item_id = r.item_id(raw, path)
    loinc = raw.get("loinc")
    if not isinstance(loinc, str) or not _LOINC_SHAPE.match(loinc):
        r.fail(f"{path}.loinc", "must be a LOINC code such as '8867-4'")
        loinc = None
    display = r.text(raw.get("display"), f"{path}.display")
    value = r.number(raw.get("value"), f"{path}.value")
    unit = r.optional_text(raw.get("unit"), f"{path}.unit")
    effective = r.instant(raw.get("effective"), f"{path}.effective", required=False)
    note = r.optional_text(raw.get("note"), f"{path}.note")
    r.item_flags(raw, path, item_id)
    if loinc is None or display is None:
        return None
    return ObservationItem(item_id, loinc, display, value, unit, effective, note)


def encode(i: ObservationItem) -> dict[str, Any]:
    return {
        "item_id": i.item_id,
        "loinc_code": i.loinc_code,
        "display": i.display,
        "value": decimal_json(i.value),
        "unit": i.unit,
        "effective": instant_json(i.effective),
        "note": i.note,
    }


def decode(d: Mapping[str, Any]) -> ObservationItem:
    return ObservationItem(
        item_id=d["item_id"],
        loinc_code=d["loinc_code"],
        display=d["display"],
        value=decimal_from(d["value"]),
        unit=d["unit"],
        effective=instant_from(d["effective"]),
        note=d.get("note"),
    )


OBSERVATION: ItemKind[ObservationItem] = ItemKind(
    key="observation",
    item_type=ObservationItem,
    resource_type="Observation",
    permissions="crus",
    write_rank=10,
    words=KindWords(
        singular="observation",
        plural="observations",
        label="Observation",
        row="Observation",
        tab="Observations",
        add="Add observation",
        cannot="record observations",
        fails="the observation cannot be recorded",
        fails_named="the {name} observation cannot be recorded",
    ),
    role=NoteRole.OBJECTIVE,
    render=render,
    name_of=lambda i: i.display,
    check=check_observation,
    check_together=check_blood_pressure,
    import_part=ImportPart(
        key="observations",
        title="Observation",
        summary="measurements to record with the note",
        fields=(
            ImportField(
                "id",
                False,
                "item id, unique in the file (1–64 of `A-Z a-z 0-9 . _ : -`); "
                "generated when absent",
            ),
            ImportField("loinc", True, 'LOINC code, e.g. `"8867-4"`'),
            ImportField("display", True, 'what was measured, e.g. `"Heart rate"`'),
            ImportField("value", False, "a JSON number (not a string)"),
            ImportField("unit", False, 'UCUM code, e.g. `"/min"`, `"mm[Hg]"`, `"kg"`'),
            ImportField("effective", False, "date-time with time zone"),
            ImportField("note", False, "free text"),
            ImportField("uncertainty", False, "list of flags"),
        ),
        read=read_import,
    ),
    codec=CodecPart(encode, decode),
    columns=(
        Column(
            "LOINC code",
            "code",
            lambda i: i.loinc_code,
            lambda i, t: replace(i, loinc_code=t.strip()),
        ),
        Column("Name", "display", lambda i: i.display, lambda i, t: replace(i, display=t.strip())),
        Column(
            "Value",
            "value",
            lambda i: cell_text(i.value),
            lambda i, t: replace(i, value=parse_decimal(t)),
        ),
        Column(
            "Unit (UCUM)",
            "unit",
            lambda i: i.unit or "",
            lambda i, t: replace(i, unit=optional_text(t)),
            hint="UCUM unit, for example /min, mm[Hg], kg, Cel, %",
        ),
    ),
    new_item=lambda: ObservationItem(new_item_id(), "", "", None, None),
)
