"""FHIR (R4 / R4B JSON, tolerating R5-style shapes) -> the domain model.

Each resource is first checked against the fhir.resources R4B model (``conformance_problem``);
then the fields the app needs are read leniently from the JSON, so a resource that breaks a
rule the app does not depend on (an unknown code, an R5-style ``Encounter.class`` list) is still
shown, with a warning, while one that lacks what the app needs (an Observation without a code
or value) is skipped with a reason. Mappers raise only ``FhirMappingError``.

The write direction (domain -> FHIR per vendor profile) lives in ``mapping_out`` (issue 5).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from app.domain.clinical import (
    AdministrativeSex,
    Allergy,
    AllergyCriticality,
    Coding,
    EncounterStatus,
    EncounterSummary,
    Measurement,
    MeasurementComponent,
    MeasurementKind,
    Medication,
    NoteRelation,
    NoteSourceType,
    Participant,
    PatientSummary,
    PriorNote,
    Problem,
    ProblemStatus,
    Reference,
    bounded_decimal,
)
from app.domain.markup_text import html_to_text
from app.fhir.errors import FhirMappingError

JsonObject = Mapping[str, Any]
T = TypeVar("T")

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
MR_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"
MAX_NOTE_CHARS = 2_000_000

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
            for res in _list(container.get("contained") if container else None):
                if isinstance(res, Mapping) and res.get("id") == text[1:]:
                    return res
            return None
        parsed = Reference.parse(text)
        return None if parsed is None else self._by_key.get(parsed.relative)

    def resolve(self, ref: object, container: JsonObject | None = None) -> Reference | None:
        if not isinstance(ref, Mapping):
            return None
        display = _str(ref.get("display"))
        target = self.target(ref, container)
        if display is None and target is not None:
            display = display_of(target)
        text = ref.get("reference")
        if isinstance(text, str) and text.startswith("#"):
            rtype = _str(target.get("resourceType")) if target else None
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
            _str(resource.get("practitioner", {}).get("display"))
            if isinstance(resource.get("practitioner"), Mapping)
            else None
        )
    if rtype in ("Organization", "Location", "HealthcareService", "CareTeam", "Group"):
        return _str(resource.get("name"))
    if rtype == "Medication":
        return concept_text(resource.get("code"))
    if rtype == "Device":
        names = _list(resource.get("deviceName"))
        return _str(names[0].get("name")) if names and isinstance(names[0], Mapping) else None
    return None


def human_name(names: object) -> str | None:
    candidates = [n for n in _list(names) if isinstance(n, Mapping)]
    if not candidates:
        return None
    ranked = sorted(candidates, key=lambda n: {"official": 0, "usual": 1}.get(str(n.get("use")), 2))
    name = ranked[0]
    if _str(name.get("text")):
        return _str(name.get("text"))
    parts = [
        *[p for p in _list(name.get("prefix")) if isinstance(p, str)],
        *[g for g in _list(name.get("given")) if isinstance(g, str)],
        *([name["family"]] if isinstance(name.get("family"), str) else []),
        *[s for s in _list(name.get("suffix")) if isinstance(s, str)],
    ]
    return " ".join(p.strip() for p in parts if p.strip()) or None


# ---------------------------------------------------------------- resources


def map_patient(raw: JsonObject, *, mrn_system: str | None = None) -> PatientSummary:
    rid = _id(raw, "Patient")
    names = [n for n in _list(raw.get("name")) if isinstance(n, Mapping)]
    official = sorted(names, key=lambda n: {"official": 0, "usual": 1}.get(str(n.get("use")), 2))
    first = official[0] if official else {}
    given = tuple(g.strip() for g in _list(first.get("given")) if isinstance(g, str) and g.strip())
    family = _str(first.get("family"))
    display = _str(first.get("text")) or " ".join([*given, *([family] if family else [])]) or None
    deceased = raw.get("deceasedBoolean") is True or isinstance(raw.get("deceasedDateTime"), str)
    return PatientSummary(
        id=rid,
        name=display or "(no name recorded)",
        family=family,
        given=given,
        birth_date=parse_date(raw.get("birthDate")),
        sex=AdministrativeSex.parse(raw.get("gender")),
        mrn=_mrn(raw.get("identifier"), mrn_system),
        deceased=deceased,
    )


def _mrn(identifiers: object, mrn_system: str | None) -> str | None:
    ids = [i for i in _list(identifiers) if isinstance(i, Mapping) and _str(i.get("value"))]
    if mrn_system is not None:
        return next((_str(i["value"]) for i in ids if i.get("system") == mrn_system), None)
    for ident in ids:
        codings = (
            _list(ident.get("type", {}).get("coding"))
            if isinstance(ident.get("type"), Mapping)
            else []
        )
        if any(isinstance(c, Mapping) and c.get("code") == "MR" for c in codings):
            return _str(ident["value"])
    usual = next((i for i in ids if i.get("use") == "usual"), None)
    return _str(usual["value"]) if usual else None


def map_encounter(raw: JsonObject, refs: References | None = None) -> EncounterSummary:
    refs = refs or References()
    rid = _id(raw, "Encounter")
    raw_class = raw.get("class")
    if isinstance(raw_class, list):  # R5: class is a list of CodeableConcept
        class_code = next((coding_of(c) for c in raw_class if coding_of(c)), None)
    elif isinstance(raw_class, Mapping) and ("code" in raw_class or "display" in raw_class):
        class_code = Coding(
            _str(raw_class.get("system")),
            _str(raw_class.get("code")),
            _str(raw_class.get("display")),
        )
    else:
        class_code = coding_of(raw_class)
    raw_period = raw.get("period")
    period: Mapping[str, Any] = raw_period if isinstance(raw_period, Mapping) else {}
    participants: list[Participant] = []
    for p in _list(raw.get("participant")):
        if not isinstance(p, Mapping):
            continue
        who = refs.resolve(p.get("individual") or p.get("actor"), raw)  # R4 | R5
        if who is not None:
            role = next((concept_text(t) for t in _list(p.get("type")) if concept_text(t)), None)
            participants.append(Participant(who, role))
    locations = tuple(
        ref
        for loc in _list(raw.get("location"))
        if isinstance(loc, Mapping) and (ref := refs.resolve(loc.get("location"), raw)) is not None
    )
    reasons = [t for c in _list(raw.get("reasonCode")) if (t := concept_text(c))]
    reasons += [
        r.display
        for x in _list(raw.get("reasonReference"))
        if (r := refs.resolve(x, raw)) and r.display
    ]
    return EncounterSummary(
        id=rid,
        status=EncounterStatus.parse(raw.get("status")),
        class_code=class_code,
        types=tuple(t for c in _list(raw.get("type")) if (t := concept_text(c))),
        period_start=parse_instant(period.get("start")),
        period_end=parse_instant(period.get("end")),
        locations=locations,
        participants=tuple(participants),
        subject=refs.resolve(raw.get("subject"), raw),
        reasons=tuple(reasons),
        service_provider=refs.resolve(raw.get("serviceProvider"), raw),
    )


def map_condition(raw: JsonObject, refs: References | None = None) -> Problem:
    rid = _id(raw, "Condition")
    display = concept_text(raw.get("code"))
    if display is None:
        raise FhirMappingError("Condition", rid, "it has no code or text naming the problem")
    onset = parse_date(raw.get("onsetDateTime"))
    if onset is None and isinstance(raw.get("onsetPeriod"), Mapping):
        onset = parse_date(raw["onsetPeriod"].get("start"))
    return Problem(
        id=rid,
        display=display,
        code=coding_of(raw.get("code")),
        status=ProblemStatus.parse(status_code(raw.get("clinicalStatus"))),
        onset=onset,
        recorded=parse_date(raw.get("recordedDate")),
    )


def map_medication_request(raw: JsonObject, refs: References | None = None) -> Medication:
    refs = refs or References()
    rid = _id(raw, "MedicationRequest")
    concept = raw.get("medicationCodeableConcept")
    medication = raw.get("medication")
    if concept is None and isinstance(medication, Mapping):  # R5 CodeableReference
        concept = medication.get("concept")
    ref = raw.get("medicationReference") or (
        medication.get("reference") if isinstance(medication, Mapping) else None
    )
    display = concept_text(concept)
    code = coding_of(concept)
    if display is None and ref is not None:
        target = refs.target(ref, raw)
        if target is not None:
            display, code = concept_text(target.get("code")), coding_of(target.get("code"))
        display = display or (_str(ref.get("display")) if isinstance(ref, Mapping) else None)
    if display is None:
        raise FhirMappingError("MedicationRequest", rid, "it names no medication")
    dosage = "; ".join(
        t
        for d in _list(raw.get("dosageInstruction"))
        if isinstance(d, Mapping) and (t := _str(d.get("text")))
    )
    return Medication(
        id=rid,
        display=display,
        code=code,
        status=_str(raw.get("status")),
        dosage=dosage or None,
        authored_on=parse_date(raw.get("authoredOn")),
        requester=refs.resolve(raw.get("requester"), raw),
    )


def map_allergy(raw: JsonObject, refs: References | None = None) -> Allergy:
    rid = _id(raw, "AllergyIntolerance")
    display = concept_text(raw.get("code"))
    if display is None:
        raise FhirMappingError("AllergyIntolerance", rid, "it names no substance")
    reactions = [
        t
        for r in _list(raw.get("reaction"))
        if isinstance(r, Mapping)
        for m in _list(r.get("manifestation"))
        if (t := concept_text(m.get("concept") if isinstance(m, Mapping) and "concept" in m else m))
    ]
    categories = tuple(c for c in _list(raw.get("category")) if isinstance(c, str))
    return Allergy(
        id=rid,
        display=display,
        code=coding_of(raw.get("code")),
        clinical_status=status_code(raw.get("clinicalStatus")),
        criticality=AllergyCriticality.parse(raw.get("criticality")),
        categories=categories,
        reactions=tuple(dict.fromkeys(reactions)),
    )


def map_observation(
    raw: JsonObject, kind: MeasurementKind, refs: References | None = None
) -> Measurement:
    rid = _id(raw, "Observation")
    display = concept_text(raw.get("code"))
    if display is None:
        raise FhirMappingError(
            "Observation", rid, "it has no code or text naming what was measured"
        )
    value, unit, unit_text, value_text = _value(raw, rid)
    components: list[MeasurementComponent] = []
    for comp in _list(raw.get("component")):
        if not isinstance(comp, Mapping):
            continue
        c_display = concept_text(comp.get("code")) or "component"
        c_value, c_unit, c_unit_text, c_text = _value(comp, rid)
        components.append(
            MeasurementComponent(
                coding_of(comp.get("code"), LOINC), c_display, c_value, c_unit, c_text, c_unit_text
            )
        )
    if (
        value is None
        and value_text is None
        and not any(c.value is not None or c.value_text for c in components)
    ):
        raise FhirMappingError("Observation", rid, "it has no result value")
    effective = parse_instant(raw.get("effectiveDateTime")) or parse_instant(
        raw.get("effectiveInstant")
    )
    if effective is None and isinstance(raw.get("effectivePeriod"), Mapping):
        effective = parse_instant(raw["effectivePeriod"].get("start"))
    effective = effective or parse_instant(raw.get("issued"))
    interpretation = next(
        (t for c in _list(raw.get("interpretation")) if (t := concept_text(c))), None
    )
    return Measurement(
        id=rid,
        kind=kind,
        code=coding_of(raw.get("code"), LOINC),
        display=display,
        value=value,
        unit=unit,
        effective=effective,
        status=_str(raw.get("status")),
        value_text=value_text,
        components=tuple(components),
        interpretation=interpretation,
        unit_text=unit_text,
    )


def _value(raw: JsonObject, rid: str) -> tuple[Decimal | None, str | None, str | None, str | None]:
    """(value, UCUM unit code, unit text, value text) of an Observation or component."""
    quantity = raw.get("valueQuantity")
    if isinstance(quantity, Mapping):
        number = quantity.get("value")
        value = bounded_decimal(number) if not isinstance(number, str) else None
        if number is not None and value is None:
            raise FhirMappingError("Observation", rid, "valueQuantity.value is not a usable number")
        code = _str(quantity.get("code"))
        unit_text = _str(quantity.get("unit"))
        ucum = code if code and quantity.get("system") in (UCUM, None) else None
        if value is None:
            return None, None, None, _absent(raw) or "no value"
        return value, ucum or unit_text, unit_text or code, None
    for key in ("valueInteger", "valueDecimal"):
        if key in raw:
            value = bounded_decimal(raw[key]) if not isinstance(raw[key], str) else None
            if value is None:
                raise FhirMappingError("Observation", rid, f"{key} is not a usable number")
            return value, None, None, None
    if isinstance(raw.get("valueString"), str):
        return None, None, None, raw["valueString"][:500]
    if isinstance(raw.get("valueBoolean"), bool):
        return None, None, None, "yes" if raw["valueBoolean"] else "no"
    if isinstance(raw.get("valueCodeableConcept"), Mapping):
        return None, None, None, concept_text(raw["valueCodeableConcept"])
    if isinstance(raw.get("valueRange"), Mapping):
        low, high = raw["valueRange"].get("low"), raw["valueRange"].get("high")
        lo = bounded_decimal(low.get("value")) if isinstance(low, Mapping) else None
        hi = bounded_decimal(high.get("value")) if isinstance(high, Mapping) else None
        if lo is not None or hi is not None:
            return (
                None,
                None,
                None,
                f"{lo if lo is not None else ''}–{hi if hi is not None else ''}",
            )
    return None, None, None, _absent(raw)


def _absent(raw: JsonObject) -> str | None:
    reason = concept_text(raw.get("dataAbsentReason"))
    return f"not recorded ({reason})" if reason else None


def map_document_reference(raw: JsonObject, refs: References | None = None) -> PriorNote:
    refs = refs or References()
    rid = _id(raw, "DocumentReference")
    text, content_type, url = _attachment_text(raw, rid)
    context = raw.get("context")
    encounters: list[object] = []
    if isinstance(context, Mapping):  # R4: context.encounter[]
        encounters = _list(context.get("encounter"))
    elif isinstance(context, list):  # R5: context is a list of references
        encounters = context
    encounter = next(
        (r for e in encounters if (r := refs.resolve(e, raw)) and r.resource_type == "Encounter"),
        None,
    )
    relations = tuple(
        NoteRelation(str(rel.get("code") or "related"), target)
        for rel in _list(raw.get("relatesTo"))
        if isinstance(rel, Mapping) and (target := refs.resolve(rel.get("target"), raw)) is not None
    )
    type_display = concept_text(raw.get("type")) or _str(raw.get("description")) or "Clinical note"
    return PriorNote(
        id=rid,
        source_type=NoteSourceType.DOCUMENT_REFERENCE,
        version_id=_version(raw),
        type=coding_of(raw.get("type"), LOINC),
        type_display=type_display,
        date=parse_instant(raw.get("date")) or parse_instant(_meta(raw).get("lastUpdated")),
        authors=tuple(
            r for a in _list(raw.get("author")) if (r := refs.resolve(a, raw)) is not None
        ),
        status=_str(raw.get("status")),
        doc_status=_str(raw.get("docStatus")),
        description=_str(raw.get("description")),
        text=text,
        content_type=content_type,
        relates_to=relations,
        encounter=encounter,
        attachment_url=url,
        identifiers=identifier_tokens(raw.get("identifier")),
    )


def _attachment_text(raw: JsonObject, rid: str) -> tuple[str | None, str | None, str | None]:
    """(decoded text, content type, url) of the most readable attachment."""
    attachments = [
        c["attachment"]
        for c in _list(raw.get("content"))
        if isinstance(c, Mapping) and isinstance(c.get("attachment"), Mapping)
    ]
    if not attachments:
        raise FhirMappingError("DocumentReference", rid, "it has no content attachment")

    def rank(a: Mapping[str, Any]) -> int:
        ctype = str(a.get("contentType") or "").lower()
        return 0 if ctype.startswith("text/plain") else 1 if "html" in ctype else 2

    url = next((u for a in attachments if (u := _str(a.get("url")))), None)
    for att in sorted(attachments, key=rank):
        ctype = _str(att.get("contentType"))
        data = att.get("data")
        if not isinstance(data, str):
            continue
        if ctype and not (ctype.lower().startswith("text/") or "xml" in ctype.lower()):
            continue  # PDFs and images are not shown as text
        try:
            decoded = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise FhirMappingError(
                "DocumentReference", rid, "its attachment data is not valid base64"
            ) from None
        charset = "utf-8"
        match = re.search(r"charset=([\w.-]+)", ctype or "", re.I)
        if match:
            charset = match.group(1)
        try:
            text = decoded.decode(charset, errors="replace")
        except LookupError:
            text = decoded.decode("utf-8", errors="replace")
        return text[:MAX_NOTE_CHARS], ctype, url
    first = attachments[0]
    return None, _str(first.get("contentType")), url


def map_composition(raw: JsonObject, refs: References | None = None) -> PriorNote:
    refs = refs or References()
    rid = _id(raw, "Composition")
    parts: list[str] = []

    def walk(sections: object, depth: int) -> None:
        if depth > 10:
            return
        for s in _list(sections):
            if not isinstance(s, Mapping):
                continue
            title = _str(s.get("title"))
            div = s.get("text", {}).get("div") if isinstance(s.get("text"), Mapping) else None
            body = html_to_text(div) if isinstance(div, str) else ""
            if title or body:
                parts.append(f"{title}:\n{body}" if title else body)
            walk(s.get("section"), depth + 1)

    walk(raw.get("section"), 0)
    encounter_ref = refs.resolve(raw.get("encounter"), raw)
    return PriorNote(
        id=rid,
        source_type=NoteSourceType.COMPOSITION,
        version_id=_version(raw),
        type=coding_of(raw.get("type"), LOINC),
        type_display=concept_text(raw.get("type")) or _str(raw.get("title")) or "Clinical document",
        date=parse_instant(raw.get("date")),
        authors=tuple(
            r for a in _list(raw.get("author")) if (r := refs.resolve(a, raw)) is not None
        ),
        status=_str(raw.get("status")),
        doc_status=None,
        description=_str(raw.get("title")),
        text="\n\n".join(parts)[:MAX_NOTE_CHARS] if parts else None,
        content_type="text/plain",
        relates_to=tuple(
            NoteRelation(str(rel.get("code") or "related"), target)
            for rel in _list(raw.get("relatesTo"))
            if isinstance(rel, Mapping)
            and (
                target := refs.resolve(
                    rel.get("targetReference") or rel.get("resourceReference"), raw
                )
            )
            is not None
        ),
        encounter=encounter_ref
        if encounter_ref and encounter_ref.resource_type == "Encounter"
        else None,
        identifiers=identifier_tokens(raw.get("identifier")),
    )


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
    text = _str(cc.get("text"))
    if text:
        return text
    for c in _list(cc.get("coding")):
        if isinstance(c, Mapping) and (_str(c.get("display")) or _str(c.get("code"))):
            return _str(c.get("display")) or _str(c.get("code"))
    return None


def coding_of(cc: object, prefer_system: str | None = None) -> Coding | None:
    if not isinstance(cc, Mapping):
        return None
    codings = [c for c in _list(cc.get("coding")) if isinstance(c, Mapping) and _str(c.get("code"))]
    if not codings:
        return None
    chosen = next(
        (c for c in codings if prefer_system and c.get("system") == prefer_system), codings[0]
    )
    return Coding(_str(chosen.get("system")), _str(chosen.get("code")), _str(chosen.get("display")))


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


def _id(raw: JsonObject, rtype: str) -> str:
    rid = raw.get("id")
    if not isinstance(rid, str) or not rid.strip() or len(rid) > 64:
        raise FhirMappingError(rtype, None, "it has no usable id")
    return rid


def _version(raw: JsonObject) -> str | None:
    return _str(_meta(raw).get("versionId"))


def _meta(raw: JsonObject) -> Mapping[str, Any]:
    meta = raw.get("meta")
    return meta if isinstance(meta, Mapping) else {}


def _str(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
