"""FHIR (R4 / R4B JSON, tolerating R5-style shapes) -> the domain model.

Each resource is first checked against the fhir.resources R4B model
(``app.fhir.fhir_reading.conformance_problem``);
then the fields the app needs are read leniently from the JSON, so a resource that breaks a
rule the app does not depend on (an unknown code, an R5-style ``Encounter.class`` list) is still
shown, with a warning, while one that lacks what the app needs (an Observation without a code
or value) is skipped with a reason. Mappers raise only ``FhirMappingError``.

The write direction (domain -> FHIR per vendor profile) lives in ``mapping_out``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

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
    bounded_decimal,
)
from app.domain.markup_text import html_to_text
from app.fhir.errors import FhirMappingError
from app.fhir.fhir_reading import (
    JsonObject,
    References,
    coding_of,
    concept_text,
    identifier_tokens,
    list_of,
    meta_of,
    parse_date,
    parse_instant,
    resource_id,
    status_code,
    text_of,
    version_of,
)

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
MR_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"
MAX_NOTE_CHARS = 2_000_000


# ---------------------------------------------------------------- resources


def map_patient(raw: JsonObject, *, mrn_system: str | None = None) -> PatientSummary:
    rid = resource_id(raw, "Patient")
    names = [n for n in list_of(raw.get("name")) if isinstance(n, Mapping)]
    official = sorted(names, key=lambda n: {"official": 0, "usual": 1}.get(str(n.get("use")), 2))
    first = official[0] if official else {}
    given = tuple(
        g.strip() for g in list_of(first.get("given")) if isinstance(g, str) and g.strip()
    )
    family = text_of(first.get("family"))
    display = (
        text_of(first.get("text")) or " ".join([*given, *([family] if family else [])]) or None
    )
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
    ids = [i for i in list_of(identifiers) if isinstance(i, Mapping) and text_of(i.get("value"))]
    if mrn_system is not None:
        return next((text_of(i["value"]) for i in ids if i.get("system") == mrn_system), None)
    for ident in ids:
        codings = (
            list_of(ident.get("type", {}).get("coding"))
            if isinstance(ident.get("type"), Mapping)
            else []
        )
        if any(isinstance(c, Mapping) and c.get("code") == "MR" for c in codings):
            return text_of(ident["value"])
    usual = next((i for i in ids if i.get("use") == "usual"), None)
    return text_of(usual["value"]) if usual else None


def map_encounter(raw: JsonObject, refs: References | None = None) -> EncounterSummary:
    refs = refs or References()
    rid = resource_id(raw, "Encounter")
    raw_class = raw.get("class")
    if isinstance(raw_class, list):  # R5: class is a list of CodeableConcept
        class_code = next((coding_of(c) for c in raw_class if coding_of(c)), None)
    elif isinstance(raw_class, Mapping) and ("code" in raw_class or "display" in raw_class):
        class_code = Coding(
            text_of(raw_class.get("system")),
            text_of(raw_class.get("code")),
            text_of(raw_class.get("display")),
        )
    else:
        class_code = coding_of(raw_class)
    raw_period = raw.get("period")
    period: Mapping[str, Any] = raw_period if isinstance(raw_period, Mapping) else {}
    participants: list[Participant] = []
    for p in list_of(raw.get("participant")):
        if not isinstance(p, Mapping):
            continue
        who = refs.resolve(p.get("individual") or p.get("actor"), raw)  # R4 | R5
        if who is not None:
            role = next((concept_text(t) for t in list_of(p.get("type")) if concept_text(t)), None)
            participants.append(Participant(who, role))
    locations = tuple(
        ref
        for loc in list_of(raw.get("location"))
        if isinstance(loc, Mapping) and (ref := refs.resolve(loc.get("location"), raw)) is not None
    )
    reasons = [t for c in list_of(raw.get("reasonCode")) if (t := concept_text(c))]
    reasons += [
        r.display
        for x in list_of(raw.get("reasonReference"))
        if (r := refs.resolve(x, raw)) and r.display
    ]
    return EncounterSummary(
        id=rid,
        status=EncounterStatus.parse(raw.get("status")),
        class_code=class_code,
        types=tuple(t for c in list_of(raw.get("type")) if (t := concept_text(c))),
        period_start=parse_instant(period.get("start")),
        period_end=parse_instant(period.get("end")),
        locations=locations,
        participants=tuple(participants),
        subject=refs.resolve(raw.get("subject"), raw),
        reasons=tuple(reasons),
        service_provider=refs.resolve(raw.get("serviceProvider"), raw),
    )


def map_condition(raw: JsonObject, refs: References | None = None) -> Problem:
    rid = resource_id(raw, "Condition")
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
    rid = resource_id(raw, "MedicationRequest")
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
        display = display or (text_of(ref.get("display")) if isinstance(ref, Mapping) else None)
    if display is None:
        raise FhirMappingError("MedicationRequest", rid, "it names no medication")
    dosage = "; ".join(
        t
        for d in list_of(raw.get("dosageInstruction"))
        if isinstance(d, Mapping) and (t := text_of(d.get("text")))
    )
    return Medication(
        id=rid,
        display=display,
        code=code,
        status=text_of(raw.get("status")),
        dosage=dosage or None,
        authored_on=parse_date(raw.get("authoredOn")),
        requester=refs.resolve(raw.get("requester"), raw),
    )


def map_allergy(raw: JsonObject, refs: References | None = None) -> Allergy:
    rid = resource_id(raw, "AllergyIntolerance")
    display = concept_text(raw.get("code"))
    if display is None:
        raise FhirMappingError("AllergyIntolerance", rid, "it names no substance")
    reactions = [
        t
        for r in list_of(raw.get("reaction"))
        if isinstance(r, Mapping)
        for m in list_of(r.get("manifestation"))
        if (t := concept_text(m.get("concept") if isinstance(m, Mapping) and "concept" in m else m))
    ]
    categories = tuple(c for c in list_of(raw.get("category")) if isinstance(c, str))
    return Allergy(
        id=rid,
        display=display,
        code=coding_of(raw.get("code")),
        clinical_status=status_code(raw.get("clinicalStatus")),
        criticality=AllergyCriticality.parse(raw.get("criticality")),
        categories=categories,
        reactions=tuple(dict.fromkeys(reactions)),
    )


def observation_effective(raw: JsonObject) -> datetime | None:
    """When an Observation was made: its effective[x] (a period's start), else when it was
    issued. The chart's order (the newest first) is by this."""
    effective = parse_instant(raw.get("effectiveDateTime")) or parse_instant(
        raw.get("effectiveInstant")
    )
    if effective is None and isinstance(raw.get("effectivePeriod"), Mapping):
        effective = parse_instant(raw["effectivePeriod"].get("start"))
    return effective or parse_instant(raw.get("issued"))


def map_observation(
    raw: JsonObject, kind: MeasurementKind, refs: References | None = None
) -> Measurement:
    rid = resource_id(raw, "Observation")
    display = concept_text(raw.get("code"))
    if display is None:
        raise FhirMappingError(
            "Observation", rid, "it has no code or text naming what was measured"
        )
    value, unit, unit_text, value_text = _value(raw, rid)
    components: list[MeasurementComponent] = []
    for comp in list_of(raw.get("component")):
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
    effective = observation_effective(raw)
    interpretation = next(
        (t for c in list_of(raw.get("interpretation")) if (t := concept_text(c))), None
    )
    return Measurement(
        id=rid,
        kind=kind,
        code=coding_of(raw.get("code"), LOINC),
        display=display,
        value=value,
        unit=unit,
        effective=effective,
        status=text_of(raw.get("status")),
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
        code = text_of(quantity.get("code"))
        unit_text = text_of(quantity.get("unit"))
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
    rid = resource_id(raw, "DocumentReference")
    text, content_type, url = _attachment_text(raw, rid)
    context = raw.get("context")
    encounters: list[object] = []
    if isinstance(context, Mapping):  # R4: context.encounter[]
        encounters = list_of(context.get("encounter"))
    elif isinstance(context, list):  # R5: context is a list of references
        encounters = context
    encounter = next(
        (r for e in encounters if (r := refs.resolve(e, raw)) and r.resource_type == "Encounter"),
        None,
    )
    relations = tuple(
        NoteRelation(str(rel.get("code") or "related"), target)
        for rel in list_of(raw.get("relatesTo"))
        if isinstance(rel, Mapping) and (target := refs.resolve(rel.get("target"), raw)) is not None
    )
    type_display = (
        concept_text(raw.get("type")) or text_of(raw.get("description")) or "Clinical note"
    )
    return PriorNote(
        id=rid,
        source_type=NoteSourceType.DOCUMENT_REFERENCE,
        version_id=version_of(raw),
        type=coding_of(raw.get("type"), LOINC),
        type_display=type_display,
        date=parse_instant(raw.get("date")) or parse_instant(meta_of(raw).get("lastUpdated")),
        authors=tuple(
            r for a in list_of(raw.get("author")) if (r := refs.resolve(a, raw)) is not None
        ),
        status=text_of(raw.get("status")),
        doc_status=text_of(raw.get("docStatus")),
        description=text_of(raw.get("description")),
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
        for c in list_of(raw.get("content"))
        if isinstance(c, Mapping) and isinstance(c.get("attachment"), Mapping)
    ]
    if not attachments:
        raise FhirMappingError("DocumentReference", rid, "it has no content attachment")

    def rank(a: Mapping[str, Any]) -> int:
        ctype = str(a.get("contentType") or "").lower()
        return 0 if ctype.startswith("text/plain") else 1 if "html" in ctype else 2

    url = next((u for a in attachments if (u := text_of(a.get("url")))), None)
    for att in sorted(attachments, key=rank):
        ctype = text_of(att.get("contentType"))
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
    return None, text_of(first.get("contentType")), url


def map_composition(raw: JsonObject, refs: References | None = None) -> PriorNote:
    refs = refs or References()
    rid = resource_id(raw, "Composition")
    parts: list[str] = []

    def walk(sections: object, depth: int) -> None:
        if depth > 10:
            return
        for s in list_of(sections):
            if not isinstance(s, Mapping):
                continue
            title = text_of(s.get("title"))
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
        version_id=version_of(raw),
        type=coding_of(raw.get("type"), LOINC),
        type_display=concept_text(raw.get("type"))
        or text_of(raw.get("title"))
        or "Clinical document",
        date=parse_instant(raw.get("date")),
        authors=tuple(
            r for a in list_of(raw.get("author")) if (r := refs.resolve(a, raw)) is not None
        ),
        status=text_of(raw.get("status")),
        doc_status=None,
        description=text_of(raw.get("title")),
        text="\n\n".join(parts)[:MAX_NOTE_CHARS] if parts else None,
        content_type="text/plain",
        relates_to=tuple(
            NoteRelation(str(rel.get("code") or "related"), target)
            for rel in list_of(raw.get("relatesTo"))
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
