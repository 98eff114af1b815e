"""Small pieces the item kinds share: values <-> draft-body JSON, values <-> editor cell text,
and the checks more than one kind makes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

from app.domain.clinical import Coding, Reference
from app.domain.clock import format_ts, parse_ts
from app.domain.entry import EntryContext, pick_owner
from app.domain.validation_problems import ProblemKind, ValidationProblem, error

E = TypeVar("E", bound=Enum)

# ---------------------------------------------------------------- draft-body JSON


def instant_json(ts: datetime | None) -> str | None:
    """The store's text of an instant (app.domain.clock.format_ts)."""
    return None if ts is None else format_ts(ts)


def instant_from(text: object) -> datetime | None:
    return None if text is None else parse_ts(str(text))


def day_json(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def day_from(text: object) -> date | None:
    return None if text is None else date.fromisoformat(str(text))


def decimal_json(value: Decimal | None) -> str | None:
    return None if value is None else str(value)  # strings: no float drift


def decimal_from(text: object) -> Decimal | None:
    return None if text is None else Decimal(str(text))


def ref_json(ref: Reference | None) -> dict[str, Any] | None:
    return (
        None if ref is None else {"type": ref.resource_type, "id": ref.id, "display": ref.display}
    )


def ref_from(data: Mapping[str, Any] | None) -> Reference | None:
    return None if data is None else Reference(data["type"], data["id"], data.get("display"))


def coding_json(coding: Coding | None) -> dict[str, Any] | None:
    if coding is None:
        return None
    return {"system": coding.system, "code": coding.code, "display": coding.display}


def coding_from(data: Mapping[str, Any] | None) -> Coding | None:
    if data is None:
        return None
    return Coding(data.get("system"), data.get("code"), data.get("display"))


# ---------------------------------------------------------------- editor cell text


def cell_text(value: object) -> str:
    """How a value reads in an editor cell (and, for references, how it is typed back)."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Reference):
        return value.relative + (f" ({value.display})" if value.display else "")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def person_cell(ref: Reference | None) -> str:
    """A task owner or message recipient as the clinician reads it: the name ("Dr. Kim Lee");
    the reference only when the EHR gave no name."""
    if ref is None:
        return ""
    return ref.display or ref.relative


def enter_person(current: Reference | None, text: str, ctx: EntryContext) -> Reference | None:
    """The person ``text`` names (see :func:`app.domain.entry.pick_owner`); the same text as the
    cell shows keeps the person it shows."""
    if text.strip() == person_cell(current).strip():
        return current
    return pick_owner(text, ctx)


def parse_reference(text: str) -> Reference | None:
    """``Practitioner/prac-2`` or ``Practitioner/prac-2 (Dr. Lee)``; None for anything else."""
    text = text.strip()
    if not text:
        return None
    display = None
    if "(" in text and text.endswith(")"):
        text, _, rest = text.partition("(")
        display = rest[:-1].strip() or None
    return Reference.parse(text.strip(), display)


def parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def parse_choice(enum: type[E], text: str, default: E) -> E:
    """The member whose value is ``text`` (any case, surrounding spaces ignored), else default."""
    wanted = text.strip().lower()
    return next((m for m in enum if m.value == wanted), default)


def optional_text(text: str) -> str | None:
    return text.strip() or None


def format_number(value: Decimal) -> str:
    """``96``, ``37.2``: a value as a clinician writes it (no exponent, no trailing zeros)."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# ---------------------------------------------------------------- shared checks


def check_not_other_patient(
    path: str, ref: Reference, patient: Reference, what: str
) -> Iterable[ValidationProblem]:
    if ref.resource_type == "Patient" and not ref.same_target(patient):
        yield error(
            path,
            ProblemKind.WRONG_PATIENT,
            f"The {what} is another patient ({ref.relative}); choose someone on the care team.",
        )
