"""sites.toml: the scribe's watched folder (``draft_inbox``), off by default, strictly checked."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_off_by_default(tmp_path: Path) -> None:
    site = load_sites(write(tmp_path / "sites.toml", SITE)).sites[0]
    assert site.draft_inbox is None
    assert site.draft_inbox_settle_seconds == 2


def test_a_folder_relative_to_the_site_file(tmp_path: Path) -> None:
    file = write(
        tmp_path / "conf" / "sites.toml",
        SITE + 'draft_inbox = "scribe-inbox"\ndraft_inbox_settle_seconds = 5\n',
    )
    site = load_sites(file).sites[0]
    assert site.draft_inbox == (tmp_path / "conf" / "scribe-inbox").resolve()
    assert site.draft_inbox_settle_seconds == 5


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('draft_inbox = ""', "must not be empty"),
        ("draft_inbox = 3", "must be a string"),
        ('draft_inbox = "a-file.txt"', "is a file; name a folder"),
        ('draft_inbox = "/"', "not a drive root"),
        ("draft_inbox_settle_seconds = 0", "between 1 and 300"),
        ('draft_inbox_settle_seconds = "2"', "must be a whole number"),
        ('draft_inbox_folder = "x"', "unknown key 'draft_inbox_folder'"),
    ],
)
def test_strict_validation(tmp_path: Path, line: str, problem: str) -> None:
    write(tmp_path / "a-file.txt", "not a folder")
    file = write(tmp_path / "sites.toml", SITE + line + "\n")
    with pytest.raises(SiteConfigError, match=problem) as caught:
        load_sites(file)
    assert "sites.general.draft_inbox" in str(caught.value)
