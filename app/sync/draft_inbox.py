"""The watched folder's runner: one scan turns each ready file into a draft awaiting review for
its own patient and encounter, or sets it aside with the reason beside it.

    scan() -> [InboxOutcome]       a file that changed since the last look: said once (WAITING,
                                    "still being written"), left alone until it stops changing
                                   each ready file (stable for the settle time), oldest first:
        read (size cap)             too big / unreadable            -> rejected/
        SHA-256 seen before?        the same content again          -> rejected/
        source patient, encounter   missing                         -> rejected/
        the chart of that encounter the clinician may not read it   -> rejected/
                                    the EHR unreachable, no sign-in -> left in place (WAITING)
        import_draft (pure)         not valid                       -> rejected/
        save the draft (audited)    the store fails                 -> left in place (WAITING)
        file away                                                   -> imported/

Nothing is ever approved: a saved draft is OPEN, like any imported draft. The log names no file
(a scribe's file name may carry a patient's name): the outcomes carry it, to the screen only. Store and folder calls
run through ``run`` (the site's store thread: the event loop never waits for the disk); the
chart is read with the signed-in clinician's token (``load_context``). The rules of readiness
are in :mod:`app.domain.draft_inbox`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from app.domain.clock import Clock, utc_now
from app.domain.context import EncounterContext
from app.domain.draft import Draft
from app.domain.draft_import import import_draft, read_source
from app.domain.draft_inbox import (
    DEFAULT_SETTLE,
    InboxEntry,
    InboxOutcome,
    InboxOutcomeKind,
    Sighting,
    growing_files,
    ready_files,
)
from app.domain.errors import DraftImportError
from app.fhir.errors import (
    FhirContextError,
    FhirError,
    FhirForbidden,
    FhirHttpError,
    FhirNotFound,
    FhirResponseError,
)
from app.smart.errors import SmartError
from app.store.draft_inbox import InboxFolder
from app.store.errors import StoreError

if TYPE_CHECKING:  # the store stack loads after the sign-in window (issue 15)
    from app.store.drafts import DraftRepository

T = TypeVar("T")
log = logging.getLogger(__name__)

ContextLoader = Callable[[str, str], Awaitable[EncounterContext]]  # (patient id, encounter id)
Runner = Callable[..., Awaitable[Any]]

# The EHR refused to show this chart to this clinician (or it does not exist): not for them.
# (401 is not among them: the session needs signing in again, the file waits.)
_NOT_READABLE = (FhirForbidden, FhirNotFound)


async def _direct(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    return fn(*args, **kwargs)


class DraftInbox:
    def __init__(
        self,
        folder: InboxFolder,
        drafts: DraftRepository,
        load_context: ContextLoader,
        *,
        settle: timedelta = DEFAULT_SETTLE,
        run: Runner = _direct,
        clock: Clock = utc_now,
    ) -> None:
        self.folder = folder
        self._drafts = drafts
        self._load_context = load_context
        self._settle = settle
        self._run = run
        self._clock = clock
        self._seen: dict[str, Sighting] = {}
        self._told_growing: set[str] = set()  # files said to be still being written

    async def scan(self) -> list[InboxOutcome]:
        """Handle every ready file once; InboxUnavailable when the folder cannot be listed."""
        entries: list[InboxEntry] = await self._run(self.folder.entries)
        now = self._clock()
        growing = [n for n in growing_files(entries, self._seen) if n not in self._told_growing]
        ready, self._seen = ready_files(entries, self._seen, now, self._settle)
        self._told_growing = {n for n in (*self._told_growing, *growing) if n in self._seen}
        outcomes = [self._still_written(name, now) for name in growing]
        for entry in ready:
            outcome = await self._handle(entry.name)
            if outcome is not None:
                outcomes.append(outcome)
                if outcome.kind is not InboxOutcomeKind.WAITING:
                    self._seen.pop(entry.name, None)
        return outcomes

    async def _handle(self, name: str) -> InboxOutcome | None:
        now = self._clock()
        try:
            data: bytes = await self._run(self.folder.read, name)
        except DraftImportError as exc:
            if not await self._run(self.folder.has, name):
                return None  # taken away by its writer since the listing
            return await self._reject(name, _problem(exc), now, None)
        sha = hashlib.sha256(data).hexdigest()  # the same as the draft's import_sha256
        earlier: Draft | None = await self._run(self._drafts.find_imported, sha)
        if earlier is not None:
            when = earlier.created_at.strftime("%Y-%m-%d %H:%M UTC")
            return await self._reject(
                name,
                f"the same content was already imported on {when} as a draft for "
                f"{earlier.patient.relative}, {earlier.encounter.relative}; this copy was not "
                "imported again",
                now,
                data,
            )
        try:
            patient, encounter = read_source(data)
        except DraftImportError as exc:
            return await self._reject(name, _problem(exc), now, data)
        try:
            context = await self._load_context(patient.id, encounter.id)
        except FhirContextError:
            return await self._reject(
                name,
                f"in the EHR, {encounter.relative} is not an encounter of {patient.relative}; "
                "ask the sender for a corrected file",
                now,
                data,
            )
        except _NOT_READABLE as exc:
            status = f"HTTP {exc.status}" if isinstance(exc, FhirHttpError) else "refused"
            return await self._reject(
                name,
                f"{patient.relative} / {encounter.relative} could not be read with your access "
                f"({status}); ask the clinician responsible for this patient to import it",
                now,
                data,
            )
        except (FhirError, SmartError) as exc:
            if isinstance(exc, FhirResponseError):
                log.warning("draft inbox: %s reading a file's chart", type(exc).__name__)
            return self._waiting(name, now, "the EHR could not be asked about its patient now")
        try:
            draft = import_draft(data, context, now=now)
        except DraftImportError as exc:
            return await self._reject(name, _problem(exc), now, data)
        try:
            saved: Draft = await self._run(self._drafts.save, draft)
            moved: str = await self._run(self.folder.file_away, name)
        except (StoreError, OSError) as exc:
            log.warning("draft inbox: %s while saving a draft", type(exc).__name__)
            return self._waiting(name, now, "the draft could not be saved now")
        return InboxOutcome(
            InboxOutcomeKind.IMPORTED,
            name,
            now,
            draft_id=str(saved.id),
            patient=saved.patient.relative,
            encounter=saved.encounter.relative,
            moved_to=moved,
            shown_as=_shown_as(context),
        )

    async def _reject(
        self, name: str, reason: str, now: datetime, data: bytes | None
    ) -> InboxOutcome:
        try:
            moved: str = await self._run(self.folder.set_aside, name, reason, now, data)
        except OSError as exc:
            log.warning("draft inbox: %s while setting a file aside", type(exc).__name__)
            return self._waiting(name, now, f"{reason} (and it could not be moved aside)")
        return InboxOutcome(InboxOutcomeKind.REJECTED, name, now, reason=reason, moved_to=moved)

    def _still_written(self, name: str, now: datetime) -> InboxOutcome:
        seconds = round(self._settle.total_seconds())
        return InboxOutcome(
            InboxOutcomeKind.WAITING,
            name,
            now,
            reason=(
                "it is still being written (it changed since the last look); it is read once "
                f"it has not changed for {seconds} second{'s' if seconds != 1 else ''}"
            ),
        )

    @staticmethod
    def _waiting(name: str, now: datetime, reason: str) -> InboxOutcome:
        return InboxOutcome(
            InboxOutcomeKind.WAITING, name, now, reason=f"{reason}; it will be tried again"
        )


def _shown_as(context: EncounterContext) -> str:
    """The patient and the visit as the clinician reads them on the screen."""
    patient, visit = context.patient, context.encounter
    mrn = f" ({patient.mrn})" if patient.mrn else ""
    when = f", visit of {visit.period_start.date().isoformat()}" if visit.period_start else ""
    return f"{patient.name}{mrn}{when}"


def _problem(exc: DraftImportError) -> str:
    """The first problem with its JSON path ("$.sections[1].text: must be a string")."""
    return exc.problem if exc.path == "$" else f"{exc.path}: {exc.problem}"
