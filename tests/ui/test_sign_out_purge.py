"""Sign-out in the real main window is a barrier for every writer of the chart cache: a chart
the clinician opened whose answer is still on its way (held at the fault proxy, the site's
configured proxy) is stopped before the kept charts are removed, and when the EHR's answer
arrives after the sign-out nothing is kept again (issue 19: 'day-20261207-02' once survived
a sign-out in tests/ui/test_offline_day.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.bootstrap import build_workbench
from app.paths import AppPaths
from app.sandbox.options import SandboxOptions
from app.sandbox.server import SandboxServer
from app.services.workbench import Workbench
from app.smart.sites import sandbox_site
from app.ui.workbench import MainWindowParts
from tests.support.fault_proxy import Fault, FaultProxy, ProxyRequest
from tests.support.smart_fixtures import ScriptedBrowser
from tests.ui.conftest import close_in_the_apps_order
from tests.ui.test_end_to_end import signed_in_window, site_of, wait_until

pytestmark = pytest.mark.slow


@dataclass
class Hold:
    """Holds the answers of chart reads (FHIR batches) while ``on``, until ``release``."""

    on: bool = False
    held: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def plan(self, request: ProxyRequest) -> Fault:
        if self.on and request.method == "POST" and b'"batch"' in request.body:
            self.held += 1
            return Fault.held(self.release)
        return Fault.pass_through()


async def test_a_chart_answered_after_sign_out_is_not_kept(
    qtbot: QtBot,
    tmp_path: Path,
    scripted_browser: ScriptedBrowser,
    windows: list[MainWindowParts],
) -> None:
    paths = AppPaths(
        tmp_path / "data", tmp_path / "log", tmp_path / "cfg", tmp_path / "site"
    ).ensure()
    sandbox = SandboxServer(SandboxOptions(db_path=paths.data_dir / "sandbox" / "sandbox.db"))
    fhir_base = sandbox.start()
    hold = Hold()
    try:
        async with FaultProxy(fhir_base.rsplit("/fhir", 1)[0], hold.plan) as proxy:
            site = replace(sandbox_site(fhir_base), proxy=proxy.base)
            workbench = build_workbench(paths, [site], sandbox=sandbox)
            try:
                await sign_out_while_a_chart_is_read(qtbot, workbench, hold)
            finally:  # passed or failed: the window's tasks, then the stores, inside the proxy
                hold.release.set()
                await close_in_the_apps_order(workbench, windows)
    finally:
        sandbox.close()


async def sign_out_while_a_chart_is_read(qtbot: QtBot, workbench: Workbench, hold: Hold) -> None:
    parts = await signed_in_window(qtbot, workbench)
    services = site_of(parts)
    offline = services.offline
    assert offline is not None
    patient = services.session.launch_patient_id
    encounter = services.session.launch_encounter_id
    assert patient is not None and encounter is not None
    assert encounter in await offline.kept_encounters()  # kept as it opened

    hold.on = True
    parts.flow.open_chart(patient, encounter)  # read again: its answer is held
    await wait_until(lambda: hold.held >= 1, 20)
    parts.workspace.sign_out_requested.emit()
    await wait_until(lambda: parts.flow.site is None, 30)
    await wait_until(lambda: not parts.flow.tasks.is_running("sign-out"), 30)
    assert not parts.flow.tasks.is_running("load-context")  # stopped, not left behind
    assert await offline.kept_encounters() == set()

    hold.release.set()  # the EHR's answer arrives after the sign-out
    await asyncio.sleep(1.0)
    await wait_until(lambda: not parts.flow.tasks.is_running("load-context"), 10)
    assert await offline.kept_encounters() == set()
