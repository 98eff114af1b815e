"""[sites.<id>.offline] in sites.toml: what a site allows to be kept, refused with file, key and
reason."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from app.domain.offline import DEFAULT_OFFLINE_POLICY, OfflinePolicy
from app.smart.errors import SiteConfigError
from app.smart.sites import load_sites

SITE = """
[sites.clinic]
display_name = "Clinic"
fhir_base = "https://ehr.clinic.example/fhir"
client_id = "fhir-writeback"
"""


def load(tmp_path: Path, table: str) -> OfflinePolicy:
    path = tmp_path / "sites.toml"
    path.write_text(SITE + table, encoding="utf-8")
    return load_sites(path).sites[0].offline


def test_no_table_the_defaults(tmp_path: Path) -> None:
    policy = load(tmp_path, "")
    assert policy == DEFAULT_OFFLINE_POLICY
    assert policy.retention == timedelta(hours=72) and policy.max_bytes == 20 * 2**20


def test_every_key(tmp_path: Path) -> None:
    policy = load(
        tmp_path,
        "[sites.clinic.offline]\nretention_hours = 24\nmax_charts = 30\nmax_megabytes = 5\n"
        "refresh_minutes = 30\nunlock_window_hours = 8\n",
    )
    assert policy == OfflinePolicy(
        retention=timedelta(hours=24),
        max_charts=30,
        max_bytes=5 * 2**20,
        refresh_after=timedelta(minutes=30),
        unlock_window=timedelta(hours=8),
    )


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ("retention_hours = 0", "offline.retention_hours", "between 1 and 336"),
        ("retention_hours = '72'", "offline.retention_hours", "must be a number"),
        ("max_charts = true", "offline.max_charts", "must be a number"),
        ("max_megabytes = 5000", "offline.max_megabytes", "between 1 and 2048"),
        ("colour = 'blue'", "offline.colour", "unknown key"),
    ],
)
def test_bad_values_are_refused_naming_the_key(
    tmp_path: Path, table: str, key: str, words: str
) -> None:
    with pytest.raises(SiteConfigError) as raised:
        load(tmp_path, f"[sites.clinic.offline]\n{table}\n")
    assert key in str(raised.value) and words in str(raised.value)
