"""``OutboxService``: the site's outbox as the UI uses it — the rows and their summary, one
commit in detail, the clinician's actions (retry, send again, discard), and the sync runner
that sends in the background.

Actions write with ``synchronous=FULL`` (an fsync), so they run on the site's store thread and
the GUI loop never waits for the disk. Reading a page of rows, the summary or one commit is a
small indexed read that never waits for a writer (WAL): those stay synchronous so the Qt table
model can page with ``fetchMore`` (measured in docs/performance.md: a page of 500 rows in ~3 ms,
a commit in detail in ~1 ms).

The records it returns (``OutboxRow``, ``OutboxSummary``, ``OutboxEntry``, ``ReadBack``,
``ConflictDetail``; the runner's ``RunnerStatus``) are re-exported here: they are part of the
facade's vocabulary.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from app.domain.listeners import Listeners
from app.domain.outbox import IllegalTransition, OutboxItem, OutboxState
from app.fhir.narrative import NarrativeTooLarge as NarrativeTooLarge
from app.fhir.narrative import sanitize_for_qt as sanitize_for_qt
from app.fhir.write_summary import describe_commit
from app.services.errors import ServiceError, user_errors
from app.services.review import WriteLine as WriteLine
from app.services.waiting import WaitingNotes, patient_label, patient_labels, waiting_notes
from app.store.outbox_records import ConflictDetail as ConflictDetail
from app.store.outbox_records import OutboxChange as OutboxChange
from app.store.outbox_records import OutboxEntry as OutboxEntry
from app.store.outbox_records import OutboxRow as OutboxRow
from app.store.outbox_records import OutboxSummary as OutboxSummary
from app.store.outbox_records import ReadBack as ReadBack
from app.sync.runner import Connectivity as Connectivity
from app.sync.runner import RunnerStatus as RunnerStatus
from app.sync.runner import SyncRunner
from app.sync.store_thread import StoreThread

if TYPE_CHECKING:
    from app.store.outbox import OutboxRepository

__all__ = [
    "CommitDetail",
    "ConflictDetail",
    "Connectivity",
    "NarrativeTooLarge",
    "OutboxChange",
    "OutboxEntry",
    "OutboxRow",
    "OutboxService",
    "OutboxSummary",
    "ReadBack",
    "RunnerStatus",
    "WriteLine",
    "sanitize_for_qt",
]

log = logging.getLogger(__name__)

UNREADABLE = "The outbox could not be read."
RunnerFactory = Callable[[], Awaitable[SyncRunner]]
StatusListener = Callable[[RunnerStatus | None], None]


@dataclass(frozen=True)
class CommitDetail:
    """One commit for the detail area: the stored entry and each write in words."""

    entry: OutboxEntry
    writes: tuple[WriteLine, ...]


class OutboxService:
    def __init__(
        self,
        repo: OutboxRepository,
        worker: StoreThread,
        user_label: Callable[[], str],
        make_runner: RunnerFactory | None = None,
    ) -> None:
        self._repo = repo
        self._worker = worker
        self._user_label = user_label
        self._make_runner = make_runner
        self._runner: SyncRunner | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._starting: asyncio.Task[None] | None = None  # start_sync under way
        self._status_listeners: Listeners[StatusListener] = Listeners()
        self._unsubscribe_runner: Callable[[], None] | None = None
        self._in_flight_listeners: Listeners[Callable[[], None]] = Listeners()
        self._unsubscribe_in_flight: Callable[[], None] | None = None
        self._patients: dict[UUID, str] = {}  # commit -> patient label (PHI: memory only)
        # given to each runner: awaited before the first send after the EHR came back
        self.before_drain: Callable[[], Awaitable[None]] | None = None

    # ------------------------------------------------------------------ reading
    def rows(
        self,
        states: Iterable[OutboxState] | None,
        *,
        limit: int,
        offset: int = 0,
    ) -> list[OutboxRow]:
        """Newest first; no payloads."""
        with user_errors(UNREADABLE):
            return self._repo.list_items(
                states=states, limit=limit, offset=offset, newest_first=True
            )

    def summary(self) -> OutboxSummary:
        with user_errors(UNREADABLE):
            return self._repo.summary()

    def item(self, commit_id: UUID) -> OutboxItem:
        with user_errors(UNREADABLE):
            return self._repo.item(commit_id)

    def detail(self, commit_id: UUID) -> CommitDetail:
        with user_errors(UNREADABLE):
            entry = self._repo.get(commit_id)
        writes = tuple(WriteLine(d.heading, d.text) for d in describe_commit(entry.commit))
        return CommitDetail(entry, writes)

    def patient_label(self, commit_id: UUID) -> str:
        """Who a commit is for, as the approval dialog said it: "Maria Elena Garcia (MRN
        MRN-1001)", hidden characters made visible. Read from the commit's encrypted review
        decision (never stored in clear) and kept in memory for the rows already shown."""
        label = self._patients.get(commit_id)
        if label is None:
            label = self._patients[commit_id] = patient_label(self._repo, commit_id)
        return label

    def prefetch_patients(self, commit_ids: Sequence[UUID]) -> None:
        """Read the patients of the rows about to be shown in one go (a screenful)."""
        missing = [c for c in commit_ids if c not in self._patients]
        if missing:
            self._patients.update(patient_labels(self._repo, missing))

    def waiting(self) -> WaitingNotes:
        """Notes approved and not in the chart yet (the closing question counts them)."""
        with user_errors(UNREADABLE):
            return waiting_notes(self._repo)

    def already_in_ehr(self, commit_id: UUID) -> list[str]:
        """``Type/id`` of the commit's writes the EHR already holds (a discard keeps them)."""
        with user_errors(UNREADABLE):
            entry = self._repo.get(commit_id)
        return [r.reference for r in entry.writes if r.reference]

    def subscribe(self, listener: Callable[[OutboxChange], None]) -> Callable[[], None]:
        """Commit changes after they are stored, on whichever thread stored them."""
        return self._repo.subscribe(listener)

    # ------------------------------------------------------------------ the clinician's actions
    async def retry(self, commit_id: UUID) -> None:
        """ "Retry now" / "Check again now": due at once, then the runner is woken."""
        await self._act(
            "It could not be retried.", self._repo.retry, commit_id, by=self._user_label()
        )
        self.sync_now()

    async def resend(self, commit_id: UUID) -> None:
        """ "Send again" after the clinician looked in the chart (an outcome never checked)."""
        await self._act(
            "It could not be sent again.",
            self._repo.retry,
            commit_id,
            resend=True,
            by=self._user_label(),
        )
        self.sync_now()

    async def discard(self, commit_id: UUID, reason: str) -> None:
        """Never sent: only after the dialog's confirmation, with the typed reason (audited)."""
        await self._act(
            "It could not be discarded.",
            self._repo.discard,
            commit_id,
            reason,
            self._user_label(),
            confirmed=True,
        )

    async def _act(self, fallback: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """A write on the store thread. A commit that moved on meanwhile (the runner sent it)
        refuses the move: ServiceError, whose cause says which move."""
        try:
            with user_errors(fallback):
                await self._worker.run(fn, *args, **kwargs)
        except (IllegalTransition, ValueError) as exc:
            raise ServiceError(str(exc) or fallback) from exc

    # ------------------------------------------------------------------ sending
    @property
    def sending(self) -> bool:
        """True while the runner sends in the background."""
        return self._runner is not None

    @property
    def in_pass(self) -> bool:
        """True while a pass is sending or checking (not between passes)."""
        return self._runner is not None and self._runner.in_pass

    @property
    def status(self) -> RunnerStatus | None:
        return self._runner.status if self._runner is not None else None

    @property
    def in_flight(self) -> frozenset[UUID]:
        """The commits being sent now: a commit stored as SENDING and not in here waits for
        its turn (the runner sends ``concurrency`` at once), or for sending to start."""
        return self._runner.in_flight.commits if self._runner is not None else frozenset()

    def subscribe_in_flight(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Told (on the event loop) each time ``in_flight`` changes while a runner sends."""
        return self._in_flight_listeners.add(listener)

    def _in_flight_changed(self) -> None:
        for listener in self._in_flight_listeners:
            listener()

    async def start_sync(self) -> None:
        """Start sending in the background until ``stop_sync``. ServiceError when it cannot
        (another app instance sends this store; the EHR's capabilities could not be read).

        The start runs on its own (shielded): a caller cancelled meanwhile, or a ``stop_sync``
        that came while it was under way (a sign-out during the sign-in), never leaves a runner
        behind that nobody stops (its lock file, store thread and connections)."""
        if self._runner is not None or self._make_runner is None:
            return
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start_runner(self._make_runner))
        await asyncio.shield(self._starting)

    async def _start_runner(self, make_runner: RunnerFactory) -> None:
        try:
            with user_errors("Sending could not start."):
                runner = await make_runner()
                runner.before_drain = self.before_drain
                try:
                    await runner.start()
                except BaseException:
                    await runner.aclose()
                    raise
        finally:
            self._starting = None
        stop = asyncio.Event()
        self._runner, self._stop = runner, stop
        self._task = asyncio.ensure_future(runner.run_forever(stop))
        self._unsubscribe_runner = runner.subscribe_status(self._status_changed)
        self._unsubscribe_in_flight = runner.in_flight.subscribe(self._in_flight_changed)
        self._status_changed(runner.status)

    async def stop_sync(self) -> None:
        starting = self._starting
        if starting is not None:  # a start under way ends first, then is stopped here
            await asyncio.wait([starting])
            if not starting.cancelled():
                starting.exception()  # told to start_sync's caller, if one still waits
        runner, stop, task = self._runner, self._stop, self._task
        if runner is None or stop is None or task is None:
            return
        self._runner = self._stop = self._task = None
        for unsubscribe in (self._unsubscribe_runner, self._unsubscribe_in_flight):
            if unsubscribe is not None:
                unsubscribe()
        self._unsubscribe_runner = self._unsubscribe_in_flight = None
        stop.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        await runner.aclose()
        self._status_changed(None)
        # ``in_flight`` is empty now; its listeners are not told: the stores close next, and
        # the views re-read it with the rows (the dock is closed before sending stops)

    def sync_now(self) -> None:
        if self._runner is not None:
            self._runner.sync_now()

    def notify_enqueued(self) -> None:
        if self._runner is not None:
            self._runner.notify_enqueued()

    def notify_reconnected(self) -> None:
        if self._runner is not None:
            self._runner.notify_reconnected()

    def network_changed(self) -> None:
        """The OS reports a network change, or the sandbox was stopped: probe the EHR now."""
        if self._runner is not None:
            self._runner.network_changed()

    def subscribe_status(self, listener: StatusListener) -> Callable[[], None]:
        """The runner's status (online/offline, paused for sign-in); None: not sending."""
        return self._status_listeners.add(listener)

    def _status_changed(self, status: RunnerStatus | None) -> None:
        for listener in self._status_listeners:
            listener(status)
