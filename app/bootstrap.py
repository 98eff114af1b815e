"""The composition root: builds the running app from constructor arguments.

    build_workbench(...)  -> Workbench      paths, logging, sites, templates, the sandbox when it
                                            runs, and the per-site directory (lazy)
    site_services(...)    -> SiteServices   one site's services over its store and session
    sync_runner(...)      -> SyncRunner     the EHR's CapabilityStatement + the site's vendor
                                            profile -> the runner that sends its outbox

``main`` (the GUI), ``cli`` (support commands) and ``selftest`` build through these same
functions: ``open_site_store``, ``create_session``, ``fhir_client``, ``sync_runner`` and
``site_services``. Nothing here is a registry: each function returns what it built, and the
Workbench the UI receives is frozen (docs/architecture.md, "Composition root").
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keyring

from app.domain.site import Site
from app.embedded_sandbox import EmbeddedSandbox, SandboxUnavailable, reserve_sandbox
from app.keyring_policy import DemoFileKeyring, enforce_os_keyring, is_secure
from app.logging_setup import LogLevelChoice, set_log_level
from app.paths import AppPaths
from app.services.workbench import SiteDirectory, SiteServices, StartupReport, Workbench
from app.smart.errors import SiteConfigError
from app.smart.sites import load_sites, sandbox_site
from app.store.templates import load_templates

if TYPE_CHECKING:
    import httpx

    # a site's services and session load on first use, the store stack after the first paint
    from app.domain.visit_events import VisitEvent
    from app.fhir.client import FhirClient
    from app.hl7.listener import MllpListener
    from app.sandbox.server import SandboxServer
    from app.services.audit import AuditService
    from app.services.draft_inbox import DraftInboxService
    from app.services.offline import OfflineCharts
    from app.services.session import SessionService
    from app.services.waiting import WaitingNotes
    from app.services.worklist import WorklistService
    from app.smart.keyring_store import RefreshTokenStore
    from app.smart.session import SmartSession
    from app.store.backup import StoreBackups
    from app.store.crypto import StoreKeyring
    from app.store.outbox import OutboxRepository
    from app.store.protected import ProtectedStore
    from app.store.store import Store
    from app.sync.runner import SyncRunner
    from app.sync.store_thread import StoreThread

log = logging.getLogger(__name__)

# Exit status when the local store cannot be used (damaged, missing, key lost): the app and
# the support commands alike (docs/deployment.md).
EXIT_STORE_UNUSABLE = 3
# Exit status when the embedded sandbox, the only EHR there is, cannot run on this computer
# (its loopback port refused: app.embedded_sandbox.SandboxUnavailable).
EXIT_SANDBOX_UNAVAILABLE = 4


# ---------------------------------------------------------------------------- one site


def site_folder(paths: AppPaths, site: Site) -> Path:
    """One encrypted store per site: drafts and commits hold that EHR's ids and go only there."""
    return paths.data_dir / "sites" / site.id


def open_site_store(
    folder: Path,
    *,
    is_sandbox: bool,
    actor: Callable[[], str | None] = lambda: None,
    destination: Callable[[], str | None] = lambda: None,
) -> ProtectedStore:
    """A site's encrypted store (the app and the command line open it the same way). Raises
    StoreKeyUnavailable / KeyLost (with messages for people) when its key cannot be had."""
    from app.store.protected import open_protected_store

    folder.mkdir(parents=True, exist_ok=True)
    keys = site_keyring(folder, is_sandbox=is_sandbox)
    return open_protected_store(folder / "store.db", keys, actor=actor, destination=destination)


def site_keyring(folder: Path, *, is_sandbox: bool) -> StoreKeyring:
    """Where the key of the store in ``folder`` is kept."""
    from app.store.crypto import StoreKeyring

    if is_sandbox and not is_secure(keyring.get_keyring()):
        # synthetic data only: the demo works on computers without an OS keyring
        return StoreKeyring(DemoFileKeyring(folder / "demo-only-store-key.json"))
    return StoreKeyring()


