"""Observations: measurements the clinician records with the note (vital signs, lab values),
LOINC-coded with a UCUM unit, picked by name from the bundled terminology
(``app.domain.terminology``); written as Observation (category from the terminology), a blood
pressure as the vital-signs panel with its two components.

The item and its line: ``observation_values``; validation: ``observation_checks``; what the
clinician types into its cells: ``observation_entry``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from app.domain.entry import EntryContext, EntryRefused
from app.domain.items.kind import (
    CodecPart,
    Column,
    ImportField,
    ImportPart,
    ImportReader,
    ItemKind,
    KindWords,
    NoteRole,
    Picker,
    new_item_id,
)
from app.domain.items.observation_checks import (
    FUTURE_TOLERANCE,
    MAX_DECIMAL_PLACES,
    check_blood_pressure,
    check_observation,
)
from app.domain.items.observation_entry import (
    enter_code,
    enter_observation,
    enter_unit,
    enter_value,
    unit_cell,
    value_cell,
    with_concept,
)
from app.domain.items.observation_values import (
    BLOOD_PRESSURE,
    DIASTOLIC,
    LOINC,
    SYSTOLIC,
    UCUM,
    ObservationComponent,
    ObservationItem,
    name_of,
    render,
    value_words,
)
from app.domain.items.parts import (
    decimal_from,
    decimal_json,
    instant_from,
    instant_json,
)
from app.domain.terminology import terminology

__all__ = [
    "BLOOD_PRESSURE",
    "DIASTOLIC",
    "FUTURE_TOLERANCE",
    "LOINC",
    "MAX_DECIMAL_PLACES",
    "OBSERVATION",
    "SYSTOLIC",
    "UCUM",
    "ObservationComponent",
    "ObservationItem",
    "check_observation",
    "render",
    "value_words",
]

_LOINC_SHAPE = re.compile(r"^\d{1,7}-\d$")


def read_import(r: ImportReader, raw: Mapping[str, Any], path: str) -> ObservationItem | None:
    item_id = r.item_id(raw, path)
    loinc = raw.get("loinc")
    if not isinstance(loinc, str) or not _LOINC_SHAPE.match(loinc):
        r.fail(f"{path}.loinc", "must be a LOINC code such as '8867-4'")
        loinc = None
    display = r.text(raw.get("display"), f"{path}.display")
    concept = terminology().concept(loinc) if loinc else None
    unit = r.optional_text(raw.get("unit"), f"{path}.unit")
    effective = r.instant(raw.get("effective"), f"{path}.effective", required=False)
    note = r.optional_text(raw.get("note"), f"{path}.note")
    item = None
    if concept is not None and concept.is_panel and isinstance(raw.get("value"), str):
        item = _panel_from_text(r, raw["value"], f"{path}.value", item_id, concept.code)
    value = None if item is not None else r.number(raw.get("value"), f"{path}.value")
    r.item_flags(raw, path, item_id)
    if loinc is None or display is None:
        return None
    if item is not None:
        return ObservationItem(item_id, loinc, display, None, unit or item.unit, effective, note,
                               item.components)  # fmt: skip
    return ObservationItem(item_id, loinc, display, value, unit, effective, note)


def _panel_from_text(
    r: ImportReader, text: str, path: str, item_id: str, code: str
) -> ObservationItem | None:
    panel = terminology().concept(code)
    if panel is None:
        return None
    blank = with_concept(ObservationItem(item_id, code, "", None, None), panel)
    try:  # reading "142/88" needs no date: the context's day is never looked at
        return enter_value(blank, text, EntryContext(today=date.min))
    except EntryRefused as refused:
        r.fail(path, refused.words)
        return None


def _component_json(c: ObservationComponent) -> dict[str, Any]:
    return {"loinc_code": c.loinc_code, "display": c.display, "value": decimal_json(c.value),
            "unit": c.unit}  # fmt: skip


def encode(i: ObservationItem) -> dict[str, Any]:
    body: dict[str, Any] = {
        "item_id": i.item_id,
        "loinc_code": i.loinc_code,
        "display": i.display,
        "value": decimal_json(i.value),
        "unit": i.unit,
        "effective": instant_json(i.effective),
        "note": i.note,
    }
    if i.components:
        body["components"] = [_component_json(c) for c in i.components]
    return body


def decode(d: Mapping[str, Any]) -> ObservationItem:
    return ObservationItem(
        item_id=d["item_id"],
        loinc_code=d["loinc_code"],
        display=d["display"],
        value=decimal_from(d["value"]),
        unit=d["unit"],
        effective=instant_from(d["effective"]),
        note=d.get("note"),
        components=tuple(
            ObservationComponent(c["loinc_code"], c["display"], decimal_from(c["value"]), c["unit"])
            for c in d.get("components", ())
        ),
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
    name_of=name_of,
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
            ImportField(
                "value",
                False,
                'a JSON number (not a string); for a blood pressure (`"85354-9"`) the text '
                '`"142/88"`',
            ),
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
            "Observation",
            "code",
            name_of,
            enter=enter_observation,
            picker=Picker.OBSERVATION,
            hint="Type part of the name (hr, bp, a1c, sats, temp) or a LOINC code; "
            "pick with the arrow keys and Enter",
        ),
        Column(
            "Value",
            "value",
            value_cell,
            enter=enter_value,
            picker=Picker.QUANTITY,
            hint="A number, with its unit if it is not the usual one (98.6 F, 154 lb); "
            "a blood pressure as 142/88",
        ),
        Column(
            "Unit",
            "unit",
            unit_cell,
            enter=enter_unit,
            hint="The unit as you write it: °C or F, kg or lb, mg/dL or mmol/L",
        ),
        Column(
            "LOINC",
            "loinc_code",
            lambda i: i.loinc_code,
            enter=enter_code,
            hint="The LOINC code; filled in when you pick an observation by name",
        ),
    ),
    new_item=lambda: ObservationItem(new_item_id(), "", "", None, None),
)
