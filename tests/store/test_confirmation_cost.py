"""Issue 15: what SQLite does for a commit's send and confirmation does not grow with the
store's history. The send-attempt count of the audit hook's lookups used SQLite's index on the
record kind and read every send attempt the log held: 0.28 ms of the store thread's time per
commit by the end of a 1,000-commit drain, and more every day a clinic uses the app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event

from app.domain.outbox import SyncEvent
from app.fhir.profiles import load_profile
from app.store.crypto import StoreKeyring
from app.store.outbox_records import WriteResult
from app.store.protected import ProtectedStore, open_protected_store
from tests.store.protected_support import file_keyring
from tests.sync.commits import clinical_commit


def _send_and_confirm(ps: ProtectedStore, text: str) -> None:
    commit = clinical_commit(load_profile("generic-r4"), text=text)
    outbox = ps.store.outbox
    outbox.enqueue_approval(commit, "{}")
    outbox.apply(commit.commit_id, SyncEvent.SEND_STARTED, strategy="transaction")
    results = [WriteResult(w.position, f"{text}-{w.position}", "1") for w in commit.writes]
    outbox.apply(commit.commit_id, SyncEvent.SERVER_ACCEPTED, results=results)


class _Steps:
    """SQLite's virtual-machine steps on the store's connections while counting."""

    def __init__(self, ps: ProtectedStore) -> None:
        self.count = 0
        self.counting = False
        event.listen(ps.store.db.engine, "checkout", self._checked_out)

    def _checked_out(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        dbapi_connection.set_progress_handler(self._step, 1)

    def _step(self) -> int:
        if self.counting:
            self.count += 1
        return 0  # go on


def _steps_of_one_confirmation(tmp_path: Path, earlier_commits: int) -> int:
    keys = StoreKeyring(file_keyring(tmp_path / "keys"))
    ps = open_protected_store(tmp_path / f"after-{earlier_commits}" / "store.db", keys)
    try:
        with ps.store.outbox.group():  # the history in one transaction: quick to write
            for n in range(earlier_commits):
                _send_and_confirm(ps, f"earlier-{n}")
        steps = _Steps(ps)
        steps.counting = True
        _send_and_confirm(ps, "measured")
        return steps.count
    finally:
        ps.close()


def test_a_confirmation_costs_the_same_after_a_long_history(tmp_path: Path) -> None:
    fresh = _steps_of_one_confirmation(tmp_path, 3)
    aged = _steps_of_one_confirmation(tmp_path, 300)
    # a B-tree one level deeper may add a few steps; reading the 300 earlier send attempts
    # (several steps each) added thousands
    assert aged <= fresh * 1.1, (fresh, aged)
