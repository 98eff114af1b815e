"""sites.toml: merging machine + user files, strict validation with file/key/problem."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.smart.errors import SiteConfigError
from app.smart.sites import (
    MAX_SITES_FILE_BYTES,
    load_sites,
    machine_sites_file,
    sandbox_site,
    user_sites_file,
)
from tests.smart.tls import make_pki

GOOD = """
default_site = "general"

[sites.general]
display_name = "General Hospital"
fhir_base = "https://ehr.general.example/fhir/r4/"
client_id = "fhir-writeback-prod"
scopes = ["openid", "fhirUser", "user/*.rs"]
vendor_profile = "epic-like"
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


# ----------------------------------------------------------------------------- files as saved


ONE_SITE = (
    '[sites.clinique]\ndisplay_name = "Clinique Médicale Zoë"\n'
    'fhir_base = "https://ehr.clinique.example/fhir"\nclient_id = "c"\n'
)


@pytest.mark.parametrize(
    "encoded",
    [
        ONE_SITE.encode("utf-8"),
        b"\xef\xbb\xbf" + ONE_SITE.encode("utf-8"),  # Notepad "UTF-8 with BOM"
        b"\xff\xfe" + ONE_SITE.encode("utf-16-le"),  # Notepad "Unicode"
        b"\xfe\xff" + ONE_SITE.encode("utf-16-be"),  # Notepad "Unicode big endian"
        b"\xff\xfe" + ONE_SITE.replace("\n", "\r\n").encode("utf-16-le"),  # with CRLF
    ],
    ids=["utf-8", "utf-8-bom", "utf-16-le", "utf-16-be", "utf-16-le-crlf"],
)
def test_files_saved_by_windows_editors_are_read(tmp_path: Path, encoded: bytes) -> None:
    path = tmp_path / "sites.toml"
    path.write_bytes(encoded)
    site = load_sites(path).find("clinique")
    assert site is not None and site.display_name == "Clinique Médicale Zoë"


@pytest.mark.parametrize(
    ("encoded", "where", "words"),
    [
        (ONE_SITE.encode("cp1252"), "line 2, column 27", "0xE9 is not UTF-8 text"),  # "ANSI"
        (ONE_SITE.encode("utf-16-le"), "line 1, column 2", "NUL character"),  # no BOM
        (b"\xff\xfe\x00\x00" + ONE_SITE.encode("utf-32-le"), "line 1, column 1", "UTF-32"),
        (b"\xff\xfe" + ONE_SITE.encode("utf-16-le")[:-1], "line 4, column 16", "cut short"),
        (b"\xff\xfe" + 'a = "\ud800"'.encode("utf-16-le", "surrogatepass"), "line 1, column 6",
         "unpaired surrogate"),
    ],
    ids=["ansi", "utf-16-without-bom", "utf-32", "utf-16-odd-length", "utf-16-lone-surrogate"],
)  # fmt: skip
def test_other_encodings_are_refused_with_line_and_column(
    tmp_path: Path, encoded: bytes, where: str, words: str
) -> None:
    path = tmp_path / "sites.toml"
    path.write_bytes(encoded)
    with pytest.raises(SiteConfigError) as info:
        load_sites(path)
    message = info.value.message
    assert str(path) in message and where in message and words in message
    assert "save it as UTF-8" in message


@pytest.mark.parametrize(
    "body",
    [
        "a = " + "[" * 5_000 + "]" * 5_000,  # RecursionError inside tomllib
        "a = " + "{b = " * 3_000 + "1" + "}" * 3_000,
        "a = " + "1" * 5_000,  # longer than int() converts (ValueError)
    ],
    ids=["nested-arrays", "nested-tables", "huge-integer"],
)
def test_toml_beyond_what_python_reads_is_a_config_error(tmp_path: Path, body: str) -> None:
    path = write(tmp_path / "sites.toml", body)
    with pytest.raises(SiteConfigError, match="not valid TOML"):
        load_sites(path)


