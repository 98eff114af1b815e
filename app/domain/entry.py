"""What the clinician types into an item's cell, read into values, or refused with words that
say what to type instead. Nothing here erases anything: a refused entry stays as typed and its
message shows next to the field (the editor keeps the text).

    parse_number     "37.5", "37,5" (where the locale writes a decimal comma)
    parse_quantity   "98.6 F", "154 lbs", "5.4 mmol/L": value and UCUM unit of an observation
    parse_pair       "142/88": the two parts of a panel (blood pressure)
    parse_due        "tomorrow", "+2w", "next Monday", "3/12" (app.domain.due_dates)
    pick_owner       "Dr. Jones", "Practitioner/prac-2": one of the task-owner candidates

Pure and standard-library only. Fuller date reading (month names in any language) is handed in
by ``app.services`` as ``EntryContext.read_date``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import Enum

from app.domain.clinical import Reference
from app.domain.owners import OwnerCandidate, candidates_matching, find_owner
from app.domain.terminology import Concept, Terminology


class EntryRefused(ValueError):
    """A typed text that cannot be used as it is; ``words`` say what to type instead."""

    def __init__(self, words: str) -> None:
        super().__init__(words)
        self.words = words


class DecimalMark(Enum):
    """How the clinician's locale writes 37.5."""

    POINT = "."
    COMMA = ","


class DateOrder(Enum):
    """How the clinician's locale orders a numeric date such as 3/12."""

    MONTH_FIRST = "MDY"  # 3/12 is 12 March (United States)
    DAY_FIRST = "DMY"  # 3/12 is 3 December (most of the world)
    YEAR_FIRST = "YMD"


@dataclass(frozen=True)
class EntryContext:
    """What reading a typed entry may depend on besides the text."""

    today: date
    decimal_mark: DecimalMark = DecimalMark.POINT
    date_order: DateOrder = DateOrder.MONTH_FIRST
    read_date: Callable[[str, date], date | None] | None = None  # fuller reading (services)
    owners: tuple[OwnerCandidate, ...] = ()  # who a task can be given to


# ---------------------------------------------------------------- numbers

_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")
_GROUPED = re.compile(r"^\d{1,3}[.,]\d{3}$")  # 1,200 or 1.200: a thousands separator?


def parse_number(text: str, ctx: EntryContext) -> Decimal:
    """A decimal number as the clinician's locale writes it; a comma where the locale uses a
    point (or the reverse) is refused with the number to type instead."""
    raw = text.strip().replace("\u2212", "-")
    if not _NUMBER.match(raw):
        raise EntryRefused(f"“{text.strip()}” is not a number; type digits, for example 37.5.")
    point = ctx.decimal_mark is DecimalMark.POINT
    other = "," if point else "."
    if other in raw:
        if _GROUPED.match(raw.lstrip("+-")):
            whole = raw.replace(other, "")
            decimal_form = raw.replace(other, ctx.decimal_mark.value)
            raise EntryRefused(
                f"“{raw}”: type {whole} without a separator, or {decimal_form} for a decimal."
            )
        if point:
            raise EntryRefused(f"“{raw}”: type the decimal with a point: {raw.replace(',', '.')}.")
        raw = raw.replace(".", ",")  # a decimal point is unambiguous here: read it as a comma
    try:
        return Decimal(raw.replace(",", "."))
    except InvalidOperation as exc:  # pragma: no cover - the pattern above admits numbers only
        raise EntryRefused(f"“{text.strip()}” is not a number.") from exc


# ---------------------------------------------------------------- quantities

_QUANTITY = re.compile(r"^\s*([+\-\u2212]?[\d.,]+)\s*(.*?)\s*$")


def units_words(concept: Concept, terms: Terminology) -> str:
    """ "°C or °F", "bpm": the units of ``concept`` as clinicians write them."""
    shown = [terms.shown_unit(u, concept) or u for u in concept.units]
    return " or ".join(dict.fromkeys(shown))


