"""``DraftService``: the site's drafts — list, find, save (autosave), import from a file.

Every call runs on the site's store thread (one thread: saves keep their order), so the GUI
loop never waits for SQLite or the disk. Returns domain ``Draft`` objects; failures arrive as
``ServiceError`` with words for the clinician.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from app.domain.context import EncounterContext
from app.domain.draft import Draft
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
    def __init__(self, repo: DraftRepository, worker: StoreThread) -> None:
        self._repo = repo
        self._worker = worker

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
