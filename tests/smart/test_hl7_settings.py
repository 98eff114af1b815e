"""[sites.<id>.hl7] in sites.toml: the listener's settings, refused with file, key and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.domain.site import Hl7Listener
from app.smart.errors import SiteConfigError
from app.smart.sites import load_sites
from tests.smart.tls import make_pki

SITE = """
[sites.clinic]
display_name = "Clinic"
fhir_base = "https://ehr.clinic.example/fhir"
client_id = "fhir-writeback"
"""


def load(tmp_path: Path, hl7: str) -> Hl7Listener | None:
    path = tmp_path / "sites.toml"
    path.write_text(SITE + hl7, encoding="utf-8")
    return load_sites(path).sites[0].hl7


def test_no_table_no_listener(tmp_path: Path) -> None:
    assert load(tmp_path, "") is None


def test_defaults_bind_loopback(tmp_path: Path) -> None:
    assert load(tmp_path, "[sites.clinic.hl7]\nport = 2575\n") == Hl7Listener(port=2575)


def test_everything_with_tls_resolved_against_the_file(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    listener = load(
        tmp_path,
        f"""[sites.clinic.hl7]
port = 6661
listen = "0.0.0.0"
allow = ["10.20.0.15", "10.20.1.0/24"]
tls_cert = "pki/{pki.cert_pem.name}"
tls_key = "pki/{pki.key_pem.name}"
tls_client_ca = "{pki.ca_pem}"
max_message_kb = 2048
frame_timeout_seconds = 5
idle_timeout_seconds = 600
""",
    )
    assert listener is not None and listener.uses_tls
    assert listener.allow == ("10.20.0.15/32", "10.20.1.0/24")
    assert listener.tls_cert == pki.cert_pem.resolve() and listener.tls_client_ca == pki.ca_pem
    assert (listener.max_message_kb, listener.frame_timeout_seconds) == (2048, 5.0)


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ("listen = '127.0.0.1'", "hl7.port", "is required"),
        ("port = 0", "hl7.port", "between 1 and 65535"),
        ("port = 70000", "hl7.port", "between 1 and 65535"),
        ("port = '2575'", "hl7.port", "must be a whole number"),
        ("port = true", "hl7.port", "must be a whole number"),
        ("port = 2575\nlisten = 'clinic-pc'", "hl7.listen", "IP address"),
        ("port = 2575\nlisten = '0.0.0.0'", "hl7.allow", "is required when listening on 0.0.0.0"),
        ("port = 2575\nallow = ['10.0.0.300']", "hl7.allow", "not an address"),
        ("port = 2575\nallow = 'everyone'", "hl7.allow", "a list"),
        ("port = 2575\ncolour = 'blue'", "hl7.colour", "unknown key 'colour'"),
        ("port = 2575\ntls_cert = 'cert.pem'", "hl7.tls_key", "go together"),
        ("port = 2575\ntls_cert = 'a.pem'\ntls_key = 'b.pem'", "hl7.tls_cert", "does not exist"),
        ("port = 2575\nmax_message_kb = 0", "hl7.max_message_kb", "between"),
        ("port = 2575\nframe_timeout_seconds = 0", "hl7.frame_timeout_seconds", "between"),
    ],
)
def test_mistakes_are_refused_with_the_key(
    tmp_path: Path, table: str, key: str, words: str
) -> None:
    with pytest.raises(SiteConfigError) as err:
        load(tmp_path, "[sites.clinic.hl7]\n" + table + "\n")
    assert f"sites.clinic.{key}" in str(err.value) and words in str(err.value)
    assert "sites.toml" in str(err.value)


def test_not_a_table(tmp_path: Path) -> None:
    path = tmp_path / "sites.toml"
    path.write_text(SITE + 'hl7 = "2575"\n', encoding="utf-8")
    with pytest.raises(SiteConfigError, match="must be a table"):
        load_sites(path)


def test_a_certificate_that_is_not_one(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("not a certificate", encoding="utf-8")
    (tmp_path / "key.pem").write_text("not a key", encoding="utf-8")
    with pytest.raises(SiteConfigError, match="cannot be used"):
        load(
            tmp_path,
            "[sites.clinic.hl7]\nport = 2575\ntls_cert = 'cert.pem'\ntls_key = 'key.pem'\n",
        )
