"""The typed result of the composition root: what the UI receives.

    Workbench (frozen)                     built once by app.bootstrap.build_workbench
    ├── sites, templates, startup          what was configured and what start-up found
    ├── sandbox: SandboxControl | None     the embedded EHR, when it runs
    ├── terminology: TerminologySearch     the observation picker's type-ahead
    └── directory: SiteDirectory           per-site services, each built once, on first use
        ├── session(site) -> SessionService                   cheap: no store, no network
        └── open(session) -> SiteServices (frozen)            after sign-in: opens the store
            ├── chart   ChartService      the chart over FHIR
            ├── drafts  DraftService      autosave, import
            ├── review  ReviewService     check, propose, queue
            ├── outbox  OutboxService     rows, actions, the sync runner
            ├── inbox   DraftInboxService the scribe's watched folder (None: not configured)
            ├── audit   AuditService      who did what
            ├── followups FollowUpService correct / add to an earlier note
            ├── owners  OwnerService      who a task can be given to (kept for offline)
            ├── worklist WorklistService  the day's visits, the HL7 v2 listener
            └── kpi     KpiService        "My week", the editor's active editing time

Every service gets its dependencies as constructor arguments (app.bootstrap builds them); no
service is set or replaced after construction. The directory builds a site's services lazily
(nothing of a site is opened before it is used: the sign-in window does not wait for SQLite)
and closes everything in reverse order.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeAlias

from app.services.errors import ServiceError

if TYPE_CHECKING:  # the services load with the first site opened, after the window painted
    from app.domain.site import Site
    from app.domain.templates import NoteTemplate
    from app.services.audit import AuditService
    from app.services.chart import ChartService
    from app.services.draft_inbox import DraftInboxService
    from app.services.drafts import DraftService
    from app.services.followups import FollowUpService
    from app.services.kpi import KpiService
    from app.services.offline import OfflineCharts
    from app.services.outbox import OutboxService
    from app.services.owners import OwnerService
    from app.services.review import ReviewService
    from app.services.session import SessionService
    from app.services.terminology import TerminologySearch
    from app.services.waiting import WaitingNotes
    from app.services.worklist import WorklistService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartupReport:
    """What start-up found, for the sign-in page."""

    config_error: str | None = None  # sites.toml was rejected: why, in words
    crashed_last_time: bool = False  # the last run did not end cleanly: say drafts were kept
    warnings: tuple[str, ...] = ()  # keyring problems and the like


class SandboxControl(Protocol):
    """The embedded sandbox EHR, stoppable to show queued notes waiting (Sandbox menu). Its
    address is known from the start; the server starts once the window has painted."""

    @property
    def running(self) -> bool: ...

    def begin(self) -> None:
        """Start it in the background (at start-up, once the window has painted)."""

    async def ready(self) -> None:
        """Wait until it is up; an error with words (``user_message``) when it cannot be."""

    def stop(self) -> None: ...

    def start(self) -> None: ...


@dataclass(frozen=True)
class SiteServices:
    """Everything the UI uses for one signed-in site."""

    site: Site
    session: SessionService
    chart: ChartService
    drafts: DraftService
    review: ReviewService
    outbox: OutboxService
    audit: AuditService
    followups: FollowUpService
    worklist: WorklistService
    owners: OwnerService | None = None  # task-owner candidates (None: a test without them)
    inbox: DraftInboxService | None = None  # the scribe's watched folder, where configured
    warnings: tuple[str, ...] = ()  # from opening the store (an unusable recovery key, ...)
    close: Callable[[], Awaitable[None]] = lambda: _nothing()
    kpi: KpiService | None = None  # "My week" and active editing time (None: a test without)
    offline: OfflineCharts | None = None  # charts kept for offline use (None: a test without)


async def _nothing() -> None:
    return None


SessionFactory: TypeAlias = "Callable[[Site], SessionService]"
SiteFactory: TypeAlias = "Callable[[SessionService], Awaitable[SiteServices]]"


class SiteDirectory:
    """Builds each site's services once, on first use; closes them in reverse order."""

    def __init__(
        self,
        make_session: SessionFactory,
        open_site: SiteFactory,
        waiting: Callable[[Site], WaitingNotes | None] = lambda _site: None,
    ) -> None:
        """``waiting``: the notes a site's store holds unsent, when that store is open (the
        first site's is, from the start), else None."""
        self._make_session = make_session
        self._open_site = open_site
        self._waiting = waiting
        self._sessions: dict[str, SessionService] = {}
        self._opened: dict[str, SiteServices] = {}

    def session(self, site: Site) -> SessionService:
        session = self._sessions.get(site.id)
        if session is None:
            session = self._sessions[site.id] = self._make_session(site)
        return session

    async def open(self, session: SessionService) -> SiteServices:
        """The site's services (its store opened on first use). ServiceError with words when
        the store cannot be used (damaged, key lost)."""
        opened = self._opened.get(session.site.id)
        if opened is None:
            opened = self._opened[session.site.id] = await self._open_site(session)
        return opened

    def opened(self, site: Site) -> SiteServices | None:
        return self._opened.get(site.id)

    def waiting(self, site: Site) -> WaitingNotes | None:
        """Notes approved at ``site`` and not sent yet (readable before a sign-in); None when
        its store is not open or cannot be read."""
        opened = self._opened.get(site.id)
        try:
            return opened.outbox.waiting() if opened is not None else self._waiting(site)
        except ServiceError:
            return None

    async def aclose(self) -> None:
        for services in reversed(list(self._opened.values())):
            await services.worklist.stop_listener()
            await services.outbox.stop_sync()
            await services.audit.settle()
            await services.close()
        self._opened.clear()
        for session in reversed(list(self._sessions.values())):
            await session.aclose()
        self._sessions.clear()


@dataclass(frozen=True)
class Workbench:
    """The app as the UI receives it. See the module docstring."""

    sites: tuple[Site, ...]
    templates: tuple[NoteTemplate, ...]
    startup: StartupReport
    directory: SiteDirectory
    sandbox: SandboxControl | None = None
    close: Callable[[], Awaitable[None]] = lambda: _nothing()
    ui_settings: Path | None = None  # per-user window layout (no PHI); None: not remembered

    @cached_property
    def terminology(self) -> TerminologySearch:
        """The observation picker's index over the terminology, built on first use (once the
        window has painted)."""
        from app.services.terminology import TerminologySearch

        return TerminologySearch()

    @property
    def single_site(self) -> Site | None:
        """The site to continue at start-up: only when there is exactly one."""
        return self.sites[0] if len(self.sites) == 1 else None

    async def aclose(self) -> None:
        """Stop sending, close every site's store and session, then the rest (reverse order)."""
        await self.directory.aclose()
        await self.close()
