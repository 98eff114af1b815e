"""`fhir-writeback check` and `login` against both EHRs, a closed port and a broken file."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend

from app.cli import main
from app.smart.keyring_store import RefreshTokenStore
from tests.support.servers import RunningServer, free_port
from tests.support.smart_fixtures import ScriptedBrowser, keep_test_keyring


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err, accept_keyring=keep_test_keyring)
    return code, out.getvalue(), err.getvalue()


def sites_file(tmp_path: Path, server: RunningServer) -> Path:
    path = tmp_path / "sites.toml"
    path.write_text(
        f'[sites.{server.name}]\ndisplay_name = "{server.name} EHR"\nfhir_base = "{server.fhir_base}"\n'
        f'client_id = "{server.client_id}"\nredirect_path = "{server.redirect_path}"\n',
        encoding="utf-8",
    )
    return path


def test_check_reports_a_usable_site(ehr: RunningServer, tmp_path: Path) -> None:
    code, out, err = run(
        "check", "--site", ehr.name, "--sites-file", str(sites_file(tmp_path, ehr))
    )
    assert code == 0, out + err
    assert "Result: usable by FHIR Write-back." in out
    for line in ("Sign-in discovery", "PKCE", "S256 supported", "FHIR version", "4.0.1",
                 "DocumentReference create", "Transaction bundles"):  # fmt: skip
        assert line in out
    assert "[FAIL]" not in out


def test_check_by_url(ehr: RunningServer) -> None:
    code, out, _ = run("check", "--fhir-base", ehr.fhir_base, "--client-id", ehr.client_id)
    assert code == 0 and "Capabilities" in out and "launch-standalone" in out


def test_check_closed_port_fails_readably() -> None:
    code, out, _ = run("check", "--fhir-base", f"http://127.0.0.1:{free_port()}/fhir")
    assert code == 1
    assert "[FAIL] Reachable" in out and "cannot be reached" in out
    assert "Result: NOT usable" in out


def test_check_refuses_plain_http_to_another_host() -> None:
    code, _, err = run("check", "--fhir-base", "http://ehr.example.org/fhir")
    assert code == 2 and "must use https://" in err


def test_broken_sites_file_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "sites.toml"
    path.write_text(
        '[sites.a]\ndisplay_name = "A"\nfhir_base = "https://e/fhir"\nclient_id = "c"\ntimeout = 3\n'
    )
    code, _, err = run("check", "--site", "a", "--sites-file", str(path))
    assert code == 2
    assert str(path) in err and "sites.a.timeout" in err and "unknown key" in err


def test_unknown_site_lists_the_configured_ones(ehr: RunningServer, tmp_path: Path) -> None:
    code, _, err = run("check", "--site", "nope", "--sites-file", str(sites_file(tmp_path, ehr)))
    assert code == 2 and ehr.name in err


def test_login_signs_in_through_the_browser_and_keeps_the_session(
    ehr: RunningServer,
    tmp_path: Path,
    scripted_browser: ScriptedBrowser,
    file_keyring: KeyringBackend,
) -> None:
    code, out, err = run(
        "login",
        "--site",
        ehr.name,
        "--sites-file",
        str(sites_file(tmp_path, ehr)),
        "--timeout",
        "60",
    )
    assert code == 0, out + err
    assert "Signed in to" in out and "Practitioner/prac-1" in out
    assert "kept in the system keyring" in out
    assert "If no browser opened, visit:" in err
    stored = RefreshTokenStore(ehr.name, backend=file_keyring).load()
    assert stored is not None and stored.refresh_token


def test_login_denied_is_a_failure_with_a_message(
    ehr: RunningServer,
    tmp_path: Path,
    scripted_browser: ScriptedBrowser,
    file_keyring: KeyringBackend,
) -> None:
    scripted_browser.mode("wrong-state")
    code, _, err = run("login", "--site", ehr.name, "--sites-file", str(sites_file(tmp_path, ehr)))
    assert code == 1 and "does not belong to this sign-in" in err


SITE_SAVED_BY_NOTEPAD = (
    '[sites.clinique]\r\ndisplay_name = "Clinique Médicale"\r\n'
    'fhir_base = "https://ehr.clinique.example/fhir"\r\nclient_id = "c"\r\n'
)


def test_a_sites_file_saved_as_unicode_is_read(tmp_path: Path) -> None:
    path = tmp_path / "sites.toml"
    path.write_bytes(SITE_SAVED_BY_NOTEPAD.encode("utf-16"))  # Notepad "Unicode": BOM + LE
    code, out, err = run(
        "outbox", "list", "--sites-file", str(path), "--data-dir", str(tmp_path / "data")
    )
    assert code == 0, err
    assert "The outbox of site 'clinique' is empty" in out


def test_a_sites_file_saved_as_ansi_is_a_configuration_error_in_words(tmp_path: Path) -> None:
    path = tmp_path / "sites.toml"
    path.write_bytes(SITE_SAVED_BY_NOTEPAD.encode("cp1252"))
    code, out, err = run(
        "outbox", "list", "--sites-file", str(path), "--data-dir", str(tmp_path / "data")
    )
    assert code == 2  # the CLI's exit status for wrong usage or configuration
    assert str(path) in err and "line 2, column 27" in err and "save it as UTF-8" in err
    assert "Traceback" not in out + err


def test_a_broken_installed_sites_file_does_not_hide_the_outboxes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "machine" / "sites.toml"
    broken.parent.mkdir()
    broken.write_bytes(b"a = " + b"[" * 5_000 + b"]" * 5_000)  # RecursionError in tomllib
    monkeypatch.setattr("app.smart.sites.machine_sites_file", lambda: broken)
    monkeypatch.setattr("app.smart.sites.user_sites_file", lambda: tmp_path / "absent.toml")
    code, out, err = run("outbox", "list", "--data-dir", str(tmp_path / "data"))
    assert code == 0 and "is empty" in out
    assert f"Note: The site configuration is wrong: {broken}" in err and "nested too deeply" in err
    code, _, err = run("check", "--site", "x")
    assert code == 2 and "nested too deeply" in err and "Traceback" not in err


def test_a_device_as_ca_bundle_is_named_as_such() -> None:
    code, _, err = run(
        "check", "--fhir-base", "https://ehr.example.org/fhir", "--ca-bundle", "/dev/zero"
    )
    assert code == 2
    assert "--ca-bundle: the CA bundle /dev/zero is not a regular file (it is a device)" in err
