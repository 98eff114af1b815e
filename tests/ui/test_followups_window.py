"""Follow-ups through the real main window, against the sandbox and the peer EHR over HTTP
(issue 12): correct a charted note, add an addendum, correct a vital sign, follow up a note
that is still in the outbox, and the chart pane re-read after a confirmation.

After each, the EHR is read directly: the notes on the encounter and which are current, each
Observation once, the relatesTo targets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.bootstrap import build_workbench
from app.domain.draft import FollowUpKind, ObservationItem
from app.domain.note_history import NoteThread, commit_of
from app.domain.outbox import OutboxState
from app.domain.site import Site
from app.fhir.client import FhirClient
from app.paths import AppPaths
from app.services.workbench import Workbench
from app.ui.draft_model import saved_words
from app.ui.workbench import MainWindowParts
from tests.support.servers import RunningServer
from tests.support.smart_fixtures import ScriptedBrowser
from tests.ui.conftest import close_in_the_apps_order
from tests.ui.test_end_to_end import (
    approve_in_the_dialog,
    fhir_of,
    signed_in_window,
    site_of,
    wait_until,
)


@pytest.fixture
async def workbench(
    tmp_path: Path, ehr: RunningServer, windows: list[MainWindowParts]
) -> AsyncIterator[Workbench]:
    paths = AppPaths(
        tmp_path / "data", tmp_path / "log", tmp_path / "cfg", tmp_path / "site"
    ).ensure()
    site = Site(f"test-{ehr.name}", f"Test {ehr.name}", ehr.fhir_base, ehr.client_id)
    opened = build_workbench(paths, [site])
    yield opened
    await close_in_the_apps_order(opened, windows)


S = OutboxState
IDENTIFIER = "https://fhir-writeback.example/sid/commit"


# ---------------------------------------------------------------- driving the window


async def write_and_approve(parts: MainWindowParts, marker: str, *, heart_rate: int = 96) -> Any:
    """Type a note (every section, with ``marker``), add a heart rate, approve it in the
    dialog; the queued commit."""
    workspace = parts.workspace
    drafts = workspace.drafts
    if drafts.draft is None or not drafts.draft.is_editable:
        workspace.new_button.click()
        await wait_until(lambda: drafts.draft is not None and drafts.draft.is_editable, 10)
    for key, edit in workspace.editor.section_edits.items():
        edit.setPlainText(f"{key.title()}: {marker}.")
    taken = datetime.now(UTC) - timedelta(minutes=5)
    drafts.edit_item(
        ObservationItem("hr", "8867-4", "Heart rate", Decimal(heart_rate), "/min", effective=taken)
    )
    drafts.refresh_diff()
    await wait_until(lambda: parts.gate.report is not None and parts.gate.report.can_approve, 10)
    return await approve_in_the_dialog(parts)


async def confirmed(parts: MainWindowParts, commit_id: UUID) -> None:
    outbox = site_of(parts).outbox
    await wait_until(lambda: outbox.item(commit_id).state is S.CONFIRMED, 60)


def thread_of(parts: MainWindowParts, commit_id: UUID) -> NoteThread | None:
    for thread in parts.chart.threads:
        if any(commit_of(n) == commit_id for n in (thread.current, *thread.earlier)):
            return thread
    return None


async def shown_in_pane(parts: MainWindowParts, commit_id: UUID) -> NoteThread:
    """Wait until the chart pane shows the note of ``commit_id`` (re-read after confirming)."""
    await wait_until(lambda: (t := thread_of(parts, commit_id)) is not None and t.written_here, 60)
    thread = thread_of(parts, commit_id)
    assert thread is not None
    return thread


async def choose(parts: MainWindowParts, thread: NoteThread, kind: FollowUpKind) -> None:
    """The note's menu in the chart pane: "Correct this note…" / "Add an addendum…"."""
    menu = parts.workspace.context_pane.follow_up_menu(thread)
    [action] = [a for a in menu.actions() if a.text() == f"{kind.choice}…"]
    action.trigger()
    drafts = parts.workspace.drafts
    await wait_until(
        lambda: (
            drafts.draft is not None
            and drafts.draft.amends is not None
            and drafts.draft.amends.kind is kind
            and drafts.draft.is_editable
        ),
        30,
    )


