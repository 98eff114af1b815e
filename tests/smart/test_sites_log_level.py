"""``log_level`` in sites.toml: global (top level) and per site, strictly validated."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.domain.site import LogLevel
from app.smart.errors import SiteConfigError
from app.smart.sites import load_sites

SITE = """
[sites.general]
display_name = "General Hospital"
fhir_base = "https://ehr.general.example/fhir"
client_id = "fhir-writeback"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_global_and_per_site_log_level(tmp_path: Path) -> None:
    text = 'log_level = "warning"\n' + SITE + 'log_level = "DEBUG"\n'
    text += '[sites.lab]\ndisplay_name = "Lab"\nfhir_base = "https://lab/fhir"\nclient_id = "x"\n'
    catalog = load_sites(write(tmp_path / "sites.toml", text))
    assert catalog.log_level is LogLevel.WARNING
    general, lab = catalog.find("general"), catalog.find("lab")
    assert general is not None and general.log_level is LogLevel.DEBUG
    assert lab is not None and lab.log_level is None  # the global one applies


def test_no_log_level_anywhere(tmp_path: Path) -> None:
    catalog = load_sites(write(tmp_path / "sites.toml", SITE))
    site = catalog.find("general")
    assert catalog.log_level is None and site is not None and site.log_level is None


def test_the_user_file_overrides_the_machine_files_log_level(tmp_path: Path) -> None:
    machine = write(tmp_path / "machine" / "sites.toml", 'log_level = "error"\n' + SITE)
    user = write(
        tmp_path / "user" / "sites.toml",
        'log_level = "debug"\n[sites.general]\nlog_level = "info"\n',
    )
    catalog = load_sites(machine_file=machine, user_file=user)
    site = catalog.find("general")
    assert catalog.log_level is LogLevel.DEBUG
    assert site is not None and site.log_level is LogLevel.INFO


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ('log_level = "verbose"\n' + SITE, "log_level", "'verbose'"),
        ("log_level = 10\n" + SITE, "log_level", "10"),
        ('log_level = ""\n' + SITE, "log_level", "''"),
        (SITE + 'log_level = "trace"\n', "sites.general.log_level", "'trace'"),
        (SITE + "log_level = true\n", "sites.general.log_level", "must be a string"),
        (SITE + 'log_level = ["debug"]\n', "sites.general.log_level", "must be a string"),
    ],
)
def test_a_wrong_log_level_names_the_file_the_key_and_the_choices(
    tmp_path: Path, text: str, where: str, problem: str
) -> None:
    path = write(tmp_path / "sites.toml", text)
    with pytest.raises(SiteConfigError) as caught:
        load_sites(path)
    message = caught.value.message
    assert str(path) in message and where in message and problem in message, message
    if "must be a string" not in problem:
        assert '"debug", "info", "warning", "error"' in message, message
