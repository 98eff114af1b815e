"""Issue 15, item 4: nothing is imported before it is needed. The real app runs in its own
process (offscreen); when its sign-in window first paints, neither the sandbox nor the store
stack has been imported with a configured EHR. The store opens right after. With the embedded
sandbox, only its port is reserved before the paint: the server starts after it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PROBE = REPO / "tests" / "support" / "startup_probe.py"
NOT_BEFORE_THE_WINDOW = ("app.sandbox", "flask", "sqlalchemy", "alembic")
# The embedded sandbox's server and what it runs on: started once the window has painted.
SANDBOX_SERVER = ("app.sandbox", "flask", "werkzeug", "waitress", "authlib", "joserfc")
# What the sign-in page does not need: built once it has painted (app.ui.signin_window).
AFTER_THE_PAINT = (
    *("app.ui.workbench", "app.ui.workspace", "app.ui.outbox_dock", "app.ui.worklist_flow"),
    *("app.ui.menus", "app.ui.my_week", "app.ui.audit_viewer", "app.ui.approval"),
    *("app.services.outbox", "app.services.chart", "app.services.terminology", "app.sync.runner"),
    *("pyqtgraph", "fhir", "pydantic", "rapidfuzz", "dateparser", "msgspec"),
    *("rich", "click", "pygments"),  # httpx's own command line (app/main.py keeps it out)
)


def run_app(tmp_path: Path, *app_args: str) -> dict[str, Any]:
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, str(PROBE), str(report), str(tmp_path), "--", *app_args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "PYTHONPATH": str(REPO),
            "QT_QPA_PLATFORM": "offscreen",
            "XDG_STATE_HOME": str(tmp_path / "state"),  # the app's log folder
        },
    )
    assert result.returncode == 0, result.stderr
    assert report.exists(), f"the window never painted: {result.stderr}"
    loaded: dict[str, Any] = json.loads(report.read_text())
    return loaded


def loaded_of(report: dict[str, Any], package: str) -> list[str]:
    return [m for m in report["modules"] if m == package or m.startswith(package + ".")]


@pytest.fixture
def sites_file(tmp_path: Path) -> Path:
    path = tmp_path / "sites.toml"
    path.write_text(
        "[sites.clinic]\n"
        'display_name = "Clinic"\n'
        'fhir_base = "https://ehr.clinic.invalid/fhir"\n'
        'client_id = "fhir-writeback"\n',
        encoding="utf-8",
    )
    return path


def test_with_a_configured_ehr_the_window_paints_before_the_sandbox_and_the_store_load(
    tmp_path: Path, sites_file: Path
) -> None:
    data = tmp_path / "data"
    report = run_app(tmp_path, "--sites-file", str(sites_file), "--data-dir", str(data))
    assert "app.ui.signin_view" in report["modules"]  # the probe saw the real window
    for package in NOT_BEFORE_THE_WINDOW:
        assert loaded_of(report, package) == [], f"{package} loaded before the window"
    # ... and the store was opened once the window was up (its file and first backup exist)
    assert (data / "sites" / "clinic" / "store.db").exists()


def test_the_sign_in_window_paints_before_the_rest_of_the_window_loads(
    tmp_path: Path, sites_file: Path
) -> None:
    data = tmp_path / "data"
    report = run_app(tmp_path, "--sites-file", str(sites_file), "--data-dir", str(data))
    assert "app.ui.signin_window" in report["modules"]
    early = {package: loaded_of(report, package) for package in AFTER_THE_PAINT}
    assert {p: m for p, m in early.items() if m} == {}, "loaded before the first paint"
    assert "app.embedded_sandbox" in report["modules"]  # its port reserved, the site listed
    assert "ready_seconds" in report  # the window answered after it painted (then closed)


def test_the_embedded_sandbox_starts_once_the_window_has_painted(
    tmp_path: Path, sites_file: Path
) -> None:
    data = tmp_path / "data"
    args = ("--sites-file", str(sites_file), "--data-dir", str(data), "--sandbox")
    report = run_app(tmp_path, *args)
    assert "app.ui.signin_view" in report["modules"]
    early = {p: loaded_of(report, p) for p in (*SANDBOX_SERVER, "sqlalchemy", "alembic")}
    assert {p: m for p, m in early.items() if m} == {}, "loaded before the first paint"
    assert "app.embedded_sandbox" in report["modules"]  # its port reserved, the site listed
    assert (data / "sandbox" / "sandbox.db").exists()  # ... and it ran after the paint
    # once seeded (the first start checks the seed with them), its FHIR R4B models (pydantic)
    # load with the first write it validates, after the paint
    again = run_app(tmp_path, *args)
    assert loaded_of(again, "app.sandbox") == [] and loaded_of(again, "flask") == []
    assert loaded_of(again, "fhir") == [] and loaded_of(again, "pydantic") == []
