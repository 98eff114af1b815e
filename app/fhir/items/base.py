"""What a kind's FHIR mapping declares, and the JSON helpers the mappings share.

Each ``app/fhir/items/<kind key>.py`` defines ``MAPPING``, an :class:`ItemMapping`:

- ``to_fhir(item, ctx)``: the one resource an approved item is written as (mapping out);
- ``claims(resource)``: whether a resource (a payload the app built, or one read from the
  chart) is of this kind — Observation is claimed by observations and symptoms by category;
- ``from_fhir(resource)``: the chart resource as a domain item (mapping in: what is already in
  the chart), raising :class:`~app.fhir.errors.FhirMappingError` when it cannot be read;
- ``describe(payload)``: one sentence for the approval dialog and the outbox;
- ``corrected_status(before, after)``: the status a record of this kind gets when a follow-up
  corrects it in place (``corrected``/``amended`` for observations), or None to keep the
  status the mapping writes (app.fhir.corrections).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from app.domain.clinical import Coding, Reference
from app.domain.commit import URN_UUID_PREFIX, CommitInvalid
from app.domain.hidden_text import shown

JsonObject = dict[str, Any]
T = TypeVar("T")

OBS_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"


@dataclass(frozen=True)
class WriteContext:
    """What every item's resource refers to: the chart, the note, the approving clinician."""

    patient: Reference
    encounter: Reference
    clinician: JsonObject  # reference to the approving clinician (with display)
    note_id: str  # the note's write id: items point at it as urn:uuid
    approved_at: datetime

    @property
    def note_urn(self) -> JsonObject:
        return {"reference": f"{URN_UUID_PREFIX}{self.note_id}"}

    @property
    def when(self) -> str:
        return instant(self.approved_at)


@dataclass(frozen=True)
class ItemMapping(Generic[T]):
    """One kind's FHIR mapping (see the module docstring)."""

    kind_key: str
    to_fhir: Callable[[T, WriteContext], JsonObject]
    claims: Callable[[Mapping[str, Any]], bool]
    from_fhir: Callable[[Mapping[str, Any]], T]
    describe: Callable[[Mapping[str, Any]], str]
    corrected_status: Callable[[T, T], str | None] | None = None


# ---------------------------------------------------------------- writing JSON


def ref(reference: Reference, *, display: bool = True) -> JsonObject:
    out: JsonObject = {"reference": reference.relative}
    if display and reference.display and reference.display.strip():
        out["display"] = reference.display.strip()
    return out


def concept(coding: Coding) -> JsonObject:
    c = {k: v for k, v in (("system", coding.system), ("code", coding.code)) if v}
    if coding.display and coding.display.strip():
        c["display"] = coding.display.strip()
    return {"coding": [c]}


def instant(when: datetime) -> str:
    if when.tzinfo is None or when.utcoffset() is None:
        raise CommitInvalid("timestamps must be timezone-aware")
    return when.isoformat(timespec="seconds") if when.microsecond == 0 else when.isoformat()


def day(value: date) -> str:
    return value.isoformat()


MAX_EXACT_INT = 2**53


def number(value: Decimal, item_id: str) -> int | float:
    """A JSON number for a FHIR decimal (canonical JSON cannot hold Decimal)."""
    if not value.is_finite() or (value and abs(value.adjusted()) > 15):
        raise CommitInvalid(f"the value of item {item_id} is not a writable number")
    if value == value.to_integral_value() and abs(value) < MAX_EXACT_INT:
        return int(value)
    return float(value)


def has_category(resource: Mapping[str, Any], system: str, code: str) -> bool:
    for cc in resource.get("category") or []:
        if not isinstance(cc, Mapping):
            continue
        for c in cc.get("coding") or []:
            if isinstance(c, Mapping) and c.get("system") == system and c.get("code") == code:
                return True
    return False


# ---------------------------------------------------------------- reading JSON (words)


def who(reference: object) -> str:
    """Who or what a reference names, hidden (bidi, zero-width) characters made visible."""
    if not isinstance(reference, Mapping):
        return "unknown"
    return shown(str(reference.get("display") or reference.get("reference") or "unknown"))


def concept_words(cc: object, default: str = "unknown") -> str:
    if not isinstance(cc, Mapping):
        return default
    for c in cc.get("coding") or []:
        if isinstance(c, Mapping) and (c.get("display") or c.get("code")):
            return str(c.get("display") or c.get("code"))
    return str(cc.get("text") or default)


def time_words(value: object) -> str | None:
    """A FHIR date or dateTime as a clinician reads it: a time in the computer's time zone (like
    every time the app shows), a date as it is."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is None:
        return parsed.strftime("%Y-%m-%d %H:%M" if "T" in value else "%Y-%m-%d")
    return parsed.astimezone().strftime("%Y-%m-%d %H:%M")


def notes_of(resource: Mapping[str, Any]) -> str | None:
    """The texts of ``note`` (Annotation list) joined, or None."""
    texts = [
        str(n["text"]).strip()
        for n in resource.get("note") or []
        if isinstance(n, Mapping) and isinstance(n.get("text"), str) and n["text"].strip()
    ]
    return "\n".join(texts) or None
