"""Agreement and decisions through the real main window, against the sandbox and the peer EHR
over HTTP (issue 12 items 2 and 5): a narrative/table mismatch found and fixed, then approved;
an imported draft declined; a draft dropped into the site's watched folder, approved.

After each, the EHR is read directly: the notes on the encounter, the note's text, each
Observation once, nothing written for a declined draft."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from pytestqt.qtbot import QtBot

from app._resources import resource_path
from app.bootstrap import build_workbench
from app.domain.audit import AuditKind
from app.domain.consistency import Fix, MismatchKind
from app.domain.draft import CloseReason, DraftStatus, ObservationItem
from app.domain.draft_inbox import InboxOutcome, InboxOutcomeKind
from app.domain.outbox import OutboxState
from app.domain.site import Site
from app.fhir.client import FhirClient
from app.paths import AppPaths
from app.services.workbench import Workbench
from app.ui.inbox_view import InboxNotices
from app.ui.waiting_words import local_minute
from app.ui.workbench import MainWindowParts
from tests.support.servers import RunningServer
from tests.support.smart_fixtures import ScriptedBrowser
from tests.ui.conftest import close_in_the_apps_order
from tests.ui.test_end_to_end import fhir_of, signed_in_window, site_of, wait_until
from tests.ui.test_followups_window import confirm, notes_on, review, written_by

SAMPLE = resource_path("samples", "scribe-draft.json").read_bytes()


def make_workbench(tmp_path: Path, ehr: RunningServer, inbox: Path | None = None) -> Workbench:
    paths = AppPaths(
        tmp_path / "data", tmp_path / "log", tmp_path / "cfg", tmp_path / "site"
    ).ensure()
    site = Site(
        f"test-{ehr.name}",
        f"Test {ehr.name}",
        ehr.fhir_base,
        ehr.client_id,
        draft_inbox=inbox,
        draft_inbox_settle_seconds=1,
    )
    return build_workbench(paths, [site])


@pytest.fixture
async def workbench(
    tmp_path: Path, ehr: RunningServer, windows: list[MainWindowParts]
) -> AsyncIterator[Workbench]:
    opened = make_workbench(tmp_path, ehr)
    yield opened
    await close_in_the_apps_order(opened, windows)


def note_text(doc: dict[str, Any]) -> str:
    [content] = [
        c for c in doc["content"] if c["attachment"].get("contentType", "").startswith("text/plain")
    ]
    return base64.b64decode(content["attachment"]["data"]).decode("utf-8")


def sample_for(parts: MainWindowParts) -> dict[str, Any]:
    """The sample scribe draft, for the patient and encounter open in the window."""
    context = parts.workspace.context
    assert context is not None
    doc = json.loads(SAMPLE)
    doc["source"] = {
        "patient": f"Patient/{context.patient.id}",
        "encounter": f"Encounter/{context.encounter.id}",
    }
    doc["generated_at"] = (datetime.now(UTC) - timedelta(minutes=2)).isoformat()
    for obs in doc["observations"]:
        obs.pop("effective", None)  # now-ish: not before the encounter of the seed
    return doc


async def observations_of(fhir: FhirClient, commit_id: UUID) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for obs in await written_by(fhir, "Observation", commit_id):
        code = obs["code"]["coding"][0]["code"]
        found.setdefault(code, []).append(obs["valueQuantity"]["value"])
    return found


async def observation_ids(fhir: FhirClient, patient_id: str) -> set[str]:
    result = await fhir.search("Observation", [("patient", f"Patient/{patient_id}")], limit=2000)
    return {str(r["id"]) for r in result.resources}


async def one_more_note(
    fhir: FhirClient, encounter: str, before: list[dict[str, Any]], commit_id: UUID
) -> dict[str, Any]:
    """The encounter holds exactly one more note than ``before``: the commit's, current; the
    notes it had keep their status (nothing replaced). Returns the new note."""
    after = await notes_on(fhir, encounter)
    [doc] = await written_by(fhir, "DocumentReference", commit_id)
    assert len(after) == len(before) + 1
    assert {d["id"] for d in after} - {d["id"] for d in before} == {doc["id"]}
    assert doc["status"] == "current" and not doc.get("relatesTo")
    kept = {d["id"]: d["status"] for d in after if d["id"] != doc["id"]}
    assert kept == {d["id"]: d["status"] for d in before}
    return doc


async def new_observations(fhir: FhirClient, patient_id: str, before: set[str]) -> set[str]:
    return await observation_ids(fhir, patient_id) - before


# ---------------------------------------------------------------- 1. a mismatch, found and fixed


async def test_a_narrative_table_mismatch_is_found_fixed_and_the_chart_agrees(
    qtbot: QtBot, workbench: Workbench, scripted_browser: ScriptedBrowser, ehr: RunningServer
) -> None:
    """Objective says "Heart rate: 78 beats/minute", the table says 96 bpm: the warning names
    both, the review dialog lists it apart and asks for it to be confirmed; one click changes
    the text to 96; approved, the EHR's note says 96 and holds one heart rate, 96."""
    parts = await signed_in_window(qtbot, workbench)
    workspace, drafts, gate = parts.workspace, parts.workspace.drafts, parts.gate
    site = site_of(parts)
    await wait_until(lambda: site.outbox.sending, 30)
    context = workspace.context
    assert context is not None
    async with fhir_of(parts) as fhir:
        encounter = f"Encounter/{context.encounter.id}"
        notes_before = await notes_on(fhir, encounter)
        observations_before = await observation_ids(fhir, context.patient.id)
        editor = workspace.editor
        editor.section_edits["subjective"].setPlainText("Palpitations since Sunday.")
        editor.section_edits["objective"].setPlainText("Heart rate: 78 beats/minute. Chest clear.")
        editor.section_edits["assessment"].setPlainText("Sinus tachycardia.")
        editor.section_edits["plan"].setPlainText("Holter monitor.")
        taken = datetime.now(UTC) - timedelta(minutes=5)
        drafts.edit_item(
            ObservationItem("hr", "8867-4", "Heart rate", Decimal(96), "/min", effective=taken)
        )
        assert (
            "- Heart rate: 96 bpm" in editor.section_edits["objective"].toPlainText()
        )  # the block
        drafts.refresh_diff()
        agreement = workspace.agreement
        assert agreement is not None
        await wait_until(lambda: bool(agreement.model.mismatches), 10)
        [mismatch] = agreement.model.mismatches
        assert mismatch.kind is MismatchKind.TABLE
        assert (
            mismatch.message
            == "Objective says heart rate 78 beats/minute; the table records 96 bpm."
        )
        assert not agreement.panel.isHidden()
        assert gate.report is not None and gate.report.can_approve  # a warning, not a block

        dialog = await review(parts)  # the review asks for the disagreement to be confirmed
        assert dialog.mismatch_box is not None and mismatch.message in dialog.mismatch_box.text()
        assert dialog.acknowledge is not None and "disagreement" in dialog.acknowledge.text()
        assert not dialog.approve_button.isEnabled()
        assert "where the note's text and its recorded values disagree" in " ".join(
            dialog.proposal.notes
        )
        dialog.reject()

        button = agreement.panel.fix_buttons[(mismatch.key, Fix.UPDATE_TEXT)]
        assert button.text() == "Change the text to 96 bpm"
        button.click()
        objective = editor.section_edits["objective"].toPlainText()
        assert objective.startswith("Heart rate: 96 bpm. Chest clear.")
        await wait_until(lambda: not agreement.model.mismatches, 10)
        assert agreement.panel.isHidden()

        dialog = await review(parts)
        assert dialog.mismatch_box is None
        commit = await confirm(parts, dialog)
        await wait_until(
            lambda: site.outbox.item(commit.commit_id).state is OutboxState.CONFIRMED, 60
        )

        doc = await one_more_note(fhir, encounter, notes_before, commit.commit_id)
        text = note_text(doc)
        assert "Heart rate: 96 bpm. Chest clear." in text and "78" not in text
        assert "[Recorded with this note]\n- Heart rate: 96 bpm\n[End of recorded items]" in text
        assert await observations_of(fhir, commit.commit_id) == {"8867-4": [96]}  # once
        written = {o["id"] for o in await written_by(fhir, "Observation", commit.commit_id)}
        assert await new_observations(fhir, context.patient.id, observations_before) == written

    # ---------------------------------------------------------------- 2. declining an imported draft


