"""``FollowUpService``: starting from an earlier note — "Correct this note" or "Add an
addendum" — never from a copy of it.

    from_chart(chart, note)   -> EarlierNote   (a note of the chart pane: its records read from
                                                the EHR at their current versions)
    from_draft(approved)      -> EarlierNote   (a note approved in this app: where the outbox
                                                says it is — still queued, or confirmed)
    start(earlier, kind)      -> Draft         (the follow-up draft; not saved)
    written_here(commit ids)  -> frozenset     (which chart notes this workstation wrote)

Network through the FHIR client, the store on the site's store thread; failures arrive as
``ServiceError`` with words for the clinician.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from app.domain.clinical import PriorNote
from app.domain.clock import Clock, utc_now
from app.domain.draft import Draft, FollowUpKind
from app.domain.followup_drafts import EarlierNote, start_follow_up
from app.fhir.note_items import earlier_from_chart_note
from app.services.chart import OpenChart
from app.services.errors import ServiceError, user_errors
from app.store.store import Store
from app.sync.followups import earlier_from_outbox
from app.sync.store_thread import StoreThread

if TYPE_CHECKING:
    from app.fhir.client import FhirClient

__all__ = ["EarlierNote", "FollowUpKind", "FollowUpService"]


class FollowUpService:
    def __init__(
        self,
        fhir: FhirClient,
        store: Store,
        worker: StoreThread,
        clock: Clock = utc_now,
    ) -> None:
        self._fhir = fhir
        self._store = store
        self._worker = worker
        self._clock = clock

    async def from_chart(self, chart: OpenChart, note: PriorNote) -> EarlierNote:
        """A note of the chart pane, with the records it wrote as the chart holds them now."""
        if note.plain_text() is None:
            raise ServiceError(
                "This note has no text the app can read, so it cannot be corrected or added "
                "to here."
            )
        with user_errors(
            "The note's records could not be read. Check the connection and try again."
        ):
            return await earlier_from_chart_note(self._fhir, chart.context, note)

    async def from_draft(self, approved: Draft) -> EarlierNote:
        """A note approved in this app, as its commit in the outbox locates it."""
        with user_errors("The approved note could not be read from the outbox."):
            return await self._worker.run(earlier_from_outbox, self._store, approved)

    def start(self, earlier: EarlierNote, kind: FollowUpKind) -> Draft:
        return start_follow_up(earlier, kind, now=self._clock())

    async def written_here(self, commit_ids: Iterable[uuid.UUID]) -> frozenset[uuid.UUID]:
        """Which of ``commit_ids`` (read from the chart's notes) this workstation approved."""
        ids = tuple(commit_ids)
        if not ids:
            return frozenset()
        with user_errors("The outbox could not be read."):
            return await self._worker.run(self._store.lookups.written_here, ids)