def set_heart_rate_in_table(parts: MainWindowParts, bpm: int) -> None:
    """Type the new value into the Value cell of the heart-rate row."""
    table = parts.workspace.editor.tables["observation"].table
    headers = [h.text() for c in range(table.columnCount()) if (h := table.horizontalHeaderItem(c))]
    cell = table.item(0, headers.index("Value"))
    assert cell is not None and cell.text() == "96"
    cell.setText(str(bpm))


async def review(parts: MainWindowParts) -> Any:
    """Open the review dialog; the proposal it shows (not confirmed yet)."""
    workspace = parts.workspace
    parts.workspace.drafts.refresh_diff()
    await wait_until(lambda: parts.gate.report is not None and parts.gate.report.can_approve, 10)
    workspace.approval_dialog = None
    workspace.approve_button.click()
    await wait_until(lambda: workspace.approval_dialog is not None, 10)
    dialog = workspace.approval_dialog
    assert dialog is not None
    return dialog


async def confirm(parts: MainWindowParts, dialog: Any) -> Any:
    if dialog.acknowledge is not None:
        dialog.acknowledge.setChecked(True)
    queued: list[Any] = []
    parts.gate.queued.connect(queued.append)
    dialog.approve_button.click()
    await wait_until(lambda: bool(queued), 5)
    return queued[0]


# ---------------------------------------------------------------- reading the EHR


async def notes_on(fhir: FhirClient, encounter: str) -> list[dict[str, Any]]:
    result = await fhir.search("DocumentReference", [("patient", "Patient/pat-1")], limit=1000)
    return [
        r
        for r in result.resources
        if any(
            e.get("reference", "").endswith(encounter)
            for e in (r.get("context") or {}).get("encounter", [])
        )
    ]


async def written_by(fhir: FhirClient, rtype: str, commit_id: UUID) -> list[dict[str, Any]]:
    """The resources of ``rtype`` carrying an identifier of ``commit_id`` (any position)."""
    result = await fhir.search(rtype, [("patient", "Patient/pat-1")], limit=2000)
    return [
        r
        for r in result.resources
        if any(
            i.get("system") == IDENTIFIER and str(i.get("value", "")).startswith(str(commit_id))
            for i in _identifiers(r)
        )
    ]


def _identifiers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    found = resource.get("identifier")
    return found if isinstance(found, list) else []


def relation(doc: dict[str, Any]) -> tuple[str, str]:
    [rel] = doc["relatesTo"]
    return rel["code"], rel["target"]["reference"]


# ---------------------------------------------------------------- the tests


async def test_correct_a_charted_note(
    qtbot: QtBot, workbench: Workbench, scripted_browser: ScriptedBrowser, ehr: RunningServer
) -> None:
    """A note another system wrote: "Correct this note…" in the chart pane, a corrected line,
    the review says it replaces that note; the EHR then holds one more note on the encounter,
    replacing the old one, and nothing else."""
    parts = await signed_in_window(qtbot, workbench)
    await wait_until(lambda: bool(parts.chart.threads), 30)
    seeded = [t for t in parts.chart.threads if commit_of(t.current) is None and t.current.text]
    assert seeded, "the seed gives pat-1 a note written elsewhere"
    old = seeded[0].current
    encounter = old.encounter.relative if old.encounter else "Encounter/enc-1"
    async with fhir_of(parts) as fhir:
        before = await notes_on(fhir, encounter)

        await choose(parts, seeded[0], FollowUpKind.AMENDMENT)
        edit = parts.workspace.editor.section_edits["note"]
        assert edit.toPlainText() == old.plain_text()
        edit.setPlainText(edit.toPlainText() + "\nCorrection: the visit was on Tuesday.")
        dialog = await review(parts)
        assert dialog.proposal.what_happens[0].startswith("Replaces the note of ")
        assert "Replaces the note of" in dialog.writes_view.toPlainText()
        assert "the visit was on Tuesday" in dialog.changes_view.toPlainText()
        commit = await confirm(parts, dialog)
        await confirmed(parts, commit.commit_id)

        after = await notes_on(fhir, encounter)
        new = [d for d in after if d["id"] not in {b["id"] for b in before}]
        assert len(after) == len(before) + 1 and len(new) == 1
        assert relation(new[0]) == ("replaces", f"DocumentReference/{old.id}")
        assert new[0]["status"] == "current"
        assert await written_by(fhir, "Observation", commit.commit_id) == []
        thread = await shown_in_pane(parts, commit.commit_id)
        assert commit_of(thread.current) == commit.commit_id
        assert [n.id for n in thread.earlier] == [old.id]


