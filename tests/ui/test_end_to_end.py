"""The real window against real EHRs (sandbox and peer) over HTTP: sign in through the scripted
browser, the chart of the patient in context loads, the draft is prefilled and autosaved,
sign out returns to the sign-in page."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.domain.audit import AuditKind
from app.domain.clinical import Reference
from app.domain.draft import ObservationItem, TaskItem
from app.domain.outbox import OutboxState
from app.fhir.client import FhirClient
from app.services.session import SessionState
from app.services.workbench import SiteServices, Workbench
from app.smart.http import create_http_client
from app.ui.audit_viewer import AuditViewer
from app.ui.workbench import MainWindowParts, build_main_window
from tests.support.servers import RunningServer
from tests.support.smart_fixtures import ScriptedBrowser
from tests.ui.conftest import close_in_the_apps_order, workbench_on


async def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait on the asyncio loop while letting Qt process its events (timers, paint)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            QApplication.processEvents()
            await asyncio.sleep(0.02)


async def signed_in_window(qtbot: QtBot, workbench: Workbench) -> MainWindowParts:
    """The real main window, signed in through the Sign in button and the scripted browser,
    with the chart in context loaded."""
    parts = build_main_window(workbench)
    window = parts.window
    qtbot.addWidget(window)
    window.show()
    controller = parts.controller
    await wait_until(lambda: not controller.tasks.is_running("sign-in"))
    assert window.pages.currentWidget() is controller.signin_view
    controller.signin_view.sign_in_button.click()
    workspace, gate = parts.workspace, parts.gate
    await wait_until(lambda: workspace.context is not None and gate.chart is not None, 60)
    await wait_until(lambda: workspace.drafts.draft is not None, 10)
    return parts


def site_of(parts: MainWindowParts) -> SiteServices:
    site = parts.flow.site
    assert site is not None, "not signed in"
    return site


async def approve_in_the_dialog(parts: MainWindowParts) -> object:
    """Click "Review and approve…", tick the acknowledgement, "Approve and queue"; the commit
    once the gate says it is queued."""
    workspace = parts.workspace
    workspace.approve_button.click()
    await wait_until(lambda: workspace.approval_dialog is not None, 10)
    dialog = workspace.approval_dialog
    assert dialog is not None and dialog.isVisible()
    if dialog.acknowledge is not None:
        dialog.acknowledge.setChecked(True)
    queued: list[object] = []
    parts.gate.queued.connect(queued.append)
    dialog.approve_button.click()
    await wait_until(lambda: bool(queued), 5)
    return queued[0]


@contextlib.asynccontextmanager
async def fhir_of(parts: MainWindowParts) -> AsyncIterator[FhirClient]:
    """A FHIR client with the signed-in session's token (to look into the EHR); its HTTP client
    is closed on the way out."""
    session = site_of(parts).session
    async with create_http_client(session.site) as http:
        yield FhirClient(http, session.site.fhir_base, auth=session.auth)


@pytest.fixture
async def workbench(
    tmp_path: Path, ehr: RunningServer, windows: list[MainWindowParts]
) -> AsyncIterator[Workbench]:
    opened = workbench_on(tmp_path, ehr)
    yield opened
    await close_in_the_apps_order(opened, windows)


async def test_sign_in_open_chart_edit_and_sign_out(
    qtbot: QtBot, workbench: Workbench, scripted_browser: ScriptedBrowser
) -> None:
    parts = await signed_in_window(qtbot, workbench)
    window, controller, workspace = parts.window, parts.controller, parts.workspace
    await wait_until(lambda: workspace.context is not None, 60)
    assert "Signed in as" in window.user_label.text()
    assert not workspace.grants_label.isVisible()  # both EHRs grant everything the app asks
    assert workspace.banner.name_label.text() == "Maria Elena Garcia"
    assert "MRN" in workspace.banner.details_label.text()
    tree = workspace.context_pane.tree
    for i in range(tree.topLevelItemCount()):
        assert "loading" not in tree.topLevelItem(i).text(0)
    assert tree.topLevelItem(0).text(0).startswith("Problems (")

    drafts = workspace.drafts
    await wait_until(lambda: drafts.draft is not None)
    saves: list[str] = []
    drafts.saved.connect(saves.append)
    workspace.editor.section_edits["plan"].setPlainText("Recheck blood pressure in 2 weeks.")
    await wait_until(lambda: bool(saves), 2.5)  # autosaved within 2 s, off the GUI thread
    site = site_of(parts)
    saved = await site.drafts.find(drafts.draft.id)
    assert saved is not None and saved.section("plan").text == "Recheck blood pressure in 2 weeks."

    async def kinds() -> set[AuditKind]:
        records = await site.audit.query(patient_id=None, since=None, kinds=None, states=None)
        return {r.event.kind for r in records}

    assert {AuditKind.SIGN_IN, AuditKind.CHART_OPENED} <= await kinds()
    viewer = AuditViewer(site.audit, parts.tasks)
    qtbot.addWidget(viewer)
    await viewer.refresh()
    assert viewer.table.rowCount() >= 2
    viewer.patient_edit.setText("pat-1")
    await viewer.refresh()
    assert all(viewer.table.item(r, 4).text() == "pat-1" for r in range(viewer.table.rowCount()))
    assert await viewer.verify()

    workspace.sign_out_button.click()
    await wait_until(lambda: window.pages.currentWidget() is controller.signin_view, 15)
    assert AuditKind.SIGN_OUT in await kinds()
    assert controller.session is None


async def test_idle_lock_hides_the_chart_and_same_user_unlocks(
    qtbot: QtBot, workbench: Workbench, scripted_browser: ScriptedBrowser
) -> None:
    parts = await signed_in_window(qtbot, workbench)
    window, workspace, lock = parts.window, parts.workspace, parts.lock
    await wait_until(lambda: workspace.context is not None, 60)
    assert workspace.isVisible()

    lock.watcher.set_timeout_minutes(0.003)  # ~0.2 s without input
    await wait_until(lambda: lock.locked, 5)
    assert window.pages.currentWidget() is lock.page
    assert not workspace.isVisible() and not workspace.banner.isVisible()

    lock.page.unlock_button.click()
    await wait_until(lambda: not lock.locked, 60)
    assert window.pages.currentWidget() is workspace
    assert workspace.banner.name_label.text() == "Maria Elena Garcia"


async def test_edit_approve_queue_and_confirm_exactly_once(
    qtbot: QtBot, workbench: Workbench, scripted_browser: ScriptedBrowser, ehr: RunningServer
) -> None:
    """The product in one test: a note with a vital sign and a follow-up task is approved in
    the dialog, queued, sent by the runner, and lands in the EHR exactly once."""
    parts = await signed_in_window(qtbot, workbench)
    workspace, gate = parts.workspace, parts.gate
    await wait_until(lambda: workspace.context is not None and gate.chart is not None, 60)
    site = site_of(parts)
    await wait_until(lambda: site.outbox.sending, 30)
    drafts = workspace.drafts

    workspace.editor.section_edits["plan"].setPlainText("Recheck blood pressure in 2 weeks.")
    drafts.edit_item(
        ObservationItem(
            "hr-1",
            "8867-4",
            "Heart rate",
            Decimal("78"),
            "/min",
            effective=datetime.now(UTC) - timedelta(minutes=5),
        )
    )
    drafts.edit_item(
        TaskItem(
            "task-1",
            "Recheck blood pressure",
            Reference("Practitioner", "prac-1"),
            date.today() + timedelta(days=14),
        )
    )
    drafts.refresh_diff()
    report = gate.report
    assert report is not None and report.can_approve, [p.message for p in report.errors]
    assert workspace.approve_button.isEnabled()

    commit = await approve_in_the_dialog(parts)
    dialog = workspace.approval_dialog
    assert dialog is not None
    types = [w.resource_type for w in dialog.proposal.commit.writes]
    assert types.count("DocumentReference") == 1 and "Observation" in types and "Task" in types
    assert commit.commit_id == dialog.proposal.commit.commit_id  # type: ignore[attr-defined]
    await wait_until(lambda: not drafts.draft.is_editable, 5)  # approved content is immutable
    assert "queued" in workspace.editor.notice_label.text()

    def state() -> OutboxState:
        return site.outbox.item(commit.commit_id).state  # type: ignore[attr-defined]

    await wait_until(lambda: state() is OutboxState.CONFIRMED, 60)
    # the yellow "queued" line ends with its state: it now says the note is in the chart
    notice = workspace.editor.notice_label
    await wait_until(lambda: notice.text().startswith("Sent to the chart at"), 5)
    assert "queued" not in notice.text() and notice.objectName() == "okText"
    # the outbox names the patient as the approval did (name and MRN)
    patient = workspace.context.patient  # type: ignore[union-attr]
    label = site.outbox.patient_label(commit.commit_id)  # type: ignore[attr-defined]
    assert label.startswith(patient.shown_name)
    assert patient.mrn is None or label.endswith(f"(MRN {patient.shown_mrn})")

    async with fhir_of(parts) as fhir:
        for write in commit.writes:  # type: ignore[attr-defined]
            result = await fhir.search(write.resource_type, [write.search_param])
            assert len(result.resources) == 1, (write.resource_type, len(result.resources))
        assert {w.resource_type for w in commit.writes} >= {  # type: ignore[attr-defined]
            "DocumentReference",
            "Observation",
            "Task",
            "Provenance",
        }


async def test_ended_session_locks_with_a_sign_in_prompt_and_resumes(
    qtbot: QtBot, workbench: Workbench, scripted_browser: ScriptedBrowser, ehr: RunningServer
) -> None:
    if ehr.name != "sandbox":
        pytest.skip("UI behaviour; one EHR is enough")
    parts = await signed_in_window(qtbot, workbench)
    window, workspace, lock = parts.window, parts.workspace, parts.lock
    await wait_until(lambda: workspace.context is not None, 60)

    session = parts.controller.session
    assert session is not None
    session._smart._set_state(SessionState.SIGN_IN_REQUIRED)  # what a failed refresh does
    await wait_until(lambda: lock.locked, 5)
    assert "session has ended" in lock.page.reason.text()
    assert not workspace.isVisible()

    lock.page.unlock_button.click()
    await wait_until(lambda: not lock.locked, 60)
    assert session.state is SessionState.SIGNED_IN
    assert window.pages.currentWidget() is workspace