def create_session(site: Site, http: httpx.AsyncClient, **options: Any) -> SmartSession:
    """The site's SMART session (``options``: token store, browser, timeouts — for tests, the
    command line and the self-test)."""
    from app.smart.session import SmartSession

    return SmartSession(site, http, **options)


def fhir_client(site: Site, http: httpx.AsyncClient, session: SmartSession) -> FhirClient:
    """One FhirClient per session, so its cached CapabilityStatement is shared."""
    from app.fhir.client import FhirClient

    return FhirClient(http, site.fhir_base, auth=session.auth)


async def sync_runner(
    site: Site,
    outbox: OutboxRepository,
    fhir: FhirClient,
    *,
    lock_path: Path,
    wait_until_signed_in: Callable[[], Awaitable[None]] | None = None,
    statement: dict[str, Any] | None = None,
) -> SyncRunner:
    """The runner that sends ``outbox`` to the site: the vendor profile the site names (or the
    one the EHR's CapabilityStatement suggests) decides how each commit is written.
    ``statement``: the CapabilityStatement when the caller already has it."""
    from app.fhir.profiles import choose_profile
    from app.store.site_refusals import SiteRefusals
    from app.sync.runner import SyncRunner

    if statement is None:
        statement = await fhir.capability()
    return SyncRunner(
        outbox,
        fhir,
        profile=choose_profile(site.vendor_profile, statement),
        lock_path=lock_path,
        wait_until_signed_in=wait_until_signed_in,
        probe=fhir.probe,  # "Online"/"Offline" kept true between sends (run_forever only)
        refusals=SiteRefusals(lock_path.parent),  # the site's folder
    )


def site_services(
    site: Site,
    session: SmartSession,
    http: httpx.AsyncClient,
    protected: ProtectedStore,
    folder: Path,
    signed_in: SessionService | None = None,
) -> SiteServices:
    """One site's services over its open store and its session, each built by constructor
    arguments. They share one store thread, so the GUI loop never waits for SQLite and the
    site's writes keep their order. Closing them stops that thread; the store stays open for
    whoever opened it."""
    from app.services.audit import AuditService
    from app.services.chart import ChartService
    from app.services.drafts import DraftService
    from app.services.followups import FollowUpService
    from app.services.kpi import KpiService
    from app.services.outbox import OutboxService
    from app.services.owners import OwnerService
    from app.services.review import ReviewService
    from app.services.session import SessionService
    from app.store.site_refusals import SiteRefusals
    from app.sync.store_thread import StoreThread

    store = protected.store
    worker = StoreThread()
    signed_in = signed_in or SessionService(session)
    fhir = fhir_client(site, http, session)
    audit = AuditService(protected.audit, worker, signed_in.actor)
    refusals = SiteRefusals(folder)

    async def make_runner() -> SyncRunner:
        return await sync_runner(
            site,
            store.outbox,
            fhir,
            lock_path=folder / "sync.lock",
            wait_until_signed_in=session.wait_until_signed_in,
        )

    outbox = OutboxService(store.outbox, worker, lambda: signed_in.user_label, make_runner)
    worklist, offline = worklist_and_offline(site, fhir, signed_in, store, worker)
    outbox.subscribe_status(offline.on_status)
    inbox = draft_inbox(site, store, fhir, worker, audit)

    async def close() -> None:
        if inbox is not None:
            await inbox.aclose()
        await offline.aclose()
        await asyncio.get_running_loop().run_in_executor(None, worker.close)

    return SiteServices(
        site=site,
        session=signed_in,
        chart=ChartService(
            fhir,
            signed_in,
            site.vendor_profile,
            audit.record,
            offline,
            refused=lambda: tuple(refusals.load()),
            history_limit=site.chart_history_limit,
        ),
        drafts=DraftService(store.drafts, worker, lambda: signed_in.approver),
        review=ReviewService(store, worker, on_queued=outbox.notify_enqueued),
        outbox=outbox,
        audit=audit,
        worklist=worklist,
        followups=FollowUpService(fhir, store, worker),
        inbox=inbox,
        owners=OwnerService(fhir, store.directory, worker),
        warnings=(*protected.warnings, *(r.words for r in refusals.load().values())),
        close=close,
        kpi=KpiService(store.kpi, worker),
        offline=offline,
    )