async def test_declining_an_imported_draft_sends_nothing_and_is_audited(
    qtbot: QtBot,
    workbench: Workbench,
    scripted_browser: ScriptedBrowser,
    ehr: RunningServer,
    tmp_path: Path,
) -> None:
    parts = await signed_in_window(qtbot, workbench)
    workspace, drafts = parts.workspace, parts.workspace.drafts
    site = site_of(parts)
    await wait_until(lambda: site.outbox.sending, 30)
    context = workspace.context
    assert context is not None
    async with fhir_of(parts) as fhir:
        encounter = f"Encounter/{context.encounter.id}"
        notes_before = await notes_on(fhir, encounter)
        observations_before = await observation_ids(fhir, context.patient.id)
        file = tmp_path / "scribe.json"
        file.write_text(json.dumps(sample_for(parts)))
        imported = await drafts.import_file(str(file))
        assert imported is not None and drafts.draft is not None and drafts.draft.id == imported.id
        agreement = workspace.agreement
        assert agreement is not None
        assert set(agreement.panel.look_buttons) == {0, 1, 2}  # the sample's uncertain passages
        agreement.panel.look_buttons[0].click()
        assert drafts.draft.provenance.looked_at_flags == {0}
        assert (
            agreement.close_button.text() == "Decline draft…" and agreement.close_button.isVisible()
        )

        agreement.close_button.click()
        dialog = agreement.close_dialog
        assert dialog is not None and dialog.isVisible()
        dialog.buttons_by_reason[CloseReason.INACCURATE].setChecked(True)
        dialog.note_edit.setPlainText("the dictation mixed up two visits")
        dialog.confirm_button.click()
        await wait_until(lambda: drafts.draft is not None and not drafts.draft.is_editable, 10)

        shown = drafts.draft
        assert shown.status is DraftStatus.DECLINED and shown.decision is not None
        assert shown.sections == imported.sections  # readable, as it was
        assert workspace.editor.section_edits["plan"].isReadOnly()
        assert not workspace.approve_button.isEnabled()
        assert workspace.approve_reason.text().startswith("Declined by ")
        # when, in the computer's time (not UTC), and a sentence that ends before the next
        assert f" on {local_minute(shown.decision.at)}: " in workspace.approve_reason.text()
        assert "UTC" not in workspace.approve_reason.text()
        assert "two visits). Nothing was sent to the chart." in workspace.editor.notice_label.text()
        assert not agreement.close_button.isVisible()
        assert "[declined]" in workspace.draft_combo.currentText()

        records = await site.audit.query(
            patient_id=None, since=None, kinds=[AuditKind.DRAFT_DECLINED], states=None
        )
        [record] = [r for r in records if r.event.draft_id == str(imported.id)]
        details = record.event.details
        assert details["reason"] == "inaccurate"
        assert details["reason_text"] == "the dictation mixed up two visits"
        assert details["import_sha256"] == imported.provenance.import_sha256
        assert record.event.actor == site.session.approver.relative
        assert site.outbox.summary().total == 0  # nothing queued, nothing sent
        assert await notes_on(fhir, encounter) == notes_before  # nothing in the EHR
        assert await observation_ids(fhir, context.patient.id) == observations_before
        stored = await site.drafts.find(imported.id)
        assert stored is not None and stored.status is DraftStatus.DECLINED

    # ---------------------------------------------------------------- 3. the watched folder


