"""Which search finds the server copy of a write: every parameter the app knows and the EHR
allows, pure (no I/O).

Epic- and Oracle-like EHRs refuse a search of patient data that does not name the patient
(400), and some declare the parameters they require together (the CapabilityStatement's
``capabilitystatement-search-parameter-combination`` extension). So a reconciliation search is

- the write identifier (``identifier``, or ``_tag`` for Provenance), always;
- the patient, whenever the server declares ``patient`` (or ``subject``) for the type — an
  exact reference the write itself carries, so it cannot hide a copy;
- whatever a declared combination requires beyond that, from the write itself: the encounter,
  the type or code, the category, a date window of a day either side of the write's date.

A combination the write cannot fill (a required parameter whose value it does not carry) is
not usable; when the server declares combinations and none is usable, the write cannot be
searched reliably (None): a person decides rather than the app guessing "absent".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from app.domain.commit import PlannedWrite

Params = tuple[tuple[str, str], ...]


def search_params(
    write: PlannedWrite,
    declared: frozenset[str] | None,
    combinations: tuple[frozenset[str], ...] = (),
) -> Params | None:
    """The search for ``write``'s server copy, or None when no allowed search can be built.
    ``declared``: the type's search parameters (None: the server lists none)."""
    payload = write.payload()
    identifier = write.search_param
    params: dict[str, str] = {identifier[0]: identifier[1]}
    patient = _patient_param(payload, declared)
    if patient is not None:
        params[patient[0]] = patient[1]
    if not combinations:
        return tuple(params.items())
    usable: list[dict[str, str]] = []
    for combination in sorted(combinations, key=len):
        filled = {name: _value(name, payload, params) for name in combination}
        if all(v is not None for v in filled.values()):
            usable.append({k: v for k, v in filled.items() if v is not None})
    if not usable:
        return None
    extra = usable[0]
    out = list(params.items())
    for name, value in extra.items():
        if name == "date":
            out += [("date", f"ge{_day(value, -1)}"), ("date", f"le{_day(value, 1)}")]
        elif name not in params:
            out.append((name, value))
    return tuple(out)


def _patient_param(
    payload: Mapping[str, Any], declared: frozenset[str] | None
) -> tuple[str, str] | None:
    reference = _patient_reference(payload)
    if reference is None or declared is None:
        return None
    for name in ("patient", "subject"):
        if name in declared:
            return name, reference
    return None


def _patient_reference(payload: Mapping[str, Any]) -> str | None:
    for element in ("subject", "for", "patient"):
        ref = _ref(payload.get(element))
        if ref is not None and ref.startswith("Patient/"):
            return ref
    return None


def _ref(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    reference = value.get("reference") if isinstance(value, Mapping) else None
    return reference if isinstance(reference, str) and reference else None


def _coding(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    codings = value.get("coding") if isinstance(value, Mapping) else None
    first = codings[0] if isinstance(codings, list) and codings else None
    if not isinstance(first, Mapping) or not isinstance(first.get("code"), str):
        return None
    system = first.get("system")
    return f"{system}|{first['code']}" if isinstance(system, str) else str(first["code"])


def _encounter(payload: Mapping[str, Any]) -> str | None:
    context = payload.get("context")
    if isinstance(context, Mapping):  # DocumentReference.context.encounter
        return _ref(context.get("encounter"))
    return _ref(payload.get("encounter")) or _ref(context)  # MedicationStatement.context


def _date(payload: Mapping[str, Any]) -> str | None:
    for element in ("date", "effectiveDateTime", "authoredOn", "sent", "recorded", "issued"):
        value = payload.get(element)
        if isinstance(value, str) and len(value) >= 10:
            return value
    return None


_VALUES: dict[str, Callable[[Mapping[str, Any]], str | None]] = {
    "patient": _patient_reference,
    "subject": _patient_reference,
    "encounter": _encounter,
    "type": lambda p: _coding(p.get("type")),
    "code": lambda p: _coding(p.get("code")),
    "category": lambda p: _coding(p.get("category")),
    "date": _date,
}


def _value(name: str, payload: Mapping[str, Any], known: Mapping[str, str]) -> str | None:
    if name in known:
        return known[name]
    reader = _VALUES.get(name)
    return reader(payload) if reader is not None else None


def _day(value: str, offset: int) -> str:
    """The date ``offset`` days from the date of ``value`` (an instant or a date)."""
    try:
        day = datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        day = date.fromisoformat(value[:10])
    return (day + timedelta(days=offset)).isoformat()
