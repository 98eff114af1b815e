"""The watched folder on disk: files moved whole to imported/ or rejected/ (with the reason
beside them), names never overwritten, nothing else touched."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.domain.errors import DraftImportError
from app.store.draft_inbox import InboxFolder
from app.store.errors import InboxUnavailable

T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_lists_only_files_directly_in_the_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.json").write_text("{}")
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "b.json.part").write_text("{")
    names = sorted(e.name for e in InboxFolder(tmp_path).entries())
    assert names == ["a.json", "b.json.part"]


def test_a_missing_folder_says_so(tmp_path: Path) -> None:
    with pytest.raises(InboxUnavailable, match="cannot be read"):
        InboxFolder(tmp_path / "nowhere").entries()


def test_set_aside_moves_the_file_and_writes_why_beside_it(tmp_path: Path) -> None:
    (tmp_path / "visit.json").write_text("not json")
    (tmp_path / "other.json").write_text("{}")
    folder = InboxFolder(tmp_path)
    moved = folder.set_aside("visit.json", "not valid JSON", T0, b"not json")
    assert moved == "rejected/visit.json"
    assert tree(tmp_path) == [
        "other.json",
        "rejected",
        "rejected/visit.json",
        "rejected/visit.json.rejected.txt",
    ]
    assert "Why: not valid JSON" in (tmp_path / "rejected/visit.json.rejected.txt").read_text()
    (tmp_path / "visit.json").write_text("again")
    assert folder.set_aside("visit.json", "again", T0, None) == "rejected/visit-2.json"
    assert (tmp_path / "rejected/visit.json").read_text() == "not json"  # not overwritten


def test_file_away_after_import(tmp_path: Path) -> None:
    (tmp_path / "visit.json").write_text("{}")
    assert InboxFolder(tmp_path).file_away("visit.json") == "imported/visit.json"
    assert tree(tmp_path) == ["imported", "imported/visit.json"]


def test_reading_a_6_mb_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with big.open("wb") as fh:
        fh.truncate(6 * 1024 * 1024)
    with pytest.raises(
        DraftImportError, match=r"the file big\.json is too large \(6\.0 MB; the limit is 5\.0 MB\)"
    ):
        InboxFolder(tmp_path).read("big.json")


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_a_failed_move_leaves_no_reason_file_behind(tmp_path: Path) -> None:
    folder = InboxFolder(tmp_path)
    with pytest.raises(OSError):
        folder.set_aside("gone.json", "x", T0, None)
    assert tree(tmp_path) == ["rejected"]
