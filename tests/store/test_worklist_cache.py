"""The worklist's offline copy: sealed like the other PHI (nothing of the day in the clear in
the file or its WAL), read back whole with its age, old days dropped; note facts read from
columns in the clear without opening a sealed value."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from app.domain.worklist import Visit, VisitStatus, Worklist, WorklistSource
from app.store.crypto import StoreKeyring
from app.store.protected import open_protected_store
from app.store.store import open_store
from app.store.worklist_cache import KEEP_DAYS, note_facts
from tests.store.protected_support import MARKER, PATIENT_NAME, file_keyring, files_containing

DAY = date(2026, 12, 7)


def day(on: date = DAY) -> Worklist:
    visit = Visit(
        key="Encounter/e1",
        encounter_id="e1",
        patient_id="pat-1",
        patient_name=PATIENT_NAME,
        start=datetime(2026, 12, 7, 9, 30, tzinfo=UTC),
        type_text="Check up",
        status=VisitStatus.ARRIVED,
        birth_date=date(1968, 4, 12),
        mrn=f"MRN-{MARKER}",
        patient_identifiers=(f"MRN-{MARKER}",),
        visit_number="V1",
        new_results=True,
    )
    return Worklist("Practitioner/prac-1", on, (visit,), datetime(2026, 12, 7, 8, 12, tzinfo=UTC))


def test_the_copy_is_sealed_and_read_back_whole(tmp_path: Path) -> None:
    keys = StoreKeyring(file_keyring(tmp_path / "keyring"))
    folder = tmp_path / "site"
    folder.mkdir()
    protected = open_protected_store(folder / "store.db", keys)
    try:
        protected.store.worklist.save(day())
        assert files_containing(folder, MARKER) == []
        back = protected.store.worklist.load("Practitioner/prac-1", DAY)
    finally:
        protected.store.close()
    assert back is not None and back.source is WorklistSource.CACHED
    assert back.visits == day().visits and back.fetched_at == day().fetched_at


def test_the_scan_would_find_a_plain_copy(tmp_path: Path) -> None:
    """The control: without the protector the names land on disk as they are."""
    store = open_store(tmp_path / "plain" / "store.db")
    try:
        store.worklist.save(day())
        assert files_containing(tmp_path / "plain", MARKER)
    finally:
        store.close()


def test_old_days_are_dropped_and_other_clinicians_kept_apart(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store.db")
    try:
        store.worklist.save(day(DAY - timedelta(days=KEEP_DAYS + 1)))
        store.worklist.save(day())
        assert (
            store.worklist.load("Practitioner/prac-1", DAY - timedelta(days=KEEP_DAYS + 1)) is None
        )
        assert store.worklist.load("Practitioner/prac-2", DAY) is None
        assert note_facts(store.db, []) == {} and note_facts(store.db, ["e1"]) == {}
    finally:
        store.close()
