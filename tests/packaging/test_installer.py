"""installer.nsi compiles with makensis, and the wine end-to-end test passes.

Linux cannot build the Windows bundle (PyInstaller does not cross-compile), so these compile
the real installer.nsi against a stand-in bundle of the same shape (a tiny real 64-bit Windows
program named fhir-writeback.exe / fhir-writeback-cli.exe plus an _internal/ folder), made by
``packaging/build_installer.sh --standin``. The Windows workflow compiles it against the real
bundle (packaging/github-workflow-windows.yml).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]

needs_makensis = pytest.mark.skipif(
    shutil.which("makensis") is None,
    reason="makensis not installed (Debian package nsis: apt-get install nsis)",
)


def wine64() -> str | None:
    found = shutil.which("wine64")
    if found:
        return found
    return "/usr/lib/wine/wine64" if Path("/usr/lib/wine/wine64").exists() else None


def build_installer(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "packaging/build_installer.sh", "--standin", "--out", str(out), *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def makensis(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["makensis", "-V2", *args, "installer.nsi"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


@needs_makensis
def test_installer_compiles_with_the_version_from_pyproject(tmp_path: Path) -> None:
    out = tmp_path / "fhir-writeback-setup.exe"  # plain "setup.exe" gets Windows compat shims
    proc = build_installer(out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == str(out)
    data = out.read_bytes()
    assert data[:2] == b"MZ", "not a Windows executable"
    assert b"PE\0\0d\x86" in data[:1024], "not a 64-bit (amd64) installer"
    # The version resource (Programs and Features, file properties) carries the version.
    assert f"{VERSION}".encode("utf-16-le") in data


@needs_makensis
def test_prerelease_versions_get_a_four_number_file_version(tmp_path: Path) -> None:
    out = tmp_path / "fhir-writeback-rc-setup.exe"
    proc = build_installer(out, "--version", "1.2.3rc1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = out.read_bytes()
    assert "1.2.3rc1".encode("utf-16-le") in data
    assert fixed_file_version(data) == (1, 2, 3, 0)


def fixed_file_version(data: bytes) -> tuple[int, int, int, int]:
    """FileVersion of the VS_FIXEDFILEINFO block (signature 0xFEEF04BD)."""
    at = data.index(struct.pack("<I", 0xFEEF04BD))
    _, _, ms, ls = struct.unpack_from("<IIII", data, at)
    return ms >> 16, ms & 0xFFFF, ls >> 16, ls & 0xFFFF


@needs_makensis
def test_compiling_without_a_version_says_how_to_pass_it() -> None:
    proc = makensis()
    assert proc.returncode != 0
    assert "Pass the version: makensis /DVERSION=" in proc.stdout + proc.stderr


@needs_makensis
def test_compiling_without_a_bundle_says_what_to_build(tmp_path: Path) -> None:
    proc = makensis("-DVERSION=1.0.0", f"-DBUNDLE_DIR={tmp_path / 'missing'}")
    assert proc.returncode != 0
    assert "No bundle at" in proc.stdout + proc.stderr


@needs_makensis
def test_compiling_without_the_uninstall_launcher_says_how_to_build_it(tmp_path: Path) -> None:
    (tmp_path / "fhir-writeback.exe").write_bytes(b"MZ")
    proc = makensis("-DVERSION=1.0.0", f"-DBUNDLE_DIR={tmp_path}")
    assert proc.returncode != 0
    assert "Pass /DUNINSTALL_LAUNCHER=" in proc.stdout + proc.stderr


@needs_makensis
def test_a_version_that_is_not_canonical_pep_440_is_refused(tmp_path: Path) -> None:
    proc = build_installer(tmp_path / "fhir-writeback-setup.exe", "--version", "1.2.3-rc.1")
    assert proc.returncode == 2
    assert "'1.2.3-rc.1' is not a canonical PEP 440 version" in proc.stderr
    assert not (tmp_path / "fhir-writeback-setup.exe").exists()


@needs_makensis
def test_the_x86_build_for_windows_nsis_compiles(tmp_path: Path) -> None:
    """NSIS for Windows (the workflow's) has only x86 stubs: a 32-bit installer that writes
    the 64-bit registry view (SetRegView 64) and installs into Program Files (not x86)."""
    out = tmp_path / "fhir-writeback-x86-setup.exe"
    proc = build_installer(out, "--target", "x86-unicode")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert b"PE\0\0L\x01" in out.read_bytes()[:1024], "not a 32-bit (i386) installer"
    script = (REPO / "installer.nsi").read_text(encoding="utf-8")
    assert script.count("SetRegView 64") == 2  # installer and uninstaller
    assert 'InstallDir "$PROGRAMFILES64\\${APP_NAME}"' in script


@pytest.mark.slow
@pytest.mark.timeout(600)
@needs_makensis
@pytest.mark.skipif(wine64() is None, reason="64-bit wine not installed (apt-get install wine64)")
@pytest.mark.skipif(shutil.which("osslsigncode") is None, reason="apt-get install osslsigncode")
def test_silent_install_upgrade_and_uninstall_under_wine() -> None:
    """packaging/test_wine.sh: 60-100 s here; its 105 checks are listed in its output: exit
    codes, /SITECONFIG= validation, rollback, PEP 440 order, signatures, ACL commands, logs."""
    proc = subprocess.run(
        ["bash", "packaging/test_wine.sh"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=580,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = proc.stdout.strip().splitlines()[-1]
    assert summary.startswith("wine installer test:") and ", 0 failed" in summary, proc.stdout