async def test_a_file_in_the_watched_folder_becomes_a_draft_and_one_note(
    qtbot: QtBot,
    scripted_browser: ScriptedBrowser,
    ehr: RunningServer,
    tmp_path: Path,
    workbenches: list[Workbench],
) -> None:
    """A scribe tool drops a file (written as .part, then renamed): the draft appears for the
    open encounter, awaiting review; approved, the EHR holds exactly one more note, current, and
    each Observation once. Then the bad input of issue 12 — the same content again, a 6 MB
    file, a chart the clinician cannot read, a copy still being written that stalls half-way —
    each said in the app and set aside with the reason in the folder; nothing else changes in
    the EHR."""
    inbox = tmp_path / "scribe-inbox"
    inbox.mkdir()
    workbench = make_workbench(tmp_path, ehr, inbox)
    workbenches.append(workbench)
    parts = await signed_in_window(qtbot, workbench)
    workspace, drafts = parts.workspace, parts.workspace.drafts
    site = site_of(parts)
    assert site.inbox is not None and site.inbox.running
    await wait_until(lambda: site.outbox.sending, 30)
    context = workspace.context
    assert context is not None
    async with fhir_of(parts) as fhir:
        encounter = f"Encounter/{context.encounter.id}"
        before = await notes_on(fhir, encounter)
        observations_before = await observation_ids(fhir, context.patient.id)
        seen: list[InboxOutcome] = []  # every outcome (the notices list the latest few)
        site.inbox.subscribe(seen.extend)

        body = json.dumps(sample_for(parts)).encode()
        (inbox / "visit.json.part").write_bytes(body)
        os.replace(inbox / "visit.json.part", inbox / "visit.json")  # the rename convention
        notices = workspace.inbox_notices
        await wait_until(lambda: "waiting for your review" in notices.text(), 30)
        assert f"a draft for {context.patient.name} (" in notices.text()  # by name, as the banner
        assert (inbox / "imported" / "visit.json").read_bytes() == body
        await wait_until(lambda: workspace.draft_combo.count() >= 2, 10)  # listed with the others
        [arrived] = [
            workspace.draft_combo.itemData(i)
            for i in range(workspace.draft_combo.count())
            if "imported" in workspace.draft_combo.itemText(i)
        ]
        await drafts.switch_to(arrived)
        draft = drafts.draft
        assert draft is not None and draft.status is DraftStatus.OPEN  # awaiting review only
        assert site.outbox.summary().total == 0  # nothing approved automatically
        agreement = workspace.agreement
        assert agreement is not None
        for index in sorted(agreement.panel.look_buttons):
            agreement.model.look_at(index)
        dialog = await review(parts)
        commit = await confirm(parts, dialog)
        await wait_until(
            lambda: site.outbox.item(commit.commit_id).state is OutboxState.CONFIRMED, 60
        )

        await one_more_note(fhir, encounter, before, commit.commit_id)
        assert await observations_of(fhir, commit.commit_id) == {
            "8867-4": [78],
            "29463-7": [82.5],
        }
        written = {o["id"] for o in await written_by(fhir, "Observation", commit.commit_id)}
        assert await new_observations(fhir, context.patient.id, observations_before) == written
        after = await notes_on(fhir, encounter)

        await drop_bad_input(inbox, body, notices)
        assert sorted(p.name for p in (inbox / "rejected").iterdir()) == [
            "again.json",
            "again.json.rejected.txt",
            "half.json",
            "half.json.rejected.txt",
            "huge.json",
            "huge.json.rejected.txt",
            "stranger.json",
            "stranger.json.rejected.txt",
        ]
        assert await notes_on(fhir, encounter) == after  # nothing else reached the chart
        assert await new_observations(fhir, context.patient.id, observations_before) == written
        assert [o.kind for o in seen].count(InboxOutcomeKind.IMPORTED) == 1
        assert site.outbox.summary().total == 1  # the one the clinician approved


