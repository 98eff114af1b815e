"""The MSI package (packaging/build_msi.sh, wixl): its tables read back with msiinfo, and
msiexec under wine (packaging/test_msi_wine.sh, marked slow)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
needs_msitools = pytest.mark.skipif(
    shutil.which("wixl") is None or shutil.which("msiinfo") is None,
    reason="apt-get install wixl msitools",
)
needs_makensis = pytest.mark.skipif(shutil.which("makensis") is None, reason="apt-get install nsis")


def build_msi(out: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "packaging/build_msi.sh", "--standin", "--out", str(out), *options],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def table(msi: Path, name: str) -> list[list[str]]:
    text = subprocess.run(
        ["msiinfo", "export", str(msi), name], capture_output=True, text=True, check=True
    ).stdout
    return [line.split("\t") for line in text.replace("\r", "").splitlines()[3:]]


def properties(msi: Path) -> dict[str, str]:
    return {row[0]: row[1] for row in table(msi, "Property")}


@pytest.fixture(scope="module")
def msi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("msi") / "fhir-writeback-1.2.0rc1-x64.msi"
    proc = build_msi(out, "--version", "1.2.0rc1", "--help-url", "https://help.example.org/")
    assert proc.returncode == 0, proc.stderr
    return out


@needs_msitools
@needs_makensis
def test_a_per_machine_64_bit_package_with_the_version_and_icon(msi: Path) -> None:
    found = properties(msi)
    assert found["ALLUSERS"] == "1"
    assert found["ProductVersion"] == "1.2.0"  # MSI keeps X.Y.Z; the full version is below
    assert found["UpgradeCode"].lower() == "{8f2b7d3e-4c1a-4e7b-9a55-1d6c0e3f2a71}"
    assert (
        found["ARPPRODUCTICON"] == "AppIcon" and found["ARPHELPLINK"] == "https://help.example.org/"
    )
    assert "SITECONFIG" in found["SecureCustomProperties"].split(";")
    summary = subprocess.run(["msiinfo", "suminfo", str(msi)], capture_output=True, text=True)
    assert "Template: x64;1033" in summary.stdout
    registry = {
        row[3]: row[4] for row in table(msi, "Registry") if row[2] == r"Software\fhir-writeback"
    }
    assert registry["Version"] == "1.2.0rc1" and registry["InstalledBy"] == "msi"
    assert registry["VersionKey"] == "00001.00002.00000.00000.3000000001.0000000000.1000000000"


@needs_msitools
@needs_makensis
def test_same_release_upgrades_and_the_pep_440_key_refuses_going_back(msi: Path) -> None:
    upgrade = {row[-1]: row for row in table(msi, "Upgrade")}
    assert upgrade["OLDERFOUND"][1:3] == ["0.0.0", "1.2.1"]  # up to 1.2.0 inclusive
    assert upgrade["NEWERFOUND"][1:3] == ["1.2.0", ""]
    conditions = {row[0]: row[1] for row in table(msi, "LaunchCondition")}
    key = "00001.00002.00000.00000.3000000001.0000000000.1000000000"
    assert f'Installed OR NOT INSTALLEDVERSIONKEY OR INSTALLEDVERSIONKEY <= "{key}"' in conditions
    assert "Installed OR NOT EXEINSTALLEDVERSION" in conditions
    sequence = {row[0]: int(row[2]) for row in table(msi, "InstallExecuteSequence")}
    assert sequence["RemoveExistingProducts"] < sequence["InstallInitialize"]


@needs_msitools
@needs_makensis
def test_siteconfig_acl_and_cleanup_custom_actions(msi: Path) -> None:
    actions = {row[0]: row for row in table(msi, "CustomAction")}
    sequence = {row[0]: (row[1], int(row[2])) for row in table(msi, "InstallExecuteSequence")}
    deferred_as_system = 0x400 | 0x800
    for name in ("LockSiteConfigOwner", "LockSiteConfigAcl", "InstallSiteConfig"):
        assert int(actions[name][1]) & deferred_as_system == deferred_as_system, name
        assert sequence[name][0] == (
            "SITECONFIG AND NOT REMOVE" if name == "InstallSiteConfig" else "NOT REMOVE"
        )
    assert actions["InstallSiteConfig"][2:4] == [
        "CliExe",
        'sites install "[SITECONFIG]" "--target-dir=[SITECONFIGDIR]." '
        '"--log=[TempFolder]fhir-writeback-setup.log"',
    ]
    assert "/inheritance:r" in actions["LockSiteConfigAcl"][3]
    assert sequence["CreateFolders"][1] < sequence["LockSiteConfigAcl"][1]
    assert (
        sequence["InstallFiles"][1]
        < sequence["InstallSiteConfig"][1]
        < sequence["InstallFinalize"][1]
    )
    assert sequence["RemoveSiteConfig"][0] == 'REMOVE="ALL" AND NOT UPGRADINGPRODUCTCODE'
    assert sequence["FindIcacls"][1] < sequence["InstallInitialize"][1]


def test_component_guids_stay_the_same_from_build_to_build(tmp_path: Path) -> None:
    """Stable per-path GUIDs keep Windows Installer's component rules across versions."""
    sys.path.insert(0, str(REPO / "packaging"))
    from msi import make_wxs  # type: ignore[import-not-found]

    bundle = tmp_path / "bundle"
    (bundle / "_internal").mkdir(parents=True)
    for name in ("fhir-writeback.exe", "fhir-writeback-cli.exe", "_internal/base.dll"):
        (bundle / name).write_bytes(b"x")
    first = make_wxs.wxs(bundle, make_wxs.Version.parse("1.0.0"), "1.0.0", "", "")
    second = make_wxs.wxs(bundle, make_wxs.Version.parse("2.0.0"), "2.0.0", "", "")
    guids = [line for line in first.splitlines() if "Guid=" in line]
    assert guids and guids == [line for line in second.splitlines() if "Guid=" in line]
    assert 'Source="bundle/_internal/base.dll"' in first


@needs_msitools
def test_a_folder_without_the_programs_is_refused(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            "bash",
            "packaging/build_msi.sh",
            "--bundle",
            str(tmp_path),
            "--out",
            str(tmp_path / "x.msi"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "No bundle at" in proc.stderr


@pytest.mark.slow
@pytest.mark.timeout(300)
@needs_msitools
@needs_makensis
@pytest.mark.skipif(
    shutil.which("wine64") is None and not Path("/usr/lib/wine/wine64").exists(),
    reason="64-bit wine not installed (apt-get install wine64)",
)
def test_msiexec_install_upgrade_refusals_and_removal_under_wine() -> None:
    """packaging/test_msi_wine.sh: about 30 s here; 41 checks listed in its output."""
    proc = subprocess.run(
        ["bash", "packaging/test_msi_wine.sh"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = proc.stdout.strip().splitlines()[-1]
    assert summary.startswith("wine MSI test:") and ", 0 failed" in summary, proc.stdout
