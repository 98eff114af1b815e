"""Medication reconciliation: for each active medication in the chart, what the clinician
decided — continue, changed, stopped, or the patient is not taking it — with an optional note;
written as one MedicationStatement per reconciled medication (``derivedFrom`` the order).

The editor shows one row per active medication of the encounter context; a row becomes an item
of the draft only once a decision is chosen (and leaves it when the decision is cleared).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from app.domain.clinical import Coding, Medication, Reference
from app.domain.context import EncounterContext
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
)
from app.domain.items.parts import coding_from, coding_json, optional_text, ref_from, ref_json
from app.domain.validation_problems import (
    MAX_ITEM_TEXT_CHARS,
    ProblemKind,
    ValidationProblem,
    check_text,
    error,
)

ORDER_TYPE = "MedicationRequest"


class MedicationDecision(Enum):
    CONTINUE = "continue"
    CHANGED = "changed"
    STOPPED = "stopped"
    NOT_TAKING = "not-taking"

    @property
    def words(self) -> str:
        return self.value.replace("-", " ")

    @classmethod
    def from_words(cls, text: str) -> MedicationDecision | None:
        wanted = text.strip().lower().replace(" ", "-")
        return next((d for d in cls if d.value == wanted), None)


@dataclass(frozen=True)
class MedicationReconciliationItem:
    """The decision about one active medication (``medication``: its MedicationRequest, with
    the medicine's name as display). ``decision`` None: not reviewed yet."""

    item_id: str
    medication: Reference
    decision: MedicationDecision | None
    note: str | None = None
    code: Coding | None = None  # the medicine's code (RxNorm) as the chart has it
    dosage: str | None = None  # the dosage as the chart has it


def for_medication(med: Medication, item_id: str | None = None) -> MedicationReconciliationItem:
    """The not-yet-reviewed row for an active medication of the chart."""
    return MedicationReconciliationItem(
        item_id=item_id or f"medrec-{med.id}",
        medication=Reference(ORDER_TYPE, med.id, med.display),
        decision=None,
        code=med.code,
        dosage=med.dosage,
    )


def name_of(item: MedicationReconciliationItem) -> str:
    return item.medication.display or item.medication.relative


# ---------------------------------------------------------------- validation


def check_reconciliation(
    item: MedicationReconciliationItem, ctx: ItemCheck
) -> Iterable[ValidationProblem]:
    base = f"item:{item.item_id}"
    name = name_of(item)
    if item.medication.resource_type != ORDER_TYPE:
        yield error(
            f"{base}:medication",
            ProblemKind.ITEM_INCOMPLETE,
            f"{name} is not a medication order of the chart; reconcile the medications listed "
            "in the chart.",
        )
    if item.decision is None:
        yield error(
            f"{base}:decision",
            ProblemKind.ITEM_INCOMPLETE,
            f"Choose continue, changed, stopped or not taking for {name}.",
        )
    elif item.decision is MedicationDecision.CHANGED and not (item.note or "").strip():
        yield error(
            f"{base}:note",
            ProblemKind.ITEM_INCOMPLETE,
            f"Say what changed for {name} (new dose or how it is taken) in the note.",
        )
    if item.note is not None:
        yield from check_text(f"{base}:note", "The note", item.note, MAX_ITEM_TEXT_CHARS)


def check_one_per_medication(
    items: Sequence[MedicationReconciliationItem],
) -> Iterable[ValidationProblem]:
    seen: set[str] = set()
    for item in items:
        key = item.medication.relative
        if key in seen:
            yield error(
                f"item:{item.item_id}:medication",
                ProblemKind.ITEM_INCOMPLETE,
                f"{name_of(item)} is reconciled twice; keep one decision and remove the other.",
            )
        seen.add(key)


# ---------------------------------------------------------------- rows, words, import, codec


def chart_rows(
    context: EncounterContext, items: Sequence[MedicationReconciliationItem]
) -> tuple[MedicationReconciliationItem, ...]:
    """One row per active medication (the draft's decision where there is one), then any
    decision about a medication that is no longer active, so nothing in the draft is hidden."""
    by_order = {i.medication.id: i for i in items if i.medication.resource_type == ORDER_TYPE}
    rows = [by_order.get(med.id) or for_medication(med) for med in context.active_medications]
    shown = {r.item_id for r in rows}
    return (*rows, *(i for i in items if i.item_id not in shown))


def render(item: MedicationReconciliationItem) -> str:
    """``Lisinopril 10 MG Oral Tablet: stopped (dry cough)``."""
    decision = item.decision.words if item.decision else "not reviewed"
    note = f" ({item.note.strip()})" if item.note and item.note.strip() else ""
    return f"{name_of(item)}: {decision}{note}"


def read_import(
    r: ImportReader, raw: Mapping[str, Any], path: str
) -> MedicationReconciliationItem | None:
    item_id = r.item_id(raw, path)
    order = r.reference(raw.get("medication"), f"{path}.medication", ORDER_TYPE, required=True)
    decision = r.choice(MedicationDecision, raw.get("decision"), f"{path}.decision")
    if raw.get("decision") is None:
        r.fail(f"{path}.decision", "required: continue, changed, stopped or not-taking")
    note = r.optional_text(raw.get("note"), f"{path}.note")
    r.item_flags(raw, path, item_id)
    if order is None:
        return None
    med = next((m for m in r.context.active_medications if m.id == order.id), None)
    if med is None:
        r.fail(
            f"{path}.medication",
            f"{order.relative} is not an active medication in the open chart",
        )
        return None
    return replace(for_medication(med, item_id), decision=decision, note=note)


def encode(i: MedicationReconciliationItem) -> dict[str, Any]:
    return {
        "item_id": i.item_id,
        "medication": ref_json(i.medication),
        "decision": i.decision.value if i.decision else None,
        "note": i.note,
        "code": coding_json(i.code),
        "dosage": i.dosage,
    }


def decode(d: Mapping[str, Any]) -> MedicationReconciliationItem:
    medication = ref_from(d["medication"])
    assert medication is not None
    return MedicationReconciliationItem(
        item_id=d["item_id"],
        medication=medication,
        decision=MedicationDecision(d["decision"]) if d.get("decision") else None,
        note=d.get("note"),
        code=coding_from(d.get("code")),
        dosage=d.get("dosage"),
    )


MEDICATION_RECONCILIATION: ItemKind[MedicationReconciliationItem] = ItemKind(
    key="medication_reconciliation",
    item_type=MedicationReconciliationItem,
    resource_type="MedicationStatement",
    permissions="crs",
    write_rank=50,
    words=KindWords(
        singular="medication reconciliation",
        plural="medication reconciliations",
        label="Medication reconciliation",
        row="Medication",
        tab="Medications",
        add="",
        cannot="record medication reconciliation",
        fails="the medication reconciliation cannot be recorded",
        fails_named="the reconciliation of {name} cannot be recorded",
    ),
    role=NoteRole.MEDICATIONS,
    render=render,
    name_of=name_of,
    check=check_reconciliation,
    check_together=check_one_per_medication,
    import_part=ImportPart(
        key="medication_reconciliation",
        title="Medication reconciliation",
        summary="a decision about active medications of the open chart",
        fields=(
            ImportField("id", False, "as for observations"),
            ImportField(
                "medication",
                True,
                'the active order decided about: `"MedicationRequest/<id>"` (it must be an '
                "active medication of the open chart; its name and dosage come from the chart)",
            ),
            ImportField("decision", True, "`continue`, `changed`, `stopped` or `not-taking`"),
            ImportField("note", False, "free text; required by validation for `changed`"),
            ImportField("uncertainty", False, "list of flags"),
        ),
        read=read_import,
    ),
    codec=CodecPart(encode, decode),
    columns=(
        Column("Medication", "medication", name_of),
        Column("Current dosage", "dosage", lambda i: i.dosage or ""),
        Column(
            "Decision",
            "decision",
            lambda i: i.decision.words if i.decision else "",
            lambda i, t: replace(i, decision=MedicationDecision.from_words(t)),
            hint="continue, changed, stopped or not taking; empty: not reviewed",
            choices=("", *(d.words for d in MedicationDecision)),
        ),
        Column(
            "Note",
            "note",
            lambda i: i.note or "",
            lambda i, t: replace(i, note=optional_text(t)),
            hint="What changed, or why it was stopped",
        ),
    ),
    new_item=None,
    chart_rows=chart_rows,
    keeps=lambda i: i.decision is not None,
)