async def drop_bad_input(inbox: Path, body: bytes, notices: InboxNotices) -> None:
    """The same content twice, a 6 MB file, a chart the clinician cannot read, a copy that
    keeps growing and then stalls half-written: each said in the app, set aside in the folder."""
    (inbox / "again.json").write_bytes(body)
    with (inbox / "huge.json").open("wb") as fh:
        fh.truncate(6 * 1024 * 1024)
    stranger = json.loads(body)
    stranger["source"] = {"patient": "Patient/nobody-here", "encounter": "Encounter/enc-1"}
    (inbox / "stranger.json").write_text(json.dumps(stranger))
    half = inbox / "half.json"
    half.write_bytes(body[:200])
    told = "half.json was left in the folder for now: it is still being written"
    for _ in range(60):  # still being copied: a few bytes more every half second
        if told in notices.text():
            break
        with half.open("ab") as fh:
            fh.write(b" ")
        await asyncio.sleep(0.5)
    assert told in notices.text() and half.exists()  # said in the app, left in the folder
    await wait_until(lambda: "half.json was set aside" in notices.text(), 30)  # then it stalled
    await wait_until(lambda: notices.text().count("set aside") >= 4, 30)
    text = notices.text()
    assert "again.json was set aside in rejected/: the same content was already imported" in text
    assert "huge.json was set aside in rejected/: the file huge.json is too large" in text
    assert (
        "stranger.json was set aside in rejected/: Patient/nobody-here / Encounter/enc-1 could "
        "not be read with your access" in text
    )
    assert "half.json was set aside in rejected/: not valid JSON" in text