def worklist_and_offline(
    site: Site, fhir: FhirClient, signed_in: SessionService, store: Store, worker: StoreThread
) -> tuple[WorklistService, OfflineCharts]:
    """The site's worklist and its charts kept for offline use, each following the other."""
    from app.services.offline import OfflineCharts
    from app.services.worklist import WorklistService

    worklist = WorklistService(
        fhir,
        signed_in,
        store.db,
        store.worklist,
        worker,
        listener=hl7_listener(site),
        kept=lambda: store.charts.kept_encounters(site.offline),
    )
    offline = OfflineCharts(fhir, store.charts, worker, policy=site.offline)
    worklist.subscribe(offline.prefetch_worklist)
    offline.subscribe(worklist.marks_changed)
    return worklist, offline


def draft_inbox(
    site: Site, store: Store, fhir: FhirClient, worker: StoreThread, audit: AuditService
) -> DraftInboxService | None:
    """The scribe's watched folder of ``site``; None (the default) unless its site file names
    a folder."""
    if site.draft_inbox is None:
        return None
    from app.services.draft_inbox import DraftInboxService

    return DraftInboxService(
        site.draft_inbox,
        store.drafts,
        fhir,
        worker,
        audit.record,
        settle=timedelta(seconds=site.draft_inbox_settle_seconds),
    )


def hl7_listener(site: Site) -> Callable[[Callable[[VisitEvent], None]], MllpListener] | None:
    """What builds the site's HL7 v2 listener (None: the site has none in sites.toml)."""
    settings = site.hl7
    if settings is None:
        return None

    def make(deliver: Callable[[VisitEvent], None]) -> MllpListener:
        from app.hl7.listener import MllpListener

        return MllpListener(settings, deliver)

    return make


# ---------------------------------------------------------------------------- every site


def os_keyring_in_use() -> bool:
    """Whether sessions can be kept: the process keyring is an OS keyring (the policy in
    app.keyring_policy installs one that stores nothing otherwise)."""
    return is_secure(keyring.get_keyring())


def session_store(site: Site, keeps_sessions: bool) -> RefreshTokenStore:
    """Where ``site``'s refresh token is kept: the OS keyring, or — without one — nowhere,
    quietly (the start-up sentence already said so; no second warning, no error)."""
    from keyring.backends import null

    from app.smart.keyring_store import RefreshTokenStore

    if keeps_sessions:
        return RefreshTokenStore(site.id)
    return RefreshTokenStore(site.id, backend=null.Keyring())  # type: ignore[no-untyped-call]