def test_a_fifo_or_a_folder_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "sites.toml"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    with pytest.raises(SiteConfigError, match=r"not a regular file \(it is a named pipe"):
        load_sites(fifo)
    with pytest.raises(SiteConfigError, match=r"not a regular file \(it is a folder\)"):
        load_sites(tmp_path)
    with pytest.raises(SiteConfigError, match="not a regular file"):  # machine/user files too
        load_sites(machine_file=fifo, user_file=tmp_path / "absent.toml")


def test_an_oversized_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "sites.toml", "# " + "x" * (MAX_SITES_FILE_BYTES + 1))
    with pytest.raises(SiteConfigError, match="too large"):
        load_sites(path)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_a_device_as_ca_bundle_is_not_said_to_be_missing(tmp_path: Path, device: str) -> None:
    path = write(tmp_path / "sites.toml", '[sites.a]\ndisplay_name = "A"\nfhir_base = "https://e/fhir"\n'
                 f'client_id = "c"\nca_bundle = "{device}"\n')  # fmt: skip
    with pytest.raises(SiteConfigError) as info:
        load_sites(path)
    assert "does not exist" not in info.value.message
    assert "not a regular file (it is a device)" in info.value.message
    assert "not a PEM certificate bundle" in info.value.message


# ----------------------------------------------------------------------------- fuzzing

_TOML_PIECES = st.sampled_from(
    [
        "[sites.a]\n", "[sites.é]\n", 'display_name = "Zoë"\n', 'fhir_base = "https://e/fhir"\n',
        'client_id = "c"\n', "scopes = [", "[", "]", "{", "}", "x = ", "1" * 5_000, '"', "'''",
        "\n", "\r\n", "# comment\n", "default_site = 'a'\n", 'ca_bundle = "/dev/zero"\n',
        "idle_lock_minutes = 99999999999999999999\n", "\x00", "\ufeff", "\u202e", "= ",
        "[" * 3_000, "]" * 3_000, "a = " + "{b = " * 1_000, "}" * 1_000, "1979-05-27T07:32:00Z",
    ]
)  # fmt: skip
_ENCODINGS = st.sampled_from(
    ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "cp1252", "latin-1"]
)


@settings(max_examples=300, deadline=None, database=None)
@given(
    text=st.lists(_TOML_PIECES | st.text(max_size=20), max_size=25).map("".join),
    encoding=_ENCODINGS,
    noise=st.binary(max_size=40),
    where=st.floats(min_value=0, max_value=1),
)
def test_hostile_sites_files_give_sites_or_a_config_error(
    tmp_path_factory: pytest.TempPathFactory, text: str, encoding: str, noise: bytes, where: float
) -> None:
    data = text.encode(encoding, errors="replace")
    cut = int(len(data) * where)
    data = data[:cut] + noise + data[cut:]  # flipped, inserted or truncated bytes
    path = tmp_path_factory.mktemp("fuzz") / "sites.toml"
    path.write_bytes(data)
    try:
        catalog = load_sites(path)
    except SiteConfigError as exc:
        assert str(path) in exc.message and "Traceback" not in exc.message
    else:
        assert all(site.id for site in catalog.sites)


def test_an_unreadable_file_or_a_dangling_link_is_reported_not_ignored(tmp_path: Path) -> None:
    link = tmp_path / "machine.toml"
    link.symlink_to(tmp_path / "gone.toml")
    with pytest.raises(SiteConfigError, match="does not exist"):
        load_sites(machine_file=link, user_file=tmp_path / "absent.toml")
    if os.geteuid() == 0:
        return  # root reads anything: the permission case cannot be made here
    locked = tmp_path / "locked"
    locked.mkdir()
    write(locked / "sites.toml", ONE_SITE)
    locked.chmod(0)
    try:
        with pytest.raises(SiteConfigError, match="cannot be read"):
            load_sites(machine_file=locked / "sites.toml", user_file=tmp_path / "absent.toml")
    finally:
        locked.chmod(0o700)
