"""The real window against real EHRs (sandbox and peer) over HTTP: sign in through the scripted
browser, the chart of the patient in context loads, the draft is prefilled and autosaved,
sign out returns to the sign-in page."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.bootstrap import Services
from app.domain.audit import AuditKind
from app.domain.clinical import Reference
from app.domain.draft import ObservationItem, TaskItem
from app.domain.outbox import OutboxState
from app.domain.site import Site
from app.paths import AppPaths
from app.smart.session import SessionState
from app.store.templates import load_templates
from app.ui.audit_viewer import AuditViewer
from app.ui.main_window import MainWindow
from app.ui.workbench import build_main_window
from tests.support.servers import RunningServer
from tests.support.smart_fixtures import ScriptedBrowser


async def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait on the asyncio loop while letting Qt process its events (timers, paint)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            QApplication.processEvents()
            await asyncio.sleep(0.02)


async def signed_in_window(qtbot: QtBot, services: Services) -> MainWindow:
    """The real main window, signed in through the Sign in button and the scripted browser,
    with the chart in context loaded."""
    window: MainWindow = build_main_window(services)
    qtbot.addWidget(window)
    window.show()
    controller = window.controller  # type: ignore[attr-defined]
    await wait_until(lambda: not controller.tasks.is_running("sign-in"))
    assert window.pages.currentWidget() is controller.signin_view
    controller.signin_view.sign_in_button.click()
    workspace = window.workspace  # type: ignore[attr-defined]
    gate = window.gate  # type: ignore[attr-defined]
    await wait_until(lambda: workspace.context is not None and gate.actx is not None, 60)
    return window


@pytest.fixture
def services(tmp_path: Path, ehr: RunningServer) -> Iterator[Services]:
    paths = AppPaths(
        tmp_path / "data", tmp_path / "log", tmp_path / "cfg", tmp_path / "site"
    ).ensure()
    site = Site(
        id=f"test-{ehr.name}",
        display_name=f"Test {ehr.name}",
        fhir_base=ehr.fhir_base,
        client_id=ehr.client_id,
    )
    services = Services(paths=paths, sites=[site], templates=list(load_templates().templates))
    yield services
    for store in services.stores.values():
        store.close()


async def test_sign_in_open_chart_edit_and_sign_out(
    qtbot: QtBot, services: Services, scripted_browser: ScriptedBrowser
) -> None:
    window = await signed_in_window(qtbot, services)
    controller = window.controller  # type: ignore[attr-defined]
    workspace = window.workspace  # type: ignore[attr-defined]
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
    workspace.editor.section_edits["plan"].setPlainText("Recheck blood pressure in 2 weeks.")
    with qtbot.waitSignal(drafts.saved, timeout=2500):
        pass
    saved = services.store_for(services.sites[0]).drafts.get(drafts.draft.id)
    assert saved.section("plan").text == "Recheck blood pressure in 2 weeks."

    protected = services.protected[services.sites[0].id]
    viewer = AuditViewer(protected.audit)
    qtbot.addWidget(viewer)
    kinds = {r.event.kind for r in protected.audit.query()}
    assert {AuditKind.SIGN_IN, AuditKind.CHART_OPENED} <= kinds
    assert viewer.table.rowCount() >= 2
    viewer.patient_edit.setText("pat-1")
    viewer.refresh()
    assert all(viewer.table.item(r, 4).text() == "pat-1" for r in range(viewer.table.rowCount()))
    assert viewer.verify()

    workspace.sign_out_button.click()
    await wait_until(lambda: window.pages.currentWidget() is controller.signin_view, 15)
    assert AuditKind.SIGN_OUT in {r.event.kind for r in protected.audit.query()}
    assert controller.session is None
    await services.aclose()


async def test_idle_lock_hides_the_chart_and_same_user_unlocks(
    qtbot: QtBot, services: Services, scripted_browser: ScriptedBrowser
) -> None:
    window = await signed_in_window(qtbot, services)
    workspace = window.workspace  # type: ignore[attr-defined]
    lock = window.lock  # type: ignore[attr-defined]
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
    await services.aclose()


async def test_edit_approve_queue_and_confirm_exactly_once(
    qtbot: QtBot, services: Services, scripted_browser: ScriptedBrowser, ehr: RunningServer
) -> None:
    """The product in one test: a note with a vital sign and a follow-up task is approved in
    the dialog, queued, sent by the runner, and lands in the EHR exactly once."""
    window = await signed_in_window(qtbot, services)
    controller = window.controller  # type: ignore[attr-defined]
    workspace = window.workspace  # type: ignore[attr-defined]
    gate = window.gate  # type: ignore[attr-defined]
    await wait_until(lambda: workspace.context is not None and gate.actx is not None, 60)
    await wait_until(lambda: window.current["runner"] is not None, 30)  # type: ignore[attr-defined]
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

    workspace.approve_button.click()
    dialog = gate.dialog
    assert dialog is not None and dialog.isVisible()
    types = [w.resource_type for w in dialog.prepared.commit.writes]
    assert types.count("DocumentReference") == 1 and "Observation" in types and "Task" in types
    if dialog.acknowledge is not None:
        dialog.acknowledge.setChecked(True)
    with qtbot.waitSignal(gate.queued, timeout=5000) as queued:
        dialog.approve_button.click()
    commit = queued.args[0]
    assert not drafts.draft.is_editable  # approved content is immutable
    assert "queued" in workspace.editor.notice_label.text()

    store = services.store_for(services.sites[0])
    await wait_until(lambda: store.outbox.item(commit.commit_id).state is OutboxState.CONFIRMED, 60)

    http = services.http_for(services.sites[0])
    fhir = services.fhir_for(controller.session)
    for write in commit.writes:
        result = await fhir.search(write.resource_type, [write.search_param])
        assert len(result.resources) == 1, (write.resource_type, len(result.resources))
    assert {w.resource_type for w in commit.writes} >= {
        "DocumentReference",
        "Observation",
        "Task",
        "Provenance",
    }
    assert http is not None
    await services.aclose()


async def test_ended_session_locks_with_a_sign_in_prompt_and_resumes(
    qtbot: QtBot, services: Services, scripted_browser: ScriptedBrowser, ehr: RunningServer
) -> None:
    if ehr.name != "sandbox":
        pytest.skip("UI behaviour; one EHR is enough")
    window = await signed_in_window(qtbot, services)
    controller = window.controller  # type: ignore[attr-defined]
    workspace = window.workspace  # type: ignore[attr-defined]
    lock = window.lock  # type: ignore[attr-defined]
    await wait_until(lambda: workspace.context is not None, 60)

    session = controller.session
    session._set_state(SessionState.SIGN_IN_REQUIRED)  # what a failed refresh does
    await wait_until(lambda: lock.locked, 5)
    assert "session has ended" in lock.page.reason.text()
    assert not workspace.isVisible()

    lock.page.unlock_button.click()
    await wait_until(lambda: not lock.locked, 60)
    assert session.state is SessionState.SIGNED_IN
    assert window.pages.currentWidget() is workspace
    await services.aclose()
