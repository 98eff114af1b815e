"""What the clinician types into an observation's cells: the observation (a name, an
abbreviation or a LOINC code), the value ("37.5", "98.6 F", "142/88") and the unit ("F",
"lbs"). Each either returns the item with the entry in it or raises ``EntryRefused`` with words
saying what to type; the editor keeps the typed text beside the message.

The editor's type-ahead (fuzzy, over the whole terminology) is ``app.services``'s; what reaches
here is what the clinician picked or typed out.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from app.domain.entry import (
    EntryContext,
    EntryRefused,
    parse_pair,
    parse_quantity,
    parse_unit,
)
from app.domain.items.observation_values import (
    BLOOD_PRESSURE,
    ObservationComponent,
    ObservationItem,
)
from app.domain.items.parts import format_number
from app.domain.terminology import Concept, is_valid_loinc, looks_like_loinc, terminology

PICK_BY_NAME = "type part of its name (e.g. heart rate, bp, a1c) and pick from the list"


def concept_named(text: str) -> Concept | None:
    """The concept ``text`` names exactly: its LOINC code, its name or LOINC display, or a
    synonym no other concept has (any case)."""
    terms, typed = terminology(), text.strip()
    by_code = terms.concept(typed)
    if by_code is not None:
        return by_code
    folded = typed.casefold()
    named = [
        c for c in terms.concepts.values() if folded in (c.name.casefold(), c.display.casefold())
    ]
    if len(named) == 1:
        return named[0]
    called = [c for c in terms.concepts.values() if folded in (s.casefold() for s in c.synonyms)]
    return called[0] if len(called) == 1 else None


def with_concept(item: ObservationItem, concept: Concept) -> ObservationItem:
    """The item as an observation of ``concept``: its code and name, and its default unit
    unless the unit already entered is one of its own. Values already typed stay."""
    unit = item.unit if item.unit in concept.units else concept.default_unit
    return replace(item, loinc_code=concept.code, display=concept.name, unit=unit)


def enter_observation(item: ObservationItem, text: str, ctx: EntryContext) -> ObservationItem:
    typed = text.strip()
    if not typed:
        return replace(item, loinc_code="", display="")
    concept = concept_named(typed)
    if concept is not None:
        return with_concept(item, concept)
    if looks_like_loinc(typed):
        return enter_code(item, typed, ctx)
    raise EntryRefused(f"No observation called “{typed}”: {PICK_BY_NAME}, or type its LOINC code.")


def enter_code(item: ObservationItem, text: str, ctx: EntryContext) -> ObservationItem:
    typed = text.strip()
    if not typed:
        return replace(item, loinc_code="")
    concept = terminology().concept(typed)
    if concept is not None:
        return with_concept(item, concept)
    if not is_valid_loinc(typed):
        raise EntryRefused(
            f"“{typed}” is not a LOINC code (its last digit does not check); "
            f"type the code again, or {PICK_BY_NAME}."
        )
    # a real code the app does not know: kept, and validation asks to check value and unit
    display = item.display if item.loinc_code == typed else ""
    return replace(item, loinc_code=typed, display=display)


def enter_value(item: ObservationItem, text: str, ctx: EntryContext) -> ObservationItem:
    typed = text.strip()
    if not typed:
        return replace(item, value=None, components=())
    terms = terminology()
    concept = item.concept
    if concept is None and not item.loinc_code and "/" in typed:
        panel = terms.concept(BLOOD_PRESSURE)  # "142/88" in a fresh row: a blood pressure
        if panel is not None:
            item, concept = with_concept(item, panel), panel
    if concept is not None and concept.is_panel:
        return _enter_panel(item, concept, typed, ctx)
    value, unit = parse_quantity(typed, concept, terms, ctx)
    unit = unit or item.unit or (concept.default_unit if concept else None)
    return replace(item, value=value, unit=unit, components=())


def _enter_panel(
    item: ObservationItem, panel: Concept, text: str, ctx: EntryContext
) -> ObservationItem:
    terms = terminology()
    values = parse_pair(text, ctx, panel.in_sentence)
    unit = item.unit if item.unit in panel.units else panel.default_unit
    parts = []
    for code, value in zip(panel.components, values, strict=False):
        part = terms.concept(code)
        parts.append(ObservationComponent(code, part.name if part else code, Decimal(value), unit))
    return replace(item, value=None, unit=unit, components=tuple(parts))


def enter_unit(item: ObservationItem, text: str, ctx: EntryContext) -> ObservationItem:
    concept = item.concept
    unit = parse_unit(text, concept, terminology())
    parts = tuple(replace(c, unit=unit) for c in item.components)
    return replace(item, unit=unit, components=parts)


def value_cell(item: ObservationItem) -> str:
    """The value as typed back: "142/88" for a panel, "37.5" otherwise."""
    if item.components:
        return "/".join(
            format_number(c.value) if c.value is not None else "" for c in item.components
        )
    return format(item.value, "f") if item.value is not None else ""


def unit_cell(item: ObservationItem) -> str:
    """The unit as clinicians write it ("°C", "bpm"); the UCUM code for units the app does not
    know."""
    return terminology().shown_unit(item.unit, item.concept) if item.unit else ""
