"""Encryption at rest: a marker in a note never reaches any file of the store folder; key loss,
a wrong key and values moved between rows fail clearly; the recovery path keeps the old file."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail

from app.domain.audit import AuditKind
from app.domain.draft import DraftStatus
from app.domain.outbox import ErrorClass, OutboxState, SyncEvent
from app.store.crypto import (
    FORMAT_ID,
    KEY_SERVICE,
    AesGcmProtector,
    DataKey,
    StoreKeyring,
)
from app.store.crypto_errors import KeyLost, SealBroken, StoreKeyUnavailable, WrongKey
from app.store.database import PlainPayload
from app.store.errors import StoreCorrupt
from app.store.key_escrow import RecoveryKeyInvalid
from app.store.key_loss import recover_from_key_loss, restore_key_from_escrow
from app.store.outbox_errors import OutboxPayloadCorrupt
from app.store.outbox_records import ConflictDetail
from app.store.protected import ProtectedStore, open_protected_store
from app.store.store import open_store
from tests.store.conftest import Clock
from tests.store.protected_support import (
    MARKER,
    PATIENT_NAME,
    decision_json,
    file_keyring,
    files_containing,
    marker_commit,
    marker_draft,
)


@pytest.fixture
def keyring_backend(tmp_path: Path) -> KeyringBackend:
    return file_keyring(tmp_path / "keyring")


@pytest.fixture
def keys(keyring_backend: KeyringBackend) -> StoreKeyring:
    return StoreKeyring(keyring_backend)


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    return tmp_path / "user"


@pytest.fixture
def protected(user_dir: Path, keys: StoreKeyring) -> Iterator[ProtectedStore]:
    ps = open_protected_store(
        user_dir / "store.db", keys, actor=lambda: "Practitioner/prac-1", clock=Clock()
    )
    yield ps
    ps.close()


REFUSAL = f"The EHR said: {PATIENT_NAME} has no active coverage (OperationOutcome)."


def fill_with_phi(ps: ProtectedStore) -> None:
    """Drafts, an approved commit with payloads and decision, a conflict copy, audit rows."""
    store = ps.store
    draft = store.drafts.save(marker_draft())
    store.drafts.save(draft)  # an autosave
    approved = store.drafts.save(marker_draft())
    commit = marker_commit()
    with store.db.write() as conn:
        store.drafts.set_status(approved.id, DraftStatus.APPROVED, conn=conn)
        store.outbox.enqueue_approval(
            commit, decision_json(approved), draft_id=approved.id, conn=conn
        )
    second = store.outbox.enqueue_approval(marker_commit(), decision_json(approved))
    store.outbox.apply(second.commit_id, SyncEvent.SEND_STARTED)
    store.outbox.apply(
        second.commit_id,
        SyncEvent.CONFLICT_DETECTED,
        status=412,
        error="The chart changed under this amendment.",
        conflict=ConflictDetail(
            message="The note changed in the chart.",
            chart={"resourceType": "DocumentReference", "description": PATIENT_NAME},
            mine={"resourceType": "DocumentReference", "description": MARKER},
        ),
    )


def add_refusal(ps: ProtectedStore) -> None:
    """A refused commit whose EHR text echoes the patient's name (issue 10, item 7)."""
    outbox = ps.store.outbox
    refused = outbox.enqueue_approval(marker_commit(), "{}")
    outbox.apply(refused.commit_id, SyncEvent.SEND_STARTED)
    outbox.apply(refused.commit_id, SyncEvent.PERMANENT_REJECTION, status=422, error=REFUSAL)
    outbox.apply(refused.commit_id, SyncEvent.USER_RETRY)  # sealed again with every change


# ---------------------------------------------------------------- the marker


@pytest.mark.parametrize("checkpointed", [False, True], ids=["wal-live", "checkpointed"])
def test_the_marker_is_in_no_file_of_the_store_folder(
    protected: ProtectedStore, keys: StoreKeyring, user_dir: Path, checkpointed: bool
) -> None:
    fill_with_phi(protected)
    add_refusal(protected)
    if checkpointed:
        protected.close()
        with sqlite3.connect(user_dir / "store.db") as raw:
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        wal = user_dir / "store.db-wal"
        assert wal.exists() and wal.stat().st_size > 0, "the WAL must hold the recent writes"
    assert files_containing(user_dir, MARKER) == []
    assert files_containing(user_dir, "chest pain") == []
    # ... and the app still reads all of it
    ps = open_protected_store(user_dir / "store.db", keys) if checkpointed else protected
    try:
        draft = ps.store.drafts.list_unfinished()[0]
        assert draft.patient.display == PATIENT_NAME
        assert all(MARKER in s.text for s in draft.sections)
        conflicts = ps.store.outbox.list_items(states=[OutboxState.CONFLICT])
        entry = ps.store.outbox.get(conflicts[0].commit_id)
        assert entry.conflict is not None and entry.conflict.mine == {
            "resourceType": "DocumentReference",
            "description": MARKER,
        }
        assert any(MARKER in w.payload_json for w in entry.commit.writes)
        (refused,) = [r for r in ps.store.outbox.list_items() if r.item.last_error == REFUSAL]
        assert refused.error_class is ErrorClass.REFUSED
        assert ps.audit.verify().ok
    finally:
        if checkpointed:
            ps.close()