class SiteFactory:
    """What the Workbench's SiteDirectory calls to build a site's services on first use; it
    owns what it opened (HTTP clients, stores, their backups) and closes it last."""

    def __init__(
        self,
        paths: AppPaths,
        log_levels: LogLevelChoice | None,
        *,
        keeps_sessions: Callable[[], bool] = os_keyring_in_use,
    ) -> None:
        self._paths = paths
        self._log_levels = log_levels
        self._keeps_sessions = keeps_sessions
        self.http: dict[str, httpx.AsyncClient] = {}
        self._smart: dict[str, SmartSession] = {}
        self._sessions: dict[str, SessionService] = {}
        self._stores: dict[str, ProtectedStore] = {}
        self._backups: list[StoreBackups] = []
        # the first site's store opens on a worker thread as the window shows; signing in at
        # once asks for it from another: one of them opens it, the other gets the same one
        self._opening = threading.Lock()
        self._closed = False  # (under _opening) aclose ran: no store opens any more

    def http_for(self, site: Site) -> httpx.AsyncClient:
        from app.smart.http import create_http_client

        client = self.http.get(site.id)
        if client is None:
            client = self.http[site.id] = create_http_client(site)
        return client

    def session(
        self, site: Site, *, ehr_ready: Callable[[], Awaitable[None]] | None = None
    ) -> SessionService:
        """``site``'s session; ``ehr_ready``: what its sign-in waits for first (the embedded
        sandbox, started after the window painted)."""
        from app.services.session import SessionService
        from app.smart.offline_unlock import OfflineUnlockStore

        if self._log_levels is not None:  # a site's own log_level applies while it is used
            set_log_level(self._log_levels.for_site(site))
        store = session_store(site, self._keeps_sessions())
        smart = self._smart[site.id] = create_session(
            site, self.http_for(site), token_store=store, ehr_ready=ehr_ready
        )
        unlock = OfflineUnlockStore(site.id)  # the offline start: beside the kept session
        session = self._sessions[site.id] = SessionService(smart, unlock)
        return session

    def actor(self, site: Site) -> str | None:
        """Who is signed in at ``site`` now, for the audit entries the store writes itself."""
        session = self._sessions.get(site.id)
        return None if session is None else session.actor()

    def store(self, site: Site) -> ProtectedStore:
        """The site's store, opened once (the GUI opens the first site's as soon as the window
        shows, to refuse a damaged store at once)."""
        from app.store.backup import StoreBackups

        with self._opening:
            protected = self._stores.get(site.id)
            if protected is None:
                if self._closed:  # a sign-in cancelled by the quit, still opening its store
                    from app.store.errors import StoreClosed

                    raise StoreClosed(site_folder(self._paths, site) / "store.db")
                protected = self._stores[site.id] = open_site_store(
                    site_folder(self._paths, site),
                    is_sandbox=site.is_sandbox,
                    actor=lambda: self.actor(site),
                    destination=lambda: site.fhir_base,
                )
                # an encrypted copy after each approval batch and daily, off the GUI thread
                backups = StoreBackups(protected.path)
                protected.store.outbox.subscribe(backups.on_outbox_change)
                backups.start()
                self._backups.append(backups)
        return protected

    def open_first_store(self, site: Site) -> str | None:
        """Open ``site``'s store before anything can use it, to refuse a damaged one at once.
        Returns the words to show when it cannot be used (damaged, missing, key lost), else
        None."""
        from app.store.errors import StoreError

        try:
            self.store(site)
        except StoreError as exc:
            log.error("the store of site %s cannot be used: %s", site.id, type(exc).__name__)
            return exc.user_message
        return None

    def waiting(self, site: Site) -> WaitingNotes | None:
        """The notes ``site``'s store holds unsent, when it is open (no store is opened for
        this: the first site's is from the start). None when it cannot be read."""
        protected = self._stores.get(site.id)
        if protected is None:
            return None
        from app.services.waiting import waiting_notes
        from app.store.errors import StoreError

        try:
            return waiting_notes(protected.store.outbox)
        except StoreError as exc:
            log.warning("waiting notes of %s not readable: %s", site.id, type(exc).__name__)
            return None

    async def open(self, session: SessionService) -> SiteServices:
        from app.services.errors import user_errors

        site = session.site
        with user_errors("The local store of this EHR could not be opened."):
            protected = await asyncio.get_running_loop().run_in_executor(None, self.store, site)
        folder = site_folder(self._paths, site)
        smart = self._smart[site.id]
        return site_services(site, smart, self.http_for(site), protected, folder, session)

    async def aclose(self) -> None:
        for client in self.http.values():
            await client.aclose()
        self.http.clear()
        await asyncio.get_running_loop().run_in_executor(None, self._close_stores)

    def _close_stores(self) -> None:
        """After a store still opening on a worker thread (its caller was cancelled by the
        quit: the thread carries on) is open, and before another can open: left out, it was
        opened after this ran and stayed open."""
        with self._opening:
            self._closed = True
            for backups in self._backups:  # a backup still asked for is taken first
                backups.close()
            self._backups.clear()
            for protected in self._stores.values():
                protected.store.close()
            self._stores.clear()


