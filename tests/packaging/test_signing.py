"""Code signing: the build signs the app executables, uninstall.exe, the uninstaller, the
installer and the MSI when given a certificate (a PFX file, or a command for an HSM), with an
RFC 3161 timestamp server. Signed here with a throwaway self-signed certificate and verified
with osslsigncode (Debian); the timestamps come from a test TSA on 127.0.0.1."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.packaging.timestamp_server import timestamp_authority

REPO = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.skipif(shutil.which("makensis") is None, reason="apt-get install nsis"),
    pytest.mark.skipif(shutil.which("osslsigncode") is None, reason="apt-get install osslsigncode"),
    pytest.mark.skipif(shutil.which("openssl") is None, reason="apt-get install openssl"),
]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cert")
    subprocess.run(["bash", "packaging/make_test_cert.sh", str(folder)], cwd=REPO, check=True)
    return folder


def build(script: str, out: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", f"packaging/{script}", "--standin", "--out", str(out), *options],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )


def pfx(certificate: Path) -> tuple[str, ...]:
    return (
        "--sign-pfx",
        str(certificate / "cert.pfx"),
        "--sign-password-file",
        str(certificate / "password.txt"),
    )


def verify(file: Path, certificate: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    ca = str(certificate / "cert.pem")
    return subprocess.run(
        ["osslsigncode", "verify", "-CAfile", ca, *extra, "-in", str(file)],
        capture_output=True,
        text=True,
    )


def test_the_installer_is_signed_and_a_changed_byte_breaks_the_signature(
    tmp_path: Path, certificate: Path
) -> None:
    out = tmp_path / "fhir-writeback-setup.exe"
    proc = build("build_installer.sh", out, *pfx(certificate))
    assert proc.returncode == 0, proc.stderr
    checked = verify(out, certificate)
    assert "Signature verification: ok" in checked.stdout, checked.stdout + checked.stderr

    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the compressed payload
    tampered = tmp_path / "tampered-setup.exe"
    tampered.write_bytes(bytes(data))
    assert "Signature verification: ok" not in verify(tampered, certificate).stdout


def test_a_signing_command_signs_every_program_the_build_makes(
    tmp_path: Path, certificate: Path
) -> None:
    """--sign-command is the HSM path: the build hands each file to it (here osslsigncode
    with the throwaway PFX, and a list of what it was given)."""
    signed = tmp_path / "signed.txt"
    command = (
        f'echo "$(basename "$1")" >> {signed} && osslsigncode sign -pkcs12 {certificate}/cert.pfx'
        f' -readpass {certificate}/password.txt -h sha256 -in "$1" -out "$1.s" >/dev/null'
        ' && mv "$1.s" "$1"'
    )
    out = tmp_path / "fhir-writeback-setup.exe"
    proc = build("build_installer.sh", out, "--sign-command", command)
    assert proc.returncode == 0, proc.stderr
    names = signed.read_text(encoding="utf-8").split()
    assert names[:3] == ["fhir-writeback.exe", "fhir-writeback-cli.exe", "uninstall.exe"]
    assert len(names) == 5, names  # + the uninstaller (a temporary name) and the installer
    assert names[-1] == out.name
    assert "Signature verification: ok" in verify(out, certificate).stdout

    msi = tmp_path / "fhir-writeback-x64.msi"
    proc = build("build_msi.sh", msi, "--sign-command", command)
    assert proc.returncode == 0, proc.stderr
    assert signed.read_text(encoding="utf-8").split()[-1] == "out.msi"
    assert "Signature verification: ok" in verify(msi, certificate).stdout


@pytest.mark.skipif(shutil.which("wixl") is None, reason="apt-get install wixl msitools")
def test_signatures_carry_a_timestamp_from_the_given_server(
    tmp_path: Path, certificate: Path
) -> None:
    (tmp_path / "tsa").mkdir()
    with timestamp_authority(tmp_path / "tsa") as tsa:
        out = tmp_path / "fhir-writeback-setup.exe"
        proc = build("build_installer.sh", out, *pfx(certificate), "--timestamp-url", tsa.url)
        assert proc.returncode == 0, proc.stderr
        msi = tmp_path / "fhir-writeback-x64.msi"
        proc = build("build_msi.sh", msi, *pfx(certificate), "--timestamp-url", tsa.url)
        assert proc.returncode == 0, proc.stderr
        assert len(tsa.requests) == 6  # app, CLI, uninstall.exe, uninstaller, installer; MSI
    for signed in (out, msi):
        checked = verify(signed, certificate, "-TSA-CAfile", str(tsa.certificate))
        assert "Timestamp Server Signature verification: ok" in checked.stdout, checked.stdout
        assert "Signature verification: ok" in checked.stdout


def test_a_wrong_password_fails_the_build_and_writes_no_installer(
    tmp_path: Path, certificate: Path
) -> None:
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the password", encoding="utf-8")
    out = tmp_path / "fhir-writeback-setup.exe"
    proc = build(
        "build_installer.sh",
        out,
        "--sign-pfx",
        str(certificate / "cert.pfx"),
        "--sign-password-file",
        str(wrong),
    )
    assert proc.returncode != 0
    assert "osslsigncode could not sign" in proc.stderr
    assert not out.exists()
