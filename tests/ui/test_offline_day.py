"""Issue 19's offline day, as a clinician would live it in the real main window with the
embedded sandbox: sign in (the day's charts are kept in the background), the EHR goes away,
open two kept encounters (the banner says "chart as of …, offline"), write and approve a note
on each (the dialog says it is an offline approval; the decision records it), a chart that was
never kept says so; the EHR comes back: both notes confirmed, each in the EHR exactly once (read
back over HTTP), and the open chart is read live again. Sign-out then removes every kept chart."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID

import pytest
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from app.bootstrap import build_workbench
from app.domain.commit import ApprovedCommit
from app.domain.outbox import OutboxState
from app.paths import AppPaths
from app.sandbox.options import SandboxOptions
from app.sandbox.server import SandboxServer
from app.services.workbench import Workbench
from app.smart.sites import sandbox_site
from app.ui.workbench import MainWindowParts
from app.ui.worklist_view import offline_words
from tests.support.smart_fixtures import ScriptedBrowser
from tests.ui.conftest import close_in_the_apps_order
from tests.ui.test_end_to_end import (
    fhir_of,
    signed_in_window,
    site_of,
    wait_until,
)

pytestmark = pytest.mark.slow


@pytest.fixture
async def workbench(tmp_path: Path, windows: list[MainWindowParts]) -> AsyncIterator[Workbench]:
    paths = AppPaths(
        tmp_path / "data", tmp_path / "log", tmp_path / "cfg", tmp_path / "site"
    ).ensure()
    sandbox = SandboxServer(SandboxOptions(db_path=paths.data_dir / "sandbox" / "sandbox.db"))
    site = sandbox_site(sandbox.start())
    opened = build_workbench(paths, [site], sandbox=sandbox)
    yield opened
    await close_in_the_apps_order(opened, windows)
    sandbox.close()


async def open_and_approve(parts: MainWindowParts, patient: str, encounter: str) -> UUID:
    workspace = parts.workspace
    parts.flow.open_chart(patient, encounter)
    await wait_until(
        lambda: (
            workspace.context is not None
            and workspace.context.encounter.id == encounter
            and workspace.drafts.draft is not None
            and workspace.drafts.draft.encounter.id == encounter
        ),
        30,
    )
    freshness = workspace.banner.freshness_label
    assert freshness.isVisibleTo(workspace) and freshness.text().startswith("Chart as of ")
    assert freshness.text().endswith(", offline")
    for key, edit in workspace.editor.section_edits.items():  # every section written
        if not edit.toPlainText().strip():
            edit.setPlainText(f"Offline {key} for {encounter}.")
    workspace.drafts.refresh_diff()
    await workspace.drafts.flush()
    earlier = workspace.approval_dialog
    await wait_until(lambda: workspace.approve_button.isEnabled(), 10)
    workspace.approve_button.click()
    await wait_until(lambda: workspace.approval_dialog not in (None, earlier), 10)
    dialog = workspace.approval_dialog
    assert dialog is not None and dialog.isVisible()
    marks = [w.text() for w in dialog.findChildren(QLabel, "offlineApproval")]
    assert marks and "approving offline" in marks[0]
    if dialog.acknowledge is not None:
        dialog.acknowledge.setChecked(True)
    queued: list[ApprovedCommit] = []
    parts.gate.queued.connect(queued.append)
    dialog.approve_button.click()
    await wait_until(lambda: bool(queued), 10)
    return queued[0].commit_id


async def test_an_offline_day_open_kept_charts_approve_reconnect_confirmed(
    qtbot: QtBot, workbench: Workbench, scripted_browser: ScriptedBrowser
) -> None:
    parts = await signed_in_window(qtbot, workbench)
    site = site_of(parts)
    assert site.offline is not None and parts.sandbox is not None
    worklist = await site.worklist.load()  # as the worklist page does after sign-in
    await site.offline.settle()
    kept = site.offline.last_report
    assert kept is not None and not kept.unreachable
    visits = [(v.patient_id, v.encounter_id) for v in worklist.visits if v.encounter_id]
    day = [v for v in visits if v in set(kept.kept) | set(kept.fresh)]
    assert len(day) >= 3, kept
    shown = site.worklist.current  # the worklist says which charts open without the EHR
    assert shown is not None
    assert {v.encounter_id for v in shown.visits if v.kept_offline} >= {e for _p, e in day}
    assert offline_words(next(v for v in shown.visits if v.kept_offline)) == "Kept"
    (p1, e1), (p2, e2) = day[0], day[1]
    assert p1 is not None and e1 is not None and p2 is not None and e2 is not None

    parts.sandbox.stop_action.trigger()  # the EHR goes away for the rest of the morning
    first = await open_and_approve(parts, p1, e1)
    second = await open_and_approve(parts, p2, e2)

    workspace = parts.workspace
    parts.flow.open_chart("pat-nowhere", "enc-nowhere")  # never kept
    await wait_until(lambda: "not kept on this computer" in workspace.error_label.text(), 30)

    outbox = site.outbox
    for commit_id in (first, second):
        assert outbox.item(commit_id).state is not OutboxState.CONFIRMED
        decision = json.loads(outbox.detail(commit_id).entry.decision_json or "{}")
        assert decision["chart_basis"]["source"] == "kept"  # approved offline, and on what

    parts.flow.open_chart(p2, e2)  # back on the second chart while waiting
    await wait_until(lambda: workspace.context is not None and workspace.context.encounter.id == e2)
    parts.sandbox.start_action.trigger()  # the EHR is back
    await wait_until(
        lambda: all(outbox.item(c).state is OutboxState.CONFIRMED for c in (first, second)), 120
    )
    await wait_until(lambda: not workspace.banner.freshness_label.isVisibleTo(workspace), 30)

    async with fhir_of(parts) as fhir:
        for commit_id in (first, second):
            entry = outbox.detail(commit_id).entry
            note = next(w for w in entry.commit.writes if w.resource_type == "DocumentReference")
            found = await fhir.search("DocumentReference", [note.search_param])
            assert len(found.resources) == 1, commit_id  # in the EHR, exactly once

    parts.workspace.sign_out_requested.emit()
    await wait_until(lambda: parts.flow.site is None, 30)
    await wait_until(lambda: not parts.flow.tasks.is_running("sign-out"), 30)
    assert await site.offline.kept_encounters() == set()