class _Sandbox:
    """A sandbox server already running (tests start their own) as the Sandbox menu controls
    it; the app's own is an EmbeddedSandbox (app.embedded_sandbox), started after the paint."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server

    @property
    def running(self) -> bool:
        return self.server.running

    def begin(self) -> None:
        """It runs already."""

    async def ready(self) -> None:
        """It runs already."""

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        if not self.server.running:
            self.server.restart()

    def close(self) -> None:
        self.server.close()


def _running_marker(paths: AppPaths) -> Path:
    """Present while the app runs; found at start-up it means the last run did not end cleanly."""
    return paths.data_dir / "app-running.marker"


def build_workbench(
    paths: AppPaths,
    sites: list[Site],
    *,
    sandbox: SandboxServer | EmbeddedSandbox | None = None,
    startup: StartupReport | None = None,
    log_levels: LogLevelChoice | None = None,
    marker: Path | None = None,
    factory: SiteFactory | None = None,
) -> Workbench:
    """The Workbench over ``sites`` (tests build one with just their sites). ``sandbox``: the
    app's EmbeddedSandbox (a sign-in to it waits until it is up), or a server a test runs."""
    factory = factory or SiteFactory(paths, log_levels)
    control: EmbeddedSandbox | _Sandbox | None = None
    if sandbox is not None:
        control = sandbox if isinstance(sandbox, EmbeddedSandbox) else _Sandbox(sandbox)

    def session(site: Site) -> SessionService:
        return factory.session(
            site, ehr_ready=control.ready if control and site.is_sandbox else None
        )

    async def close() -> None:
        await factory.aclose()
        if control is not None:  # a start still under way is let finish: off the GUI thread
            await asyncio.to_thread(control.close)
        if marker is not None:
            marker.unlink(missing_ok=True)  # a clean exit

    return Workbench(
        sites=tuple(sites),
        templates=tuple(load_templates().templates),
        startup=startup or StartupReport(),
        directory=SiteDirectory(session, factory.open, factory.waiting),
        sandbox=control,
        close=close,
        ui_settings=paths.user_config_dir / "window.ini",
    )


def start_workbench(
    sites_file: Path | None,
    force_sandbox: bool,
    paths: AppPaths,
    log_levels: LogLevelChoice | None = None,
    factory: SiteFactory | None = None,
) -> Workbench:
    """What the GUI starts with: the configured sites (the sandbox first when it runs)."""
    config_error = None
    sites: list[Site] = []
    try:
        catalog = load_sites(sites_file)
        sites = list(catalog.sites)
        if log_levels is not None:
            log_levels = replace(log_levels, site_file=catalog.log_level)
            set_log_level(log_levels.for_site(catalog.default))
    except SiteConfigError as exc:
        config_error = exc.message
        log.error("site configuration rejected: %s", type(exc).__name__)
    warnings = tuple(w for w in (enforce_os_keyring(),) if w)
    sandbox = None
    if force_sandbox or not sites:
        sandbox, refused = _embedded_sandbox(paths, sites)
        warnings += (refused,) if refused else ()
    marker = _running_marker(paths)  # (written once the app can start: a refusal leaves none)
    crashed = marker.exists()
    marker.write_text("running\n", encoding="utf-8")
    return build_workbench(
        paths,
        sites,
        sandbox=sandbox,
        startup=StartupReport(config_error, crashed, warnings),
        log_levels=log_levels,
        marker=marker,
        factory=factory,
    )


def _embedded_sandbox(paths: AppPaths, sites: list[Site]) -> tuple[EmbeddedSandbox | None, str]:
    """The embedded sandbox, its port reserved now for the site list (the server starts once
    the window has painted: begin()), first in ``sites``. When the computer refuses the port:
    with other sites configured the app goes on without it (the words, for the sign-in page);
    with none there is nothing to sign in to, and SandboxUnavailable ends the start."""
    try:
        sandbox = reserve_sandbox(paths)
    except SandboxUnavailable as exc:
        if not sites:
            raise
        return None, exc.user_message
    # the developer's console shows where the embedded EHR listens (docs/sandbox.md)
    print(f"Sandbox EHR: FHIR base URL: {sandbox.fhir_base}", flush=True)  # noqa: T201
    sites.insert(0, sandbox_site(sandbox.fhir_base))
    return sandbox, ""


# ---------------------------------------------------------------------------- the GUI


def settle_heap() -> None:
    """Move everything allocated at start-up (Qt, the FHIR models, the app) out of the garbage
    collector's view: full collections then scan only what the session allocates, which keeps
    them short enough that the window never stalls (measured in benchmarks/bench_drain.py)."""
    gc.collect()
    gc.freeze()