def parse_quantity(
    text: str, concept: Concept | None, terms: Terminology, ctx: EntryContext
) -> tuple[Decimal, str | None]:
    """``98.6 F`` -> (98.6, "[degF]"); ``37,5`` -> (37.5, None: the unit is left as it was).
    An unknown unit is refused with the units the observation takes."""
    match = _QUANTITY.match(text)
    if match is None:
        example = f"37.5 {units_words(concept, terms)}" if concept else "37.5"
        raise EntryRefused(f"“{text.strip()}” is not a value; type a number, e.g. {example}.")
    value = parse_number(match.group(1), ctx)
    typed_unit = match.group(2)
    if not typed_unit:
        return value, None
    unit = terms.unit_for(typed_unit, concept)
    if unit is None:
        if concept is None:
            if terms.unit_for(typed_unit) is not None:
                return value, terms.unit_for(typed_unit)
            raise EntryRefused(f"“{typed_unit}” is not a unit the app knows; type e.g. mg/dL.")
        raise EntryRefused(
            f"“{typed_unit}” is not a unit for {concept.in_sentence}; "
            f"type {units_words(concept, terms)}."
        )
    return value, unit


def parse_unit(text: str, concept: Concept | None, terms: Terminology) -> str | None:
    """A unit typed on its own ("F", "lbs", "mmol/l"); None for an empty text."""
    if not text.strip():
        return None
    unit = terms.unit_for(text, concept)
    if unit is not None:
        return unit
    if concept is not None:
        raise EntryRefused(
            f"“{text.strip()}” is not a unit for {concept.in_sentence}; "
            f"type {units_words(concept, terms)}."
        )
    if " " in text.strip():
        raise EntryRefused(f"“{text.strip()}” is not a unit; type a UCUM unit such as mg/dL.")
    return text.strip()  # a code the app does not know: validation checks its shape


_PAIR = re.compile(r"^\s*([\d.,]+)\s*/\s*([\d.,]+)\s*([^\d\s].*)?$")


def parse_pair(
    text: str, ctx: EntryContext, what: str = "blood pressure"
) -> tuple[Decimal, Decimal]:
    """``142/88`` (a unit after it is ignored) -> (142, 88); ``142/`` is refused."""
    match = _PAIR.match(text)
    if match is None:
        raise EntryRefused(
            f"“{text.strip()}”: type the {what} as two numbers with a slash, e.g. 142/88."
        )
    return parse_number(match.group(1), ctx), parse_number(match.group(2), ctx)


# ---------------------------------------------------------------- owners


def _some_names(several: Sequence[OwnerCandidate], shown: int = 3) -> str:
    """ "2 people (A, B)", "4 people (A, B, C and 1 more)": every count said, no name hidden."""
    names = ", ".join(c.name for c in several[:shown])
    more = len(several) - shown
    return f"{len(several)} people ({names}{f' and {more} more' if more > 0 else ''})"


def pick_owner(text: str, ctx: EntryContext) -> Reference | None:
    """The owner ``text`` names: one of ``ctx.owners`` (by name, label or reference) or a
    reference typed out ("Practitioner/prac-2"). None for an empty text."""
    typed = text.strip()
    if not typed:
        return None
    found = find_owner(typed, ctx.owners)
    if found is not None:
        return found.as_owner()
    reference = Reference.parse(typed.split(" (")[0])
    if reference is not None and "/" in typed.split(" ")[0]:
        display = typed.partition(" (")[2].rstrip(")") or None
        return Reference(reference.resource_type, reference.id, display)
    several = candidates_matching(typed, ctx.owners)
    if several:
        raise EntryRefused(f"“{typed}” fits {_some_names(several)}; pick one from the list.")
    raise EntryRefused(
        f"No one called “{typed}” in this visit, the care team or the directory; "
        "type part of a name and pick from the list."
    )
