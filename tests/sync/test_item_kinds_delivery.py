"""The two new item kinds end to end, against the sandbox and the peer EHR over real HTTP:
the chart's active medications are loaded, each is reconciled, a patient-reported symptom is
added, the draft is validated, approved, queued and synced; then the server is asked directly
what it holds: exactly one MedicationStatement per reconciled medication and one symptom
Observation, each once, reading back as the decisions that were approved."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from app.domain.clinical import Reference
from app.domain.commit import IDENTIFIER_SYSTEM, ApprovedCommit
from app.domain.items.medication_reconciliation import (
    MedicationDecision,
    MedicationReconciliationItem,
    for_medication,
)
from app.domain.items.symptom import SymptomItem, SymptomSeverity, coded
from app.domain.outbox import OutboxState
from app.domain.prefill import prefill_draft
from app.fhir.context_loader import load_encounter_context
from app.fhir.items import item_from_fhir
from app.fhir.profiles import load_profile
from app.store.templates import load_templates
from app.sync.approval import ApprovalContext, approve, check
from tests.support.servers import RunningServer
from tests.sync.runner_fixtures import SCOPE, Harness, _get, harness, launch_token, server_copies

DECISIONS = [
    (MedicationDecision.CONTINUE, None),
    (MedicationDecision.STOPPED, "dry cough"),
    (MedicationDecision.CHANGED, "now 20 mg once daily"),
    (MedicationDecision.NOT_TAKING, "ran out in May"),
]


@pytest.fixture
async def h(ehr: RunningServer, tmp_path: Path) -> AsyncIterator[Harness]:
    async for value in harness(tmp_path, ehr.fhir_base, launch_token(ehr)):
        yield value


def of_commit(server: RunningServer, resource_type: str, commit: ApprovedCommit,
              **params: str) -> list[dict[str, Any]]:  # fmt: skip
    """The resources of ``resource_type`` for pat-1 that carry an identifier of ``commit``."""
    body = _get(server, resource_type, {"patient": "Patient/pat-1", "_count": "500", **params})
    prefix = f"{commit.commit_id}."
    return [
        e["resource"]
        for e in body.get("entry", [])
        if e.get("search", {}).get("mode", "match") == "match"
        and any(
            i.get("system") == IDENTIFIER_SYSTEM and str(i.get("value", "")).startswith(prefix)
            for i in e["resource"].get("identifier") or []
        )
    ]


async def test_a_reconciliation_and_a_symptom_land_exactly_once(
    h: Harness, ehr: RunningServer
) -> None:
    now = datetime.now(UTC)
    context = await load_encounter_context(h.fhir, "pat-1", "enc-1")
    active = context.active_medications
    assert len(active) >= 2, "the seed must give pat-1 active medications to reconcile"
    template = load_templates().default
    draft = prefill_draft(context, template, now=now)
    for section in template.sections:
        if section.required:
            draft = draft.with_section_text(section.key, f"{section.title}: written in a test.")
    reconciled: list[MedicationReconciliationItem] = []
    for med, (decision, note) in zip(active, DECISIONS * 2, strict=False):
        row = for_medication(med)
        item = MedicationReconciliationItem(
            row.item_id, row.medication, decision, note, row.code, row.dosage
        )
        reconciled.append(item)
        draft = draft.with_item(item)
    reported = SymptomItem("sym-1", "Headache", SymptomSeverity.MODERATE, date(2025, 3, 7),
                           "worse in the morning", coded("Headache"))  # fmt: skip
    draft = draft.with_item(reported)
    h.store.drafts.save(draft)

    profile = load_profile("generic-r4")
    approver = Reference("Practitioner", "prac-1", "Dr. Test")
    actx = ApprovalContext.build(
        context, approver, profile, await h.fhir.capabilities(), SCOPE.split()
    )
    report = check(draft, actx, template, now=now)
    assert report.can_approve, report.problems
    assert {"MedicationStatement", "Observation"} <= set(report.destinations)
    _decision, commit = approve(h.store, draft, report, actx, now=now)
    async with h.runner(profile) as runner:
        await runner.drain(timeout=60)
    assert h.store.outbox.item(commit.commit_id).state is OutboxState.CONFIRMED
    assert server_copies(ehr, commit) == [1] * len(commit.writes)  # each write once

    statements = of_commit(ehr, "MedicationStatement", commit)
    assert len(statements) == len(reconciled)
    orders = sorted(s["derivedFrom"][0]["reference"] for s in statements)
    assert orders == sorted(i.medication.relative for i in reconciled)  # one per medication
    by_order = {i.medication.relative: i for i in reconciled}
    for stored in statements:
        back = item_from_fhir(stored)
        assert isinstance(back, MedicationReconciliationItem)
        expected = by_order[back.medication.relative]
        assert (back.decision, back.note) == (expected.decision, expected.note)

    [symptom] = of_commit(ehr, "Observation", commit, category="survey")
    back_symptom = item_from_fhir(symptom)
    assert isinstance(back_symptom, SymptomItem)
    assert (back_symptom.description, back_symptom.severity, back_symptom.onset) == (
        "Headache",
        SymptomSeverity.MODERATE,
        date(2025, 3, 7),
    )
