"""sites.toml: merging machine + user files, strict validation with file/key/problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.smart.errors import SiteConfigError
from app.smart.sites import load_sites, machine_sites_file, sandbox_site, user_sites_file
from tests.smart.tls import make_pki

GOOD = """
default_site = "general"

[sites.general]
display_name = "General Hospital"
fhir_base = "https://ehr.general.example/fhir/r4/"
client_id = "fhir-writeback-prod"
scopes = ["openid", "fhirUser", "user/*.rs"]
vendor_profile = "epic"
proxy = "http://proxy.clinic.example:3128"
redirect_path = "/callback/general"
idle_lock_minutes = 15

[sites.lab]
display_name = "Lab test system"
fhir_base = "http://127.0.0.1:8080/fhir"
client_id = "smart-note-app"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_full_example(tmp_path: Path) -> None:
    catalog = load_sites(write(tmp_path / "sites.toml", GOOD))
    general = catalog.find("general")
    assert general is not None and catalog.default == general
    assert general.fhir_base == "https://ehr.general.example/fhir/r4"
    assert general.scopes == ("openid", "fhirUser", "user/*.rs")
    assert general.redirect_path == "/callback/general" and general.idle_lock_minutes == 15
    lab = catalog.find("lab test system")  # by display name too
    assert lab is not None and lab.redirect_path == "/callback" and lab.scopes is None
    assert catalog.sources == (tmp_path / "sites.toml",)


def test_user_file_overrides_machine_file_per_key(tmp_path: Path) -> None:
    machine = write(tmp_path / "machine" / "sites.toml", GOOD)
    user = write(tmp_path / "user" / "sites.toml", '[sites.general]\nproxy = "http://home-proxy:8080"\n'
                 '[sites.mine]\ndisplay_name = "Mine"\nfhir_base = "https://mine/fhir"\nclient_id = "x"\n')  # fmt: skip
    catalog = load_sites(machine_file=machine, user_file=user)
    general = catalog.find("general")
    assert general is not None and general.proxy == "http://home-proxy:8080"
    assert general.client_id == "fhir-writeback-prod"  # from the machine file
    assert [s.id for s in catalog.sites] == ["general", "lab", "mine"]


def test_no_files_no_sites(tmp_path: Path) -> None:
    catalog = load_sites(machine_file=tmp_path / "none.toml", user_file=tmp_path / "nope.toml")
    assert catalog.empty and catalog.default is None


def test_default_locations_are_platformdirs() -> None:
    assert machine_sites_file().name == "sites.toml" and "fhir-writeback" in str(
        machine_sites_file()
    )
    assert user_sites_file().name == "sites.toml" and "fhir-writeback" in str(user_sites_file())


@pytest.mark.parametrize(
    ("body", "key", "problem"),
    [
        ('[sites.a]\ndisplay_name = "A"\nfhir_base = "http://ehr.example/fhir"\nclient_id = "c"\n',
         "sites.a.fhir_base", "must use https://"),
        ('[sites.a]\ndisplay_name = "A"\nfhir_base = "https://e/fhir"\nclient_id = "c"\ncolour = "red"\n',
         "sites.a.colour", "unknown key 'colour'"),
        ('[sites.a]\ndisplay_name = "A"\nfhir_base = "https://e/fhir"\nclient_id = 7\n',
         "sites.a.client_id", "must be a string"),
        ('[sites.a]\ndisplay_name = "A"\nfhir_base = "https://e/fhir"\nclient_id = "c"\nscopes = "openid"\n',
         "sites.a.scopes", "must be a list of strings"),
        ('[sites.a]\ndisplay_name = "A"\nfhir_base = "https://e/fhir"\nclient_id = "c"\nidle_lock_minutes = true\n',
         "sites.a.idle_lock_minutes", "must be a whole number"),
        ('[sites.a]\ndisplay_name = "A"\nfhir_base = "https://e/fhir"\n',
         "sites.a.client_id", "is required but missing"),
        ('[sites.a]\ndisplay_name = "A"\nfhir_base = "https://e/fhir"\nclient_id = "c"\nca_bundle = "missing.pem"\n',
         "sites.a.ca_bundle", "does not exist"),
        ('[sites.a]\ndisplay_name = "A"\nfhir_base = "https://e/fhir"\nclient_id = "c"\nredirect_path = "cb"\n',
         "sites.a.redirect_path", "must be a path starting with '/'"),
        ('[sites.a]\ndisplay_name = "A"\nfhir_base = "https://e/fhir"\nclient_id = "c"\nproxy = "proxy:3128"\n',
         "sites.a.proxy", "must be a URL"),
        ('default_site = "b"\n[sites.a]\ndisplay_name = "A"\nfhir_base = "https://e/fhir"\nclient_id = "c"\n',
         "default_site", "not defined"),
        ('[sites."a b"]\ndisplay_name = "A"\n', 'sites.a b', "site id"),
        ('[site.a]\n', "site", "unknown key 'site'"),
    ],
)  # fmt: skip
def test_errors_name_file_key_and_problem(
    tmp_path: Path, body: str, key: str, problem: str
) -> None:
    path = write(tmp_path / "sites.toml", body)
    with pytest.raises(SiteConfigError) as info:
        load_sites(path)
    assert info.value.file == str(path) and info.value.key == key
    assert problem in info.value.problem
    assert str(path) in info.value.message and key in info.value.message


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "sites.toml", '[sites.a]\ndisplay_name = "A\n')
    with pytest.raises(SiteConfigError) as info:
        load_sites(path)
    assert "not valid TOML" in info.value.message and "line 2" in info.value.message


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(SiteConfigError, match="does not exist"):
        load_sites(tmp_path / "absent.toml")


def test_ca_bundle_relative_to_the_file_and_must_be_pem(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    path = write(tmp_path / "sites.toml", '[sites.a]\ndisplay_name = "A"\nfhir_base = "https://e/fhir"\n'
                 'client_id = "c"\nca_bundle = "pki/clinic-ca.pem"\n')  # fmt: skip
    site = load_sites(path).find("a")
    assert site is not None and site.ca_bundle == pki.ca_pem.resolve()
    write(tmp_path / "pki" / "clinic-ca.pem", "not a certificate")
    with pytest.raises(SiteConfigError, match="not a readable PEM"):
        load_sites(path)


def test_sandbox_site() -> None:
    site = sandbox_site("http://127.0.0.1:9999/fhir/")
    assert (
        site.is_sandbox
        and site.fhir_base == "http://127.0.0.1:9999/fhir"
        and site.client_id == "fhir-writeback"
    )