async def test_refresh_after_confirmation_then_an_addendum(
    qtbot: QtBot, workbench: Workbench, scripted_browser: ScriptedBrowser, ehr: RunningServer
) -> None:
    """A note approved here appears in the chart pane once it is confirmed, marked as written
    from this workstation; an addendum to it sends only the addendum: the heart rate is not
    written again, and the note stays current."""
    parts = await signed_in_window(qtbot, workbench)
    site = site_of(parts)
    await wait_until(lambda: site.outbox.sending, 30)
    marker = f"refresh {datetime.now(UTC).isoformat()}"
    first = await write_and_approve(parts, marker)
    await confirmed(parts, first.commit_id)
    thread = await shown_in_pane(parts, first.commit_id)
    assert parts.chart.refreshes >= 1
    rows = parts.workspace.context_pane.thread_rows()
    [row] = [r for r in rows if r.data(0, Qt.ItemDataRole.UserRole) is thread]
    assert "written here" in row.text(1)
    assert not thread.other_forms or thread.other_forms[0].source_type.value == "Composition"

    approved_draft = parts.drafts.draft
    await choose(parts, thread, FollowUpKind.ADDENDUM)
    addendum_draft = parts.drafts.draft
    assert approved_draft is not None and addendum_draft is not None
    # the bar says when the draft shown was saved, not when the one shown before was
    assert parts.workspace.saved_label.text() == saved_words(addendum_draft)
    await parts.drafts.switch_to(approved_draft.id)
    assert parts.workspace.saved_label.text() == saved_words(approved_draft)
    await parts.drafts.switch_to(addendum_draft.id)
    assert parts.workspace.saved_label.text() == saved_words(addendum_draft)
    parts.workspace.editor.section_edits["addendum"].setPlainText(f"Addendum: {marker}.")
    dialog = await review(parts)
    lines = dialog.proposal.what_happens
    assert lines[0].startswith("Adds an addendum to the note of ")
    assert "Heart rate: 96 bpm — not sent: already in the chart" in lines
    assert [w.resource_type for w in dialog.proposal.commit.writes].count("Observation") == 0
    second = await confirm(parts, dialog)
    await confirmed(parts, second.commit_id)

    async with fhir_of(parts) as fhir:
        [first_doc] = await written_by(fhir, "DocumentReference", first.commit_id)
        [addendum] = await written_by(fhir, "DocumentReference", second.commit_id)
        assert relation(addendum) == ("appends", f"DocumentReference/{first_doc['id']}")
        assert first_doc["status"] == addendum["status"] == "current"
        assert len(await written_by(fhir, "Observation", first.commit_id)) == 1
        assert await written_by(fhir, "Observation", second.commit_id) == []
        await wait_until(
            lambda: (t := thread_of(parts, first.commit_id)) is not None and bool(t.addenda), 60
        )
        appended = thread_of(parts, first.commit_id)
        assert appended is not None and commit_of(appended.current) == first.commit_id
        assert [commit_of(n) for n in appended.addenda] == [second.commit_id]


