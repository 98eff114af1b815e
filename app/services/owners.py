"""``OwnerService``: who a follow-up task can be given to — the encounter's participants, the
patient's care team and a directory search by name — kept in the encrypted store so the picker
works offline (then it offers what was last fetched, and says so).

Network through the site's FHIR client (async); store work on the site's store thread.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import httpx

from app.domain.context import EncounterContext
from app.domain.owners import (
    OwnerCandidate,
    candidates_matching,
    encounter_candidates,
    merge_candidates,
)
from app.fhir.directory import care_team, search_directory
from app.fhir.errors import FhirError
from app.smart.errors import SmartError
from app.sync.store_thread import StoreThread

if TYPE_CHECKING:
    from app.fhir.client import FhirClient
    from app.store.directory_cache import OwnerDirectoryCache

log = logging.getLogger(__name__)
_OFFLINE = (FhirError, SmartError, httpx.HTTPError, OSError)


class OwnerService:
    def __init__(self, fhir: FhirClient, cache: OwnerDirectoryCache, worker: StoreThread) -> None:
        self._fhir = fhir
        self._cache = cache
        self._worker = worker
        self.offline = False  # the last look-up used what was kept, not the EHR

    async def for_chart(self, context: EncounterContext) -> tuple[OwnerCandidate, ...]:
        """The encounter's participants and the patient's care team (fetched, else kept)."""
        from app.store.directory_cache import care_team_key  # the store stack: after sign-in

        here = encounter_candidates(context.encounter.participants)
        key = care_team_key(context.patient.reference)
        try:
            team = await care_team(self._fhir, context.patient.reference)
        except _OFFLINE as exc:
            log.info("care team from the store (%s)", type(exc).__name__)
            kept = await self._worker.run(self._cache.load, key)
            self.offline = True
            return merge_candidates(here, kept.candidates if kept else ())
        self.offline = False
        await self._worker.run(self._cache.save, key, team)
        return merge_candidates(here, team)

    async def search(self, text: str) -> tuple[OwnerCandidate, ...]:
        """People whose name matches ``text`` in the EHR's directory (else among those kept)."""
        try:
            found = await search_directory(self._fhir, text)
        except _OFFLINE as exc:
            log.info("directory search from the store (%s)", type(exc).__name__)
            everyone = await self._worker.run(self._cache.everyone)
            self.offline = True
            return merge_candidates(candidates_matching(text, everyone))
        self.offline = False
        if found:
            from app.store.directory_cache import search_key  # the store stack: after sign-in

            await self._worker.run(self._cache.save, search_key(text), found)
        return merge_candidates(found)
