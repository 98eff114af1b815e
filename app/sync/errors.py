"""Errors of the sync layer. Outcomes of single requests are not errors here: they become
``SyncEvent``s on the commit (see app.domain.outbox); what is raised is about the runner itself.

    SyncError                        base; ``user_message`` says what happened and what to do
    ├── SyncAlreadyRunning           another app instance holds this store's sync lock
    └── SyncSetupFailed              the server's capabilities could not be read, or the
                                     vendor profile allows no write at all

Failures of individual commits are stored on the commit (state, attempts, last error) and
shown in the outbox panel; they never stop the runner.
"""

from __future__ import annotations

from pathlib import Path


class SyncError(Exception):
    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class SyncAlreadyRunning(SyncError):
    def __init__(self, lock_path: Path) -> None:
        super().__init__(
            "Another copy of the app is already sending this user's notes to the EHR, so this "
            "one does not send. Close the other copy to send from here; nothing is lost."
        )
        self.lock_path = lock_path


class SyncSetupFailed(SyncError):
    pass
