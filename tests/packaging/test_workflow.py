"""packaging/github-workflow-windows.yml: parses, and does what issue 18 asked of it. It has
not run on a real GitHub runner (see its header): these checks are what can be checked here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")
WORKFLOW = Path(__file__).resolve().parents[2] / "packaging" / "github-workflow-windows.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def steps(workflow: dict[str, Any], job: str) -> list[dict[str, Any]]:
    return list(workflow["jobs"][job]["steps"])


def run_text(workflow: dict[str, Any], job: str) -> str:
    return "\n".join(step.get("run", "") for step in steps(workflow, job))


def test_the_header_says_what_it_was_checked_against_and_that_it_never_ran() -> None:
    header = WORKFLOW.read_text(encoding="utf-8").split("\nname:")[0]
    assert "NOT RUN ON A REAL RUNNER" in header
    assert "Windows2022-Readme.md" in header and "NSIS 3.10" in header


def test_jobs_build_on_windows_then_the_msi_on_linux_then_test_it_on_windows(
    workflow: dict[str, Any],
) -> None:
    jobs = workflow["jobs"]
    assert jobs["windows"]["runs-on"] == "windows-2022"
    assert (jobs["msi"]["needs"], jobs["msi"]["runs-on"]) == ("windows", "ubuntu-24.04")
    assert (jobs["msi-windows"]["needs"], jobs["msi-windows"]["runs-on"]) == ("msi", "windows-2022")
    assert "bash packaging/build_msi.sh --bundle dist/fhir-writeback" in run_text(workflow, "msi")


def test_the_installer_is_built_with_the_stubs_windows_nsis_ships(workflow: dict[str, Any]) -> None:
    text = run_text(workflow, "windows")
    assert text.count("build_installer.sh --target x86-unicode") == 2
    assert "choco install nsis" in text  # only when the image's NSIS is missing


def test_the_installed_app_runs_once_on_the_real_windows_platform_with_a_screenshot(
    workflow: dict[str, Any],
) -> None:
    job = workflow["jobs"]["windows"]
    assert "QT_QPA_PLATFORM" not in job.get("env", {})
    assert "QT_QPA_PLATFORM" not in workflow.get("env", {})
    text = run_text(workflow, "windows")
    assert "Remove-Item Env:QT_QPA_PLATFORM" in text
    assert 'Start-Process "$dir\\fhir-writeback.exe" -PassThru' in text
    assert "CopyFromScreen" in text and ".png" in text
    uploads = [
        s for s in steps(workflow, "windows") if s.get("with", {}).get("path") == "artifacts/*.png"
    ]
    assert uploads and uploads[0]["if"] == "always()"


def test_upgrades_check_display_version_and_exit_codes(workflow: dict[str, Any]) -> None:
    text = run_text(workflow, "windows")
    assert (
        "(Get-ItemProperty $key).DisplayVersion -ne '${{ steps.version.outputs.upgrade }}'" in text
    )
    for expected in ("Run $upgrade @('/S') 1618", "Run $upgrade @('/S', '/CLOSEAPP') 3010"):
        assert expected in text
    assert "Run \"$dir\\uninstall.exe\" @('/S') 0" in text
    assert "still there when the uninstaller returned" in text  # no polling any more


@pytest.mark.parametrize("job", ["windows", "msi-windows"])
def test_logs_are_uploaded_when_a_windows_job_fails(workflow: dict[str, Any], job: str) -> None:
    on_failure = [s for s in steps(workflow, job) if s.get("if") == "failure()"]
    assert any("uses" in s and s["uses"].startswith("actions/upload-artifact") for s in on_failure)
    assert any("fhir-writeback-*.log" in s.get("run", "") for s in on_failure)
