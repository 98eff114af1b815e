"""How the app reads FHIR JSON: validation against the R4B models, references to included and
contained resources, and the small lenient readers every mapper uses (a value of the wrong shape
reads as missing, never as an exception). Mappers run under :func:`guarded`, so hostile content
can only ever become a ``FhirMappingError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from app.domain.clinical import Coding, Reference
from app.fhir.errors import FhirMappingError

JsonObject = Mapping[str, Any]
T = TypeVar("T")

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


# ---------------------------------------------------------------- validation


def conformance_problem(raw: JsonObject) -> str | None:
    """None when ``raw`` validates as its FHIR R4B model, else a short reason (element path
    and rule; never the element's value)."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    rtype = raw.get("resourceType")
    try:
        model = get_fhir_model_class(str(rtype))
    except (KeyError, ValueError, AttributeError):
        return f"unknown resource type {str(rtype)[:40]!r}"
    try:
        model.model_validate(dict(raw))
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        first = errors[0] if errors else {"loc": (), "msg": "invalid"}
        where = ".".join(str(p) for p in first["loc"] if p != "__root__") or str(rtype)
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return f"{where}: {str(first['msg'])[:120]}{more}"
    except Exception as exc:  # fhir.resources raises assorted errors on odd input
        return f"could not be validated ({type(exc).__name__})"
    return None


CONTEXT_TYPES = (
    "Patient",
    "Encounter",
    "Condition",
    "MedicationRequest",
    "AllergyIntolerance",
    "Observation",
    "DocumentReference",
    "Composition",
)


def preload_models() -> None:
    """Import the R4B models the context load validates against (about half a second on a
    cold start). Call it once in a worker thread at start-up so the first chart opens fast."""
    from fhir.resources.R4B import get_fhir_model_class

    for rtype in CONTEXT_TYPES:
        get_fhir_model_class(rtype)


# ---------------------------------------------------------------- references


class References:
    """Resolves references to included (``_include``) and contained resources, for displays."""

    def __init__(self, included: Iterable[JsonObject] = ()) -> None:
        self._by_key: dict[str, JsonObject] = {}
        for res in included:
            rtype, rid = res.get("resourceType"), res.get("id")
            if isinstance(rtype, str) and isinstance(rid, str):
                self._by_key[f"{rtype}/{rid}"] = res

    def resources(self) -> list[JsonObject]:
        return list(self._by_key.values())

    def add(self, resources: Iterable[JsonObject]) -> None:
        for res in resources:
            rtype, rid = res.get("resourceType"), res.get("id")
            if isinstance(rtype, str) and isinstance(rid, str):
                self._by_key.setdefault(f"{rtype}/{rid}", res)

    def target(self, ref: object, container: JsonObject | None = None) -> JsonObject | None:
        if not isinstance(ref, Mapping) or not isinstance(ref.get("reference"), str):
            return None
        text: str = ref["reference"]
        if text.startswith("#"):
            for res in list_of(container.get("contained") if container else None):
                if isinstance(res, Mapping) and res.get("id") == text[1:]:
                    return res
            return None
        parsed = Reference.parse(text)
        return None if parsed is None else self._by_key.get(parsed.relative)

    def resolve(self, ref: object, container: JsonObject | None = None) -> Reference | None:
        if not isinstance(ref, Mapping):
            return None
        display = text_of(ref.get("display"))
        target = self.target(ref, container)
        if display is None and target is not None:
            display = display_of(target)
        text = ref.get("reference")
        if isinstance(text, str) and text.startswith("#"):
            rtype = text_of(target.get("resourceType")) if target else None
            return Reference(rtype or "contained", text, display)
        parsed = Reference.parse(text) if isinstance(text, str) else None
        if parsed is None:
            if display is None:
                return None
            return Reference("unknown", "", display)  # display-only reference
        return Reference(parsed.resource_type, parsed.id, display)


def display_of(resource: JsonObject) -> str | None:
    rtype = resource.get("resourceType")
    if rtype in ("Practitioner", "Patient", "RelatedPerson", "Person"):
        return human_name(resource.get("name"))
    if rtype == "PractitionerRole":
        return (
            text_of(resource.get("practitioner", {}).get("display"))
            if isinstance(resource.get("practitioner"), Mapping)
            else None
        )
    if rtype in ("Organization", "Location", "HealthcareService", "CareTeam", "Group"):
        return text_of(resource.get("name"))
    if rtype == "Medication":
        return concept_text(resource.get("code"))
    if rtype == "Device":
        names = list_of(resource.get("deviceName"))
        return text_of(names[0].get("name")) if names and isinstance(names[0], Mapping) else None
    return None


def human_name(names: object) -> str | None:
    candidates = [n for n in list_of(names) if isinstance(n, Mapping)]
    if not candidates:
        return None
    ranked = sorted(candidates, key=lambda n: {"official": 0, "usual": 1}.get(str(n.get("use")), 2))
    name = ranked[0]
    if text_of(name.get("text")):
        return text_of(name.get("text"))
    parts = [
        *[p for p in list_of(name.get("prefix")) if isinstance(p, str)],
        *[g for g in list_of(name.get("given")) if isinstance(g, str)],
        *([name["family"]] if isinstance(name.get("family"), str) else []),
        *[s for s in list_of(name.get("suffix")) if isinstance(s, str)],
    ]
    return " ".join(p.strip() for p in parts if p.strip()) or None


def identifier_tokens(value: object) -> tuple[str, ...]:
    """``system|value`` of each Identifier (a list, or a single one as in Composition)."""
    found = value if isinstance(value, list) else [value]
    return tuple(
        f"{i.get('system') or ''}|{i['value']}"
        for i in found
        if isinstance(i, Mapping) and isinstance(i.get("value"), str)
    )


def guarded(resource_type: str, raw: JsonObject, mapper: Callable[[], T]) -> T:
    """Run ``mapper``; any unexpected exception becomes a FhirMappingError (the only error a
    mapper may raise, so hostile content can never crash the context load)."""
    try:
        return mapper()
    except FhirMappingError:
        raise
    except (
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        ArithmeticError,
        RecursionError,
        IndexError,
    ) as exc:
        rid = raw.get("id") if isinstance(raw.get("id"), str) else None
        raise FhirMappingError(
            resource_type, rid, f"unexpected content ({type(exc).__name__})"
        ) from None


# ---------------------------------------------------------------- small readers


def concept_text(cc: object) -> str | None:
    if not isinstance(cc, Mapping):
        return None
    text = text_of(cc.get("text"))
    if text:
        return text
    for c in list_of(cc.get("coding")):
        if isinstance(c, Mapping) and (text_of(c.get("display")) or text_of(c.get("code"))):
            return text_of(c.get("display")) or text_of(c.get("code"))
    return None


def coding_of(cc: object, prefer_system: str | None = None) -> Coding | None:
    if not isinstance(cc, Mapping):
        return None
    codings = [
        c for c in list_of(cc.get("coding")) if isinstance(c, Mapping) and text_of(c.get("code"))
    ]
    if not codings:
        return None
    chosen = next(
        (c for c in codings if prefer_system and c.get("system") == prefer_system), codings[0]
    )
    return Coding(
        text_of(chosen.get("system")), text_of(chosen.get("code")), text_of(chosen.get("display"))
    )


def status_code(cc: object) -> str | None:
    """The code of a status CodeableConcept (R4) or a plain code string (older shapes)."""
    if isinstance(cc, str):
        return cc
    coding = coding_of(cc)
    return coding.code if coding else None


def parse_date(value: object) -> date | None:
    """FHIR date or dateTime -> date (partial dates: first day of the period)."""
    if not isinstance(value, str):
        return None
    match = _DATE.match(value.strip())
    if match:
        year, month, day = match.group(1), match.group(2) or "01", match.group(3) or "01"
        try:
            return date(int(year), int(month), int(day))
        except ValueError:
            return None
    instant = parse_instant(value)
    return instant.date() if instant else None


def parse_instant(value: object) -> datetime | None:
    """FHIR dateTime/instant -> tz-aware UTC datetime (dates: midnight UTC; no zone: UTC)."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    text = value.strip()
    if _DATE.match(text):
        d = parse_date(text)
        return datetime(d.year, d.month, d.day, tzinfo=UTC) if d else None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def resource_id(raw: JsonObject, rtype: str) -> str:
    """The resource's id (FhirMappingError when it has none the app can use)."""
    rid = raw.get("id")
    if not isinstance(rid, str) or not rid.strip() or len(rid) > 64:
        raise FhirMappingError(rtype, None, "it has no usable id")
    return rid


def version_of(raw: JsonObject) -> str | None:
    return text_of(meta_of(raw).get("versionId"))


def meta_of(raw: JsonObject) -> Mapping[str, Any]:
    meta = raw.get("meta")
    return meta if isinstance(meta, Mapping) else {}


def text_of(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def list_of(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
