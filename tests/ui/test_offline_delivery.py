"""Issue 5's "done when", as a person would do it with the embedded sandbox: sign in, edit a
note with a vital sign and a follow-up task, stop the sandbox (Sandbox menu), approve, see the
commit queued and retrying, start the sandbox again, see it confirmed — and exactly one note,
observation, task and Provenance for it in the EHR."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.bootstrap import Services
from app.domain.clinical import Reference
from app.domain.draft import ObservationItem, TaskItem
from app.domain.outbox import OutboxState
from app.paths import AppPaths
from app.sandbox.options import SandboxOptions
from app.sandbox.server import SandboxServer
from app.smart.sites import sandbox_site
from app.store.templates import load_templates
from tests.support.smart_fixtures import ScriptedBrowser
from tests.ui.test_end_to_end import signed_in_window, wait_until


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    paths = AppPaths(
        tmp_path / "data", tmp_path / "log", tmp_path / "cfg", tmp_path / "site"
    ).ensure()
    sandbox = SandboxServer(SandboxOptions(db_path=paths.data_dir / "sandbox" / "sandbox.db"))
    site = sandbox_site(sandbox.start())
    services = Services(paths=paths, sites=[site], templates=list(load_templates().templates))
    services.sandbox = sandbox
    yield services
    sandbox.close()
    for store in services.stores.values():
        store.close()


async def test_queued_while_the_ehr_is_down_then_confirmed_exactly_once(
    qtbot: QtBot, services: Services, scripted_browser: ScriptedBrowser
) -> None:
    window = await signed_in_window(qtbot, services)
    controller = window.controller  # type: ignore[attr-defined]
    workspace = window.workspace  # type: ignore[attr-defined]
    gate = window.gate  # type: ignore[attr-defined]
    stop_action, start_action = window.sandbox_actions  # type: ignore[attr-defined]
    await wait_until(lambda: gate.actx is not None, 60)
    await wait_until(lambda: window.current["runner"] is not None, 30)  # type: ignore[attr-defined]
    runner = window.current["runner"]  # type: ignore[attr-defined]
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
    assert not services.sandbox_running
    workspace.approve_button.click()
    dialog = gate.dialog
    assert dialog is not None
    if dialog.acknowledge is not None:
        dialog.acknowledge.setChecked(True)
    with qtbot.waitSignal(gate.queued, timeout=5000) as queued:
        dialog.approve_button.click()
    commit = queued.args[0]
    outbox = services.store_for(services.sites[0]).outbox

    def state() -> OutboxState:
        return outbox.item(commit.commit_id).state

    await wait_until(lambda: state() in (OutboxState.RETRY_WAIT, OutboxState.UNKNOWN_OUTCOME), 90)
    assert outbox.item(commit.commit_id).last_error  # the clinician sees why, in plain words
    assert runner.status.connectivity.value == "offline"

    start_action.trigger()  # the EHR is back; reconnection triggers a run
    await wait_until(lambda: state() is OutboxState.CONFIRMED, 90)

    fhir = services.fhir_for(controller.session)
    counts = {}
    for write in commit.writes:
        found = await fhir.search(write.resource_type, [write.search_param])
        counts[write.resource_type] = counts.get(write.resource_type, 0) + len(found.resources)
    expected = {"DocumentReference": 1, "Observation": 1, "Task": 1, "Provenance": 1}
    if "Composition" in counts:  # the sandbox declares Composition: the note is filed as both
        expected["Composition"] = 1
    assert counts == expected, counts
    await services.aclose()
