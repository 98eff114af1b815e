"""Issue 5's "done when", as a person would do it with the embedded sandbox: sign in, edit a
note with a vital sign and a follow-up task, stop the sandbox (Sandbox menu), approve, see the
commit queued and retrying, start the sandbox again, see it confirmed — and exactly one note,
observation, task and Provenance for it in the EHR."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.bootstrap import build_workbench
from app.domain.clinical import Reference
from app.domain.draft import ObservationItem, TaskItem
from app.domain.outbox import OutboxState
from app.paths import AppPaths
from app.sandbox.options import SandboxOptions
from app.sandbox.server import SandboxServer
from app.services.workbench import Workbench
from app.smart.sites import sandbox_site
from app.ui.workbench import MainWindowParts
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


async def test_queued_while_the_ehr_is_down_then_confirmed_exactly_once(
    qtbot: QtBot, workbench: Workbench, scripted_browser: ScriptedBrowser
) -> None:
    parts = await signed_in_window(qtbot, workbench)
    workspace = parts.workspace
    assert parts.sandbox is not None and workbench.sandbox is not None
    stop_action, start_action = parts.sandbox.stop_action, parts.sandbox.start_action
    site = site_of(parts)
    await wait_until(lambda: site.outbox.sending, 30)
    drafts = workspace.drafts

    workspace.editor.section_edits["plan"].setPlainText("Recheck blood pressure in 2 weeks.")
    drafts.edit_item(
        ObservationItem(
            "hr",
            "8867-4",
            "Heart rate",
            Decimal("72"),
            "/min",
            effective=datetime.now(UTC) - timedelta(minutes=2),
        )
    )
    drafts.edit_item(
        TaskItem(
            "t",
            "Recheck blood pressure",
            Reference("Practitioner", "prac-1"),
            date.today() + timedelta(days=14),
        )
    )
    drafts.refresh_diff()

    stop_action.trigger()  # the EHR goes away
    assert not workbench.sandbox.running
    commit = await approve_in_the_dialog(parts)
    outbox = site.outbox

    def state() -> OutboxState:
        return outbox.item(commit.commit_id).state  # type: ignore[attr-defined]

    await wait_until(lambda: state() in (OutboxState.RETRY_WAIT, OutboxState.UNKNOWN_OUTCOME), 90)
    assert outbox.item(commit.commit_id).last_error  # type: ignore[attr-defined]
    status = outbox.status
    assert status is not None and status.connectivity.value == "offline"

    start_action.trigger()  # the EHR is back; reconnection triggers a run
    await wait_until(lambda: state() is OutboxState.CONFIRMED, 90)

    async with fhir_of(parts) as fhir:
        counts = {}
        for write in commit.writes:  # type: ignore[attr-defined]
            found = await fhir.search(write.resource_type, [write.search_param])
            counts[write.resource_type] = counts.get(write.resource_type, 0) + len(found.resources)
        expected = {"DocumentReference": 1, "Observation": 1, "Task": 1, "Provenance": 1}
        if "Composition" in counts:  # the sandbox declares Composition: the note is filed as both
            expected["Composition"] = 1
        assert counts == expected, counts
