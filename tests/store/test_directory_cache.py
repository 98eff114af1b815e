"""Task-owner candidates kept in the store for offline use: sealed like the other PHI, read back
as domain objects, searches capped."""

from __future__ import annotations

from pathlib import Path

from app.domain.clinical import Reference
from app.domain.owners import OwnerCandidate, OwnerSource
from app.store import directory_cache as cache_module
from app.store.crypto import StoreKeyring
from app.store.directory_cache import care_team_key, search_key
from app.store.protected import open_protected_store
from tests.store.protected_support import MARKER, file_keyring, files_containing

JONES = OwnerCandidate(
    Reference("Practitioner", "prac-2", f"Dr. {MARKER} Jones"), f"Dr. {MARKER} Jones", "Nurse",
    OwnerSource.CARE_TEAM,
)  # fmt: skip


def test_candidates_are_kept_sealed_and_read_back(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    keys = StoreKeyring(file_keyring(tmp_path / "keyring"))
    ps = open_protected_store(tmp_path / "store" / "store.db", keys)
    try:
        directory = ps.store.directory
        directory.save(care_team_key(Reference("Patient", "pat-1")), [JONES])
        kept = directory.load(care_team_key(Reference("Patient", "pat-1")))
        assert kept is not None and kept.candidates == (JONES,)
        assert directory.load(care_team_key(Reference("Patient", "pat-2"))) is None
        assert directory.everyone() == (JONES,)
        monkeypatch.setattr(cache_module, "MAX_SEARCHES", 2)
        for text in ("jones", "lee", "smith"):
            directory.save(search_key(text), [JONES])
        assert directory.load(search_key("jones")) is None, "the oldest search made room"
        assert directory.load(care_team_key(Reference("Patient", "pat-1"))) is not None
    finally:
        ps.store.close()
    assert files_containing(tmp_path / "store", MARKER) == []
