"""Patient-reported symptoms: what the patient says they have, how bad it is and since when;
written as an Observation with category ``survey`` (SNOMED CT code where the app knows the
symptom, the patient as performer). Why not QuestionnaireResponse: see docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from enum import Enum
from typing import Any

from app.domain.clinical import Coding
from app.domain.items.kind import (
    CodecPart,
    Column,
    ImportField,
    ImportPart,
    ImportReader,
    ItemCheck,
    ItemKind,
    KindWords,
    NoteRole,
    new_item_id,
)
from app.domain.items.parts import (
    cell_text,
    coding_from,
    coding_json,
    day_from,
    day_json,
    optional_text,
    parse_date,
)
from app.domain.validation_problems import (
    MAX_ITEM_TEXT_CHARS,
    ProblemKind,
    ValidationProblem,
    check_text,
    error,
)

SNOMED = "http://snomed.info/sct"

# Symptoms the app can code (SNOMED CT clinical findings); anything else is written as text.
_SNOMED_SYMPTOMS = (
    ("25064002", "Headache"),
    ("49727002", "Cough"),
    ("84229001", "Fatigue"),
    ("422587007", "Nausea"),
    ("422400008", "Vomiting"),
    ("62315008", "Diarrhea"),
    ("386661006", "Fever"),
    ("404640003", "Dizziness"),
    ("267036007", "Shortness of breath"),
    ("29857009", "Chest pain"),
    ("21522001", "Abdominal pain"),
    ("161891005", "Back pain"),
    ("57676002", "Joint pain"),
    ("162397003", "Sore throat"),
)
KNOWN_SYMPTOMS: dict[str, Coding] = {
    display.lower(): Coding(SNOMED, code, display) for code, display in _SNOMED_SYMPTOMS
}


class SymptomSeverity(Enum):
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"

    @property
    def coding(self) -> Coding:
        return _SEVERITY_CODES[self]


_SEVERITY_CODES = {
    SymptomSeverity.MILD: Coding(SNOMED, "255604002", "Mild"),
    SymptomSeverity.MODERATE: Coding(SNOMED, "6736007", "Moderate"),
    SymptomSeverity.SEVERE: Coding(SNOMED, "24484000", "Severe"),
}


@dataclass(frozen=True)
class SymptomItem:
    """A symptom as the patient reports it. ``code`` is the SNOMED CT coding when the app knows
    the symptom (see :func:`coded`); ``onset`` is when it started, as the patient says."""

    item_id: str
    description: str
    severity: SymptomSeverity | None
    onset: date | None = None
    note: str | None = None
    code: Coding | None = None


def coded(description: str) -> Coding | None:
    """The SNOMED CT coding of a symptom the app knows by name ("headache"), else None."""
    return KNOWN_SYMPTOMS.get(description.strip().lower())


def with_description(item: SymptomItem, text: str) -> SymptomItem:
    description = text.strip()
    return replace(item, description=description, code=coded(description))


# ---------------------------------------------------------------- validation


def check_symptom(item: SymptomItem, ctx: ItemCheck) -> Iterable[ValidationProblem]:
    base = f"item:{item.item_id}"
    name = item.description.strip() or "the symptom"
    if not item.description.strip():
        yield error(
            f"{base}:description",
            ProblemKind.ITEM_INCOMPLETE,
            "Name the symptom the patient reports (for example headache).",
        )
    else:
        yield from check_text(
            f"{base}:description", "The symptom", item.description, MAX_ITEM_TEXT_CHARS
        )
    if item.severity is None:
        yield error(
            f"{base}:severity",
            ProblemKind.ITEM_INCOMPLETE,
            f"Choose how severe {name} is (mild, moderate or severe).",
        )
    if item.onset is not None and ctx.now is not None and item.onset > ctx.now.date():
        yield error(
            f"{base}:onset",
            ProblemKind.EFFECTIVE_TIME,
            f"The onset of {name} is in the future; correct the date.",
        )
    if item.note is not None:
        yield from check_text(f"{base}:note", "The comment", item.note, MAX_ITEM_TEXT_CHARS)


# ---------------------------------------------------------------- words, import, codec


def render(item: SymptomItem) -> str:
    """``Headache: moderate, since 2025-03-08 (worse in the morning)``."""
    details = [item.severity.value if item.severity else "severity not stated"]
    if item.onset is not None:
        details.append(f"since {item.onset.isoformat()}")
    note = f" ({item.note.strip()})" if item.note and item.note.strip() else ""
    name = item.description.strip() or "Symptom"
    return f"{name[:1].upper()}{name[1:]}: {', '.join(details)}{note}"


def read_import(r: ImportReader, raw: Mapping[str, Any], path: str) -> SymptomItem | None:
    item_id = r.item_id(raw, path)
    description = r.text(raw.get("symptom"), f"{path}.symptom")
    severity = r.choice(SymptomSeverity, raw.get("severity"), f"{path}.severity")
    onset = r.day(raw.get("onset"), f"{path}.onset")
    note = r.optional_text(raw.get("note"), f"{path}.note")
    r.item_flags(raw, path, item_id)
    if description is None:
        return None
    return SymptomItem(item_id, description, severity, onset, note, coded(description))


def encode(i: SymptomItem) -> dict[str, Any]:
    return {
        "item_id": i.item_id,
        "description": i.description,
        "severity": i.severity.value if i.severity else None,
        "onset": day_json(i.onset),
        "note": i.note,
        "code": coding_json(i.code),
    }


def decode(d: Mapping[str, Any]) -> SymptomItem:
    return SymptomItem(
        item_id=d["item_id"],
        description=d["description"],
        severity=SymptomSeverity(d["severity"]) if d.get("severity") else None,
        onset=day_from(d.get("onset")),
        note=d.get("note"),
        code=coding_from(d.get("code")),
    )


def _severity_of(text: str) -> SymptomSeverity | None:
    wanted = text.strip().lower()
    return next((s for s in SymptomSeverity if s.value == wanted), None)


SYMPTOM: ItemKind[SymptomItem] = ItemKind(
    key="symptom",
    item_type=SymptomItem,
    resource_type="Observation",
    permissions="crus",
    write_rank=15,
    words=KindWords(
        singular="patient-reported symptom",
        plural="patient-reported symptoms",
        label="Patient-reported symptom",
        row="Symptom",
        tab="Symptoms",
        add="Add symptom",
        cannot="record patient-reported symptoms",
        fails="the reported symptom cannot be recorded",
        fails_named="the reported symptom “{name}” cannot be recorded",
    ),
    role=NoteRole.SUBJECTIVE,
    render=render,
    name_of=lambda i: i.description.strip(),
    check=check_symptom,
    import_part=ImportPart(
        key="symptoms",
        title="Symptom",
        summary="symptoms the patient reports",
        fields=(
            ImportField("id", False, "as for observations"),
            ImportField("symptom", True, 'what the patient reports, e.g. `"Headache"`'),
            ImportField(
                "severity", False, "`mild`, `moderate` or `severe` (validation asks for one)"
            ),
            ImportField("onset", False, 'date it started, e.g. `"2025-03-08"`'),
            ImportField("note", False, "free text"),
            ImportField("uncertainty", False, "list of flags"),
        ),
        read=read_import,
    ),
    codec=CodecPart(encode, decode),
    columns=(
        Column("Symptom", "description", lambda i: i.description, with_description),
        Column(
            "Severity",
            "severity",
            lambda i: cell_text(i.severity),
            lambda i, t: replace(i, severity=_severity_of(t)),
            hint="mild, moderate or severe",
            choices=("", *(s.value for s in SymptomSeverity)),
        ),
        Column(
            "Onset",
            "onset",
            lambda i: cell_text(i.onset),
            lambda i, t: replace(i, onset=parse_date(t)),
            hint="Date it started, YYYY-MM-DD",
        ),
        Column(
            "Comment",
            "note",
            lambda i: i.note or "",
            lambda i, t: replace(i, note=optional_text(t)),
        ),
    ),
    new_item=lambda: SymptomItem(new_item_id(), "", None),
)
