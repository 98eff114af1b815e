"""``DraftService``: the site's drafts — list, find, save (autosave), import from a file, and
the decisions other than "approve" (decline an imported draft, discard one's own).

Every call runs on the site's store thread (one thread: saves keep their order), so the GUI
loop never waits for SQLite or the disk. Returns domain ``Draft`` objects; failures arrive as
``ServiceError`` with words for the clinician.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from app.domain.clinical import Reference
from app.domain.clock import Clock, utc_now
from app.domain.context import EncounterContext
from app.domain.draft import CloseReason, Draft
from app.domain.draft_decision import close_draft
from app.domain.draft_import import import_draft
from app.domain.errors import DomainError
from app.services.errors import ServiceError, user_errors
from app.store.errors import StoreError
from app.store.files import read_draft_file
from app.sync.store_thread import StoreThread

if TYPE_CHECKING:
    from app.store.drafts import DraftRepository

SAVE_FAILED = "The draft could not be saved."


class DraftService:
    def __init__(
        self,
        repo: DraftRepository,
        worker: StoreThread,
        user: Callable[[], Reference] = lambda: Reference("Practitioner", "unknown"),
        clock: Clock = utc_now,
    ) -> None:
        self._repo = repo
        self._worker = worker
        self._user = user
        self._clock = clock

    @property
    def user(self) -> Reference:
        """The signed-in clinician (who looks at flags, who declines)."""
        return self._user()

    async def close(self, draft_id: uuid.UUID, reason: CloseReason, note: str) -> Draft:
        """Decline an imported draft, or discard one's own, with a reason: stored with who,
        when, why and the content's fingerprint, and audited, in one transaction. Nothing is
        sent; the draft stays readable. ServiceError (words) when it cannot be done."""
        user, now = self._user(), self._clock()

        def decide(draft: Draft) -> Draft:
            return close_draft(draft, reason, note, user, now)

        with user_errors("The decision could not be saved; the draft is unchanged."):
            return await self._worker.run(self._repo.close, draft_id, decide)

    async def list_for_encounter(self, patient_id: str, encounter_id: str) -> list[Draft]:
        """Every draft of the encounter (approved ones too), newest first."""
        with user_errors("The drafts could not be read."):
            return await self._worker.run(
                self._repo.list_for_encounter, patient_id, encounter_id, include_closed=True
            )

    async def find(self, draft_id: uuid.UUID) -> Draft | None:
        with user_errors("The draft could not be read."):
            return await self._worker.run(self._repo.find, draft_id)

    async def save(
        self,
        draft: Draft,
        *,
        expected_revision: int | None = None,
        durable: bool = True,
        fallback: str = SAVE_FAILED,
    ) -> Draft:
        """Store ``draft``; returns it with its new revision. ``durable=False`` (autosave)
        skips the fsync: a crash keeps it, a power cut may lose the last moments."""
        with user_errors(fallback):
            return await self._worker.run(
                self._repo.save, draft, expected_revision=expected_revision, durable=durable
            )

    async def import_file(self, path: Path, context: EncounterContext, now: datetime) -> Draft:
        """Read and check a draft file (nothing is saved). ServiceError when it cannot be used."""

        def read() -> Draft:
            return import_draft(read_draft_file(path), context, now=now)

        try:
            return await self._worker.run(read)
        except (DomainError, StoreError) as exc:
            raise ServiceError(exc.user_message) from exc
        except OSError as exc:
            raise ServiceError("The draft file could not be imported.") from exc