def test_the_scan_finds_the_marker_in_a_plain_store(user_dir: Path) -> None:
    """The control: the same content written without encryption is found by the scan (so the
    test above can fail)."""
    store = open_store(user_dir / "store.db")
    try:
        store.drafts.save(marker_draft())
        store.outbox.enqueue_approval(marker_commit(), decision_json(marker_draft()))
        assert files_containing(user_dir, MARKER)
    finally:
        store.close()


def test_sealed_values_carry_the_layout_and_key_id(
    protected: ProtectedStore, user_dir: Path
) -> None:
    protected.store.drafts.save(marker_draft())
    with sqlite3.connect(user_dir / "store.db") as raw:
        fmt, body = raw.execute("SELECT body_format, body FROM drafts").fetchone()
    assert fmt == FORMAT_ID
    assert body[0] == 1 and body[1:5].hex() == protected.protector.key_id


# ---------------------------------------------------------------- the key


def test_first_open_makes_a_key_and_later_opens_reuse_it(
    user_dir: Path, keys: StoreKeyring, keyring_backend: KeyringBackend
) -> None:
    first = open_protected_store(user_dir / "store.db", keys)
    first.store.drafts.save(marker_draft())
    store_id, kid = first.store_id, first.protector.key_id
    first.close()
    assert first.key_created
    entry = keyring_backend.get_password(KEY_SERVICE, f"store-{store_id}")
    assert entry is not None and kid in entry
    again = open_protected_store(user_dir / "store.db", keys)
    try:
        assert not again.key_created and again.protector.key_id == kid
        assert again.store.drafts.list_unfinished()[0].patient.display == PATIENT_NAME
    finally:
        again.close()


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()
    }


def test_a_lost_key_is_reported_and_nothing_is_touched(
    protected: ProtectedStore, keys: StoreKeyring, user_dir: Path
) -> None:
    fill_with_phi(protected)
    store_id = protected.store_id
    protected.close()
    keys.delete(store_id)
    before = _digest(user_dir)
    with pytest.raises(KeyLost) as exc:
        open_protected_store(user_dir / "store.db", keys)
    assert not isinstance(exc.value, WrongKey)
    report = exc.value.report
    assert len(report.unsent) == 2 and report.open_drafts == 1
    assert {u.state for u in report.unsent} == {"queued", "conflict"}
    message = exc.value.user_message
    assert "no longer in this computer's keyring" in message
    assert "2 approved note(s) not yet confirmed by the EHR and 1 unfinished draft(s)" in message
    assert "Nothing has been deleted" in message and "patient pat-1" in message
    assert MARKER not in message
    assert _digest(user_dir) == before  # no new key, no change to the file


def test_recovery_sets_the_store_aside_and_starts_a_linked_audit_log(
    protected: ProtectedStore, keys: StoreKeyring, user_dir: Path
) -> None:
    fill_with_phi(protected)
    old_id, old_head = protected.store_id, protected.audit.head()
    protected.close()
    old_key = keys.load(old_id)
    assert old_key is not None and old_head is not None
    keys.delete(old_id)
    with pytest.raises(ValueError):
        recover_from_key_loss(user_dir / "store.db", keys, confirmed=False)

    recovery = recover_from_key_loss(
        user_dir / "store.db", keys, confirmed=True, actor=lambda: "Practitioner/prac-1"
    )
    fresh = recovery.store
    try:
        assert recovery.locked_copy is not None and recovery.locked_copy.exists()
        assert recovery.locked_copy.name.startswith("store.db.locked-")
        assert fresh.store_id != old_id and fresh.store.drafts.list_unfinished() == []
        (first,) = fresh.audit.query()
        assert first.kind is AuditKind.KEY_LOST and first.event.actor == "Practitioner/prac-1"
        details = first.event.details
        assert details["unsent"] == 2 and details["locked_copy"] == recovery.locked_copy.name
        assert details["old_audit_head"] == {"seq": old_head.seq, "hash": old_head.hash}
        assert fresh.audit.verify().ok
    finally:
        fresh.close()

    # The documented way back: IT restores the old key and renames the locked copy.
    keys.save(old_id, old_key)
    restored = user_dir / "restored.db"
    recovery.locked_copy.rename(restored)
    back = open_protected_store(restored, keys)
    try:
        assert back.store_id == old_id
        assert back.store.drafts.list_unfinished()[0].patient.display == PATIENT_NAME
        assert back.audit.verify().ok
    finally:
        back.close()


