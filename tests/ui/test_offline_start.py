"""Issue 19's offline start, through the real main window: the day before, the clinician signs
in (the day's charts are kept) and sets an offline PIN (Tools ▸ Offline PIN…), then quits. The
next start the EHR is down: continuing the session fails, the sign-in page offers "Work
offline"; the PIN unlocks; the worklist comes from this computer with its Kept marks; a kept
chart opens marked offline; a note is approved and waits. The EHR comes back (same port, same
data): the session is renewed (or, if the EHR forgot it, the lock asks for a sign-in), the
note is confirmed and is in the EHR exactly once, read back over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialog
from pytestqt.qtbot import QtBot

from app.bootstrap import SiteFactory, build_workbench
from app.domain.commit import ApprovedCommit
from app.domain.outbox import OutboxState
from app.domain.site import Site
from app.paths import AppPaths
from app.services.workbench import Workbench
from app.ui.workbench import MainWindowParts, build_main_window
from tests.support.servers import RunningServer, free_port, start_sandbox
from tests.support.smart_fixtures import ScriptedBrowser
from tests.ui.test_end_to_end import fhir_of, site_of, wait_until

pytestmark = pytest.mark.slow

PIN = "482916"


@pytest.fixture
def servers() -> Iterator[list[RunningServer]]:
    """The EHRs the test starts (the same one twice: down overnight), stopped at its end,
    after the workbenches closed (the test asks for this fixture before ``workbenches``)."""
    started: list[RunningServer] = []
    yield started
    for server in started:
        server.stop()


def workbench_for(opened: list[Workbench], tmp_path: Path, site: Site) -> Workbench:
    """The app's Workbench, closed at the test's end (``opened``: the ``workbenches``
    fixture)."""
    paths = AppPaths(
        tmp_path / "data", tmp_path / "log", tmp_path / "cfg", tmp_path / "site"
    ).ensure()
    factory = SiteFactory(paths, None, keeps_sessions=lambda: True)  # the file keyring as OS's
    workbench = build_workbench(paths, [site], factory=factory)
    opened.append(workbench)
    return workbench


async def open_window(qtbot: QtBot, workbench: Workbench, site: Site) -> MainWindowParts:
    parts = build_main_window(workbench)
    qtbot.addWidget(parts.window)
    parts.window.show()
    parts.controller.start(restore_site=site)  # as the app starts: continue the last session
    await wait_until(lambda: not parts.controller.tasks.is_running("sign-in"), 60)
    return parts


async def approve(parts: MainWindowParts, patient: str, encounter: str) -> ApprovedCommit:
    workspace = parts.workspace
    parts.flow.open_chart(patient, encounter)
    await wait_until(
        lambda: (
            workspace.context is not None
            and workspace.context.encounter.id == encounter
            and workspace.drafts.draft is not None
        ),
        30,
    )
    assert workspace.banner.freshness_label.text().endswith(", offline")
    for key, edit in workspace.editor.section_edits.items():
        if not edit.toPlainText().strip():
            edit.setPlainText(f"Offline {key}.")
    workspace.drafts.refresh_diff()
    await workspace.drafts.flush()
    await wait_until(lambda: workspace.approve_button.isEnabled(), 10)
    workspace.approve_button.click()
    await wait_until(lambda: workspace.approval_dialog is not None, 10)
    dialog = workspace.approval_dialog
    assert dialog is not None
    if dialog.acknowledge is not None:
        dialog.acknowledge.setChecked(True)
    queued: list[ApprovedCommit] = []
    parts.gate.queued.connect(queued.append)
    dialog.approve_button.click()
    await wait_until(lambda: bool(queued), 10)
    return queued[0]


async def test_start_offline_with_the_pin_approve_then_the_ehr_comes_back(
    qtbot: QtBot,
    tmp_path: Path,
    scripted_browser: ScriptedBrowser,
    servers: list[RunningServer],
    workbenches: list[Workbench],
) -> None:
    port, db = free_port(), tmp_path / "ehr" / "sandbox.db"
    server = start_sandbox(tmp_path / "ehr", port=port, db=db)
    servers.append(server)
    site = Site(
        id="clinic", display_name="Clinic", fhir_base=server.fhir_base, client_id=server.client_id
    )
    # the day before: signed in online, the day kept, an offline PIN set
    first = workbench_for(workbenches, tmp_path, site)
    parts = await open_window(qtbot, first, site)
    parts.controller.signin_view.sign_in_button.click()
    await wait_until(lambda: parts.flow.site is not None, 60)
    online = site_of(parts)
    assert online.offline is not None
    day = await online.worklist.load()
    await online.offline.settle()
    kept = await online.offline.kept_encounters()
    visit = next(v for v in day.visits if v.encounter_id in kept)
    parts.tools.open_offline_pin()
    pin_dialog = parts.tools.offline_pin
    assert pin_dialog is not None
    pin_dialog.pin_edit.setText(PIN)
    pin_dialog.again_edit.setText(PIN)
    pin_dialog.save_button.click()
    await wait_until(lambda: pin_dialog.result() == QDialog.DialogCode.Accepted, 10)
    await parts.aclose()
    await first.aclose()  # quit (not sign out): the kept charts and session stay

    server.stop()  # the next morning the EHR cannot be reached
    again = workbench_for(workbenches, tmp_path, site)
    parts = await open_window(qtbot, again, site)
    view = parts.controller.signin_view
    await wait_until(lambda: view.offline_box.isVisibleTo(view), 30)
    view.pin_edit.setText(PIN)
    view.work_offline_button.click()
    await wait_until(lambda: parts.flow.site is not None, 30)
    offline = site_of(parts)
    assert offline.session.working_offline
    await wait_until(lambda: offline.worklist.current is not None, 30)
    shown = offline.worklist.current
    assert shown is not None and any(v.kept_offline for v in shown.visits)
    assert visit.encounter_id is not None
    commit = await approve(parts, visit.patient_id, visit.encounter_id)
    outbox = offline.outbox
    assert outbox.item(commit.commit_id).state is not OutboxState.CONFIRMED

    server = start_sandbox(tmp_path / "ehr", port=port, db=db)  # the EHR is back
    servers.append(server)

    def settled() -> bool:
        if parts.lock.locked:  # the EHR forgot the session: sign in at the lock's prompt
            parts.lock.page.unlock_button.click()
        return outbox.item(commit.commit_id).state is OutboxState.CONFIRMED

    await wait_until(settled, 150)
    assert not offline.session.working_offline
    note = next(w for w in commit.writes if w.resource_type == "DocumentReference")
    async with fhir_of(parts) as fhir:
        found = await fhir.search("DocumentReference", [note.search_param])
    assert len(found.resources) == 1  # in the EHR, exactly once