async def test_correct_a_vital_sign(
    qtbot: QtBot, workbench: Workbench, scripted_browser: ScriptedBrowser, ehr: RunningServer
) -> None:
    """ "Correct this note" on the approved note: the heart rate typed as 92 instead of 96 is
    corrected in place — the review says so, the EHR holds one heart rate, now 92, corrected;
    the new note replaces the old one."""
    parts = await signed_in_window(qtbot, workbench)
    site = site_of(parts)
    await wait_until(lambda: site.outbox.sending, 30)
    first = await write_and_approve(parts, f"vital {datetime.now(UTC).isoformat()}")
    await confirmed(parts, first.commit_id)
    workspace = parts.workspace
    button = workspace.follow_up_buttons[FollowUpKind.AMENDMENT]
    assert button.isVisible() and button.text() == "Correct this note"
    button.click()
    drafts = workspace.drafts
    await wait_until(lambda: drafts.draft is not None and drafts.draft.is_editable, 30)
    set_heart_rate_in_table(parts, 92)
    await wait_until(lambda: drafts.draft is not None and drafts.draft.items[0].value == 92, 5)  # type: ignore[attr-defined]
    dialog = await review(parts)
    assert "Corrects Heart rate 96 bpm → 92 bpm" in dialog.proposal.what_happens
    [update] = [w for w in dialog.proposal.commit.writes if w.is_update]
    assert update.resource_type == "Observation"
    changes = dialog.changes_view.toPlainText()
    assert "92" in changes and "96" in changes
    second = await confirm(parts, dialog)
    await confirmed(parts, second.commit_id)

    async with fhir_of(parts) as fhir:
        [hr] = await written_by(fhir, "Observation", first.commit_id)
        assert hr["valueQuantity"]["value"] == 92 and hr["status"] == "corrected"
        assert await written_by(fhir, "Observation", second.commit_id) == [hr]  # the same record
        [first_doc] = await written_by(fhir, "DocumentReference", first.commit_id)
        [new_doc] = await written_by(fhir, "DocumentReference", second.commit_id)
        assert relation(new_doc) == ("replaces", f"DocumentReference/{first_doc['id']}")
        thread = await shown_in_pane(parts, second.commit_id)
        assert commit_of(thread.current) == second.commit_id
        assert [commit_of(n) for n in thread.earlier] == [first.commit_id]


async def test_a_follow_up_of_a_note_still_in_the_outbox_waits_for_it(
    qtbot: QtBot, workbench: Workbench, scripted_browser: ScriptedBrowser, ehr: RunningServer
) -> None:
    """Sending is stopped: the note waits in the outbox; "Add an addendum" on it makes an
    addendum that waits for it (commit dependency) and, once both are sent, relates to the
    id the EHR gave the first."""
    parts = await signed_in_window(qtbot, workbench)
    site = site_of(parts)
    await wait_until(lambda: site.outbox.sending, 30)
    await site.outbox.stop_sync()
    first = await write_and_approve(parts, f"queued {datetime.now(UTC).isoformat()}")
    assert site.outbox.item(first.commit_id).state is S.QUEUED
    workspace = parts.workspace
    addendum = workspace.follow_up_buttons[FollowUpKind.ADDENDUM]
    # as the clinician sees it: the button shows once the approved note is shown read-only
    # (clicked before, it would act on the draft still shown as editable, and do nothing)
    await wait_until(lambda: addendum.isVisible(), 10)
    addendum.click()
    drafts = workspace.drafts
    # the addendum itself (not the approved note still shown editable until it is re-read)
    await wait_until(lambda: "addendum" in workspace.editor.section_edits, 30)
    # ready to type: the keyboard left the button for the addendum (issue 13 walk-through)
    typing_in = workspace.editor.section_edits["addendum"]
    await wait_until(lambda: parts.window.focusWidget() is typing_in, 5)
    assert drafts.draft is not None and drafts.draft.is_editable
    assert "still in the outbox" in workspace.editor.notice_label.text()
    workspace.editor.section_edits["addendum"].setPlainText("Patient called back: no dizziness.")
    dialog = await review(parts)
    assert "still in the outbox" in dialog.proposal.what_happens[0]
    second = await confirm(parts, dialog)
    assert second.depends_on == (first.commit_id,)
    assert site.outbox.item(second.commit_id).state is S.WAITING_FOR_BASE

    await site.outbox.start_sync()
    await confirmed(parts, second.commit_id)
    assert site.outbox.item(first.commit_id).state is S.CONFIRMED
    async with fhir_of(parts) as fhir:
        [first_doc] = await written_by(fhir, "DocumentReference", first.commit_id)
        [addendum] = await written_by(fhir, "DocumentReference", second.commit_id)
        assert relation(addendum) == ("appends", f"DocumentReference/{first_doc['id']}")
        assert len(await written_by(fhir, "Observation", first.commit_id)) == 1
        assert await written_by(fhir, "Observation", second.commit_id) == []