def test_recovery_is_a_plain_open_when_the_key_is_back(
    protected: ProtectedStore, keys: StoreKeyring, user_dir: Path
) -> None:
    protected.store.drafts.save(marker_draft())
    protected.close()
    recovery = recover_from_key_loss(user_dir / "store.db", keys, confirmed=True)
    try:
        assert recovery.locked_copy is None
        assert len(recovery.store.store.drafts.list_unfinished()) == 1
    finally:
        recovery.store.close()


def test_a_wrong_key_is_named_as_such(
    protected: ProtectedStore, keys: StoreKeyring, user_dir: Path
) -> None:
    protected.store.drafts.save(marker_draft())
    store_id = protected.store_id
    protected.close()
    keys.save(store_id, DataKey.generate())
    with pytest.raises(WrongKey) as exc:
        open_protected_store(user_dir / "store.db", keys)
    assert "does not open the local store" in exc.value.user_message


def test_an_empty_store_with_a_lost_key_simply_gets_a_new_one(
    protected: ProtectedStore, keys: StoreKeyring, user_dir: Path
) -> None:
    store_id = protected.store_id
    protected.close()
    keys.delete(store_id)
    again = open_protected_store(user_dir / "store.db", keys)
    try:
        assert again.key_created and again.store_id == store_id
    finally:
        again.close()


def test_an_unusable_keyring_changes_nothing(user_dir: Path) -> None:
    with pytest.raises(StoreKeyUnavailable) as exc:
        open_protected_store(user_dir / "store.db", StoreKeyring(fail.Keyring()))  # type: ignore[no-untyped-call]
    assert "keyring" in exc.value.user_message and "Nothing was changed" in exc.value.user_message


def test_a_garbled_keyring_entry_is_not_mistaken_for_a_lost_key(
    protected: ProtectedStore, keys: StoreKeyring, keyring_backend: KeyringBackend, user_dir: Path
) -> None:
    protected.store.drafts.save(marker_draft())
    protected.close()
    keyring_backend.set_password(KEY_SERVICE, f"store-{protected.store_id}", "not json")
    with pytest.raises(StoreKeyUnavailable):
        open_protected_store(user_dir / "store.db", keys)


# ---------------------------------------------------------------- values bound to their rows


def test_a_body_moved_to_another_draft_is_refused(
    protected: ProtectedStore, user_dir: Path
) -> None:
    a = protected.store.drafts.save(marker_draft())
    b = protected.store.drafts.save(marker_draft())
    with sqlite3.connect(user_dir / "store.db") as raw:
        body_a = raw.execute("SELECT body FROM drafts WHERE id = ?", (str(a.id),)).fetchone()[0]
        raw.execute("UPDATE drafts SET body = ? WHERE id = ?", (body_a, str(b.id)))
    assert protected.store.drafts.get(a.id).id == a.id
    with pytest.raises(SealBroken) as exc:
        protected.store.drafts.get(b.id)
    assert isinstance(exc.value, StoreCorrupt)
    assert "altered or moved" in exc.value.user_message and MARKER not in exc.value.user_message


def test_a_payload_moved_between_commits_sets_only_that_commit_aside(
    protected: ProtectedStore, user_dir: Path
) -> None:
    outbox = protected.store.outbox
    first = outbox.enqueue_approval(marker_commit(), "{}")
    second = outbox.enqueue_approval(marker_commit(), "{}")
    with sqlite3.connect(user_dir / "store.db") as raw:
        blob = raw.execute(
            "SELECT payload FROM outbox_writes WHERE commit_id = ? AND position = 1",
            (str(first.commit_id),),
        ).fetchone()[0]
        raw.execute(
            "UPDATE outbox_writes SET payload = ? WHERE commit_id = ? AND position = 1",
            (blob, str(second.commit_id)),
        )
    with pytest.raises(OutboxPayloadCorrupt):
        outbox.get(second.commit_id)
    from datetime import UTC, datetime

    due = outbox.claim_due(datetime.now(UTC))
    assert [e.commit_id for e in due] == [first.commit_id]
    assert outbox.item(second.commit_id).state is OutboxState.NEEDS_ATTENTION


