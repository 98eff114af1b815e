"""pytest-qt tests of the sign-in view (errors in plain words, cancel) and of the patient and
encounter picker, against the sandbox over real HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.bootstrap import build_workbench
from app.domain.site import Site
from app.fhir.client import FhirClient
from app.fhir.patient_search import list_encounters, search_patients
from app.paths import AppPaths
from app.services.workbench import Workbench
from app.ui.patient_picker import PatientPicker
from app.ui.signin_model import SignInViewModel
from app.ui.signin_view import SignInView
from app.ui.workbench import build_main_window
from tests.support.servers import RunningServer
from tests.support.smart_fixtures import ScriptedBrowser
from tests.ui.test_end_to_end import wait_until


@pytest.fixture
def workbench(sandbox_workbench: Workbench) -> Workbench:
    return sandbox_workbench  # closed after the windows at the test's end (tests/ui/conftest.py)


async def test_unreachable_ehr_is_explained_and_the_view_is_usable_again(
    qtbot: QtBot, tmp_path: Path, workbenches: list[Workbench]
) -> None:
    from tests.support.servers import free_port

    site = Site(
        id="down",
        display_name="Clinic EHR",
        fhir_base=f"http://127.0.0.1:{free_port()}/fhir",
        client_id="fhir-writeback",
    )
    paths = AppPaths(tmp_path / "d", tmp_path / "l", tmp_path / "c", tmp_path / "s").ensure()
    workbench = build_workbench(paths, [site])
    workbenches.append(workbench)
    model = SignInViewModel(workbench.sites, workbench.directory.session)
    view = SignInView(model)
    qtbot.addWidget(view)
    view.show()
    ok = await model.sign_in(site)
    assert not ok
    assert view.error_label.isVisible()
    text = view.error_label.text()
    assert "cannot be reached" in text and "try again" in text  # what happened, what to do
    assert view.sign_in_button.isEnabled() and not view.cancel_button.isEnabled()


async def test_cancel_while_the_browser_is_open(
    qtbot: QtBot, workbench: Workbench, scripted_browser: ScriptedBrowser
) -> None:
    parts = build_main_window(workbench)
    qtbot.addWidget(parts.window)
    controller = parts.controller
    for name in ("controller", "tasks", "workspace", "lock", "gate", "current", "outbox"):
        assert not hasattr(parts.window, name)  # tests get the parts, the window stays a window
    view = controller.signin_view
    await wait_until(lambda: not controller.tasks.is_running("sign-in"))
    scripted_browser.mode("ignore")  # the clinician never finishes in the browser
    view.sign_in_button.click()
    await wait_until(lambda: view.cancel_button.isEnabled(), 15)
    assert not view.sign_in_button.isEnabled()
    view.cancel_button.click()
    await wait_until(lambda: view.sign_in_button.isEnabled(), 15)
    assert "cancel" in view.progress_label.text().lower()
    assert controller.session is None


async def test_escape_cancels_the_sign_in_the_browser_is_open_for(
    qtbot: QtBot, workbench: Workbench, scripted_browser: ScriptedBrowser
) -> None:
    """Keyboard first (issue 13 walk-through): Enter signs in, and with the list disabled while
    the browser is waited for the keyboard had nowhere to go; Cancel takes it, Esc cancels."""
    parts = build_main_window(workbench)
    qtbot.addWidget(parts.window)
    parts.window.show()
    qtbot.waitActive(parts.window)
    controller = parts.controller
    view = controller.signin_view
    await wait_until(lambda: not controller.tasks.is_running("sign-in"))
    scripted_browser.mode("ignore")
    qtbot.keyClick(view.site_list, Qt.Key.Key_Return)
    await wait_until(lambda: view.cancel_button.isEnabled(), 15)
    assert view.cancel_button.hasFocus()
    qtbot.keyClick(view.cancel_button, Qt.Key.Key_Escape)
    await wait_until(lambda: view.sign_in_button.isEnabled(), 15)
    assert "cancel" in view.progress_label.text().lower()
    assert view.site_list.hasFocus() and controller.session is None


async def test_the_status_bar_names_the_ehr_chosen_on_the_sign_in_page(
    qtbot: QtBot, tmp_path: Path, workbenches: list[Workbench]
) -> None:
    """Issue 13: the status bar said "No EHR selected" while the only EHR was highlighted in
    the list; it names the chosen EHR, and follows the choice."""
    sites = [
        Site(id=i, display_name=name, fhir_base=f"https://{i}.example/fhir", client_id="app")
        for i, name in (("clinic", "Clinic EHR"), ("training", "Training EHR"))
    ]
    paths = AppPaths(tmp_path / "d", tmp_path / "l", tmp_path / "c", tmp_path / "s").ensure()
    workbench = build_workbench(paths, sites)
    workbenches.append(workbench)
    parts = build_main_window(workbench)
    qtbot.addWidget(parts.window)
    assert parts.window.site_label.text() == str(sites[0])  # highlighted at the start
    parts.controller.signin_view.site_list.setCurrentRow(1)
    assert parts.window.site_label.text() == str(sites[1])


async def test_patient_search_and_encounter_picker(
    qtbot: QtBot, sandbox_server: RunningServer
) -> None:
    from tests.support.launch import discover, standalone_launch

    async with httpx.AsyncClient() as http:
        with httpx.Client() as sync_http:
            cfg = discover(sync_http, sandbox_server.fhir_base)
            launch = standalone_launch(
                sync_http,
                cfg,
                client_id=sandbox_server.client_id,
                scope="openid fhirUser user/*.rs",
            )
        token = launch.token["access_token"]

        class Bearer(httpx.Auth):
            def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
                request.headers["Authorization"] = f"Bearer {token}"
                yield request

        fhir = FhirClient(http, sandbox_server.fhir_base, auth=Bearer())

        async def search(name, birth, mrn):  # type: ignore[no-untyped-def]
            return list((await search_patients(fhir, name=name, birthdate=birth, mrn=mrn)).items)

        async def encounters(pid):  # type: ignore[no-untyped-def]
            return list((await list_encounters(fhir, pid)).items)

        started: list[object] = []
        picker = PatientPicker(search, encounters, lambda name, coro: started.append(coro))
        qtbot.addWidget(picker)
        picker.birth_edit.setText("12/04/1968")
        await picker.search()
        assert "YYYY-MM-DD" in picker.error.text()  # wrong date format explained

        picker.birth_edit.setText("")
        picker.name_edit.setText("Garcia")
        await picker.search()
        assert picker.patient_table.rowCount() >= 1
        assert picker.patient_table.item(0, 0).text() == "Maria Elena Garcia"
        picker.patient_table.selectRow(0)
        await started.pop()  # the encounter list the selection started
        assert picker.encounter_table.rowCount() >= 1 and picker.open_button.isEnabled()
        n = picker.encounter_table.rowCount()  # "1 encounter", never "1 encounter(s)"
        assert (
            picker.status.text()
            == f"{n} encounter{'s' if n != 1 else ''}: choose one and press Open."
        )
        with qtbot.waitSignal(picker.chosen, timeout=2000) as chosen:
            picker.open_button.click()
        patient, encounter = chosen.args
        assert patient.id == "pat-1" and encounter.id == "enc-1"  # newest first
        for coro in started:
            coro.close()  # type: ignore[attr-defined]
