"""Validation of structured items: observations (LOINC, value, UCUM unit), tasks, messages."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from app.domain.clinical import Reference
from app.domain.draft import MessageItem, ObservationItem, TaskItem
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

MAX_DECIMAL_PLACES = 6
FUTURE_TOLERANCE = timedelta(minutes=5)  # clock skew between laptop and EHR


def check_observation(item: ObservationItem, now: datetime | None) -> Iterable[ValidationProblem]:
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
        elif now is not None and item.effective > now + FUTURE_TOLERANCE:
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


def check_blood_pressure(observations: list[ObservationItem]) -> Iterable[ValidationProblem]:
    systolic = [o for o in observations if o.loinc_code == "8480-6" and o.value is not None]
    diastolic = [o for o in observations if o.loinc_code == "8462-4" and o.value is not None]
    if len(systolic) == 1 and len(diastolic) == 1:
        s, d = systolic[0], diastolic[0]
        if s.value is not None and d.value is not None and s.value <= d.value:
            yield warning(
                f"item:{d.item_id}:value",
                ProblemKind.INCONSISTENT_VALUES,
                "The diastolic pressure is not lower than the systolic; check both values.",
            )


# ----------------------------------------------------------------------------- tasks, messages


def check_task(item: TaskItem, patient: Reference) -> Iterable[ValidationProblem]:
    base = f"item:{item.item_id}"
    if not item.description.strip():
        yield error(
            f"{base}:description",
            ProblemKind.TASK_INCOMPLETE,
            "Describe the follow-up task (what should be done).",
        )
    else:
        yield from check_text(
            f"{base}:description", "The task description", item.description, MAX_ITEM_TEXT_CHARS
        )
    if item.owner is None:
        yield error(
            f"{base}:owner",
            ProblemKind.TASK_INCOMPLETE,
            "Choose who owns the follow-up task (a person, role or team).",
        )
    else:
        yield from _check_other_patient(f"{base}:owner", item.owner, patient, "task owner")
    if item.status is None:  # defensive: a draft file could carry none
        yield error(f"{base}:status", ProblemKind.TASK_INCOMPLETE, "Choose a status for the task.")


def check_message(item: MessageItem, patient: Reference) -> Iterable[ValidationProblem]:
    base = f"item:{item.item_id}"
    if item.recipient is None:
        yield error(
            f"{base}:recipient",
            ProblemKind.MESSAGE_INCOMPLETE,
            "Choose who receives the message to the care team.",
        )
    else:
        yield from _check_other_patient(f"{base}:recipient", item.recipient, patient, "recipient")
    if not item.text.strip():
        yield error(
            f"{base}:text", ProblemKind.MESSAGE_INCOMPLETE, "Write the message to the care team."
        )
    else:
        yield from check_text(f"{base}:text", "The message", item.text, MAX_ITEM_TEXT_CHARS)


def _check_other_patient(
    path: str, ref: Reference, patient: Reference, what: str
) -> Iterable[ValidationProblem]:
    if ref.resource_type == "Patient" and not ref.same_target(patient):
        yield error(
            path,
            ProblemKind.WRONG_PATIENT,
            f"The {what} is another patient ({ref.relative}); choose someone on the care team.",
        )