def test_one_flipped_bit_is_detected(protected: ProtectedStore, user_dir: Path) -> None:
    a = protected.store.drafts.save(marker_draft())
    with sqlite3.connect(user_dir / "store.db") as raw:
        body = bytearray(raw.execute("SELECT body FROM drafts").fetchone()[0])
        body[40] ^= 0x01
        raw.execute("UPDATE drafts SET body = ?", (bytes(body),))
    with pytest.raises(SealBroken):
        protected.store.drafts.get(a.id)


# ---------------------------------------------------------------- the protector alone


def test_protector_round_trip_and_context_binding() -> None:
    p = AesGcmProtector(DataKey.generate())
    sealed = p.protect(b"secret text", context=b"row-1")
    assert b"secret" not in sealed
    assert p.unprotect(sealed, context=b"row-1") == b"secret text"
    assert p.protect(b"secret text", context=b"row-1") != sealed  # fresh nonce each time
    with pytest.raises(SealBroken):
        p.unprotect(sealed, context=b"row-2")
    with pytest.raises(SealBroken, match="another key"):
        AesGcmProtector(DataKey.generate()).unprotect(sealed, context=b"row-1")
    with pytest.raises(SealBroken, match="not a value this app sealed"):
        p.unprotect(b"plain text from an old store", context=b"row-1")


def test_rotated_keys_still_open_old_values() -> None:
    old, new = DataKey.generate(), DataKey.generate()
    sealed = AesGcmProtector(old).protect(b"x", context=b"c")
    rotated = AesGcmProtector(new, previous=[old])
    assert rotated.unprotect(sealed, context=b"c") == b"x"
    assert rotated.protect(b"y", context=b"c")[1:5] == new.key_id


def test_key_entries_round_trip_and_hide_the_secret() -> None:
    key = DataKey.generate()
    assert DataKey.from_entry(key.to_entry()) == key
    assert key.secret.hex() not in repr(key)
    with pytest.raises(ValueError):
        DataKey.from_entry('{"v": 1, "kid": "zz"}')
    assert key.derive("audit-seal") != key.derive("other") and len(key.derive("x")) == 32


def test_plain_payload_format_is_not_the_sealed_one() -> None:
    assert PlainPayload.format_id != FORMAT_ID


# ---------------------------------------------------------------- key escrow for IT


def _rsa_pair() -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"it-secret"),
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return public_pem, private_pem


def test_it_restores_a_lost_key_from_the_escrow_and_nothing_is_lost(
    keys: StoreKeyring, user_dir: Path
) -> None:
    public_pem, private_pem = _rsa_pair()
    ps = open_protected_store(user_dir / "store.db", keys, recovery_public_key=public_pem)
    fill_with_phi(ps)
    store_id = ps.store_id
    ps.close()
    assert files_containing(user_dir, MARKER) == []
    keys.delete(store_id)

    with pytest.raises(KeyLost) as exc:
        open_protected_store(user_dir / "store.db", keys, recovery_public_key=public_pem)
    assert exc.value.report.it_can_recover
    assert "clinic IT can restore the key" in exc.value.user_message

    with pytest.raises(RecoveryKeyInvalid, match="does not open"):
        restore_key_from_escrow(user_dir / "store.db", keys, _rsa_pair()[1], password=b"it-secret")
    with pytest.raises(RecoveryKeyInvalid):
        restore_key_from_escrow(user_dir / "store.db", keys, private_pem, password=b"wrong")
    assert keys.load(store_id) is None

    assert (
        restore_key_from_escrow(user_dir / "store.db", keys, private_pem, password=b"it-secret")
        == store_id
    )
    back = open_protected_store(user_dir / "store.db", keys, recovery_public_key=public_pem)
    try:
        assert not back.key_created
        assert back.store.drafts.list_unfinished()[0].patient.display == PATIENT_NAME
        assert len(back.store.outbox.list_items()) == 2 and back.audit.verify().ok
    finally:
        back.close()


def test_an_unusable_recovery_key_is_reported_not_fatal(keys: StoreKeyring, user_dir: Path) -> None:
    ps = open_protected_store(
        user_dir / "store.db", keys, recovery_public_key=b"-----BEGIN PUBLIC KEY-----\nnope\n"
    )
    try:
        assert ps.warnings and "recovery key" in ps.warnings[0]
        ps.store.drafts.save(marker_draft())
    finally:
        ps.close()
    with pytest.raises(RecoveryKeyInvalid, match="no key for IT recovery"):
        restore_key_from_escrow(user_dir / "store.db", keys, _rsa_pair()[1])
