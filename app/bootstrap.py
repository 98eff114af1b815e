"""Builds the running app: paths, logging, site configuration, sandbox, services, UI."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import keyring

from app import __version__
from app.domain.audit import AuditEvent
from app.domain.site import LogLevel, Site
from app.domain.templates import NoteTemplate
from app.fhir.client import FhirClient
from app.fhir.mapping_in import preload_models
from app.fhir.profiles import choose_profile
from app.keyring_policy import DemoFileKeyring, enforce_os_keyring, is_secure
from app.logging_setup import LogLevelChoice, configure_logging, set_log_level
from app.paths import AppPaths
from app.sandbox.options import SandboxOptions
from app.sandbox.server import SandboxServer
from app.smart.errors import SiteConfigError
from app.smart.http import create_http_client
from app.smart.session import SmartSession
from app.smart.sites import load_sites, sandbox_site
from app.store.backup import StoreBackups
from app.store.crypto import StoreKeyring
from app.store.drafts import DraftRepository
from app.store.errors import StoreError
from app.store.protected import ProtectedStore, open_protected_store
from app.store.store import Store
from app.store.templates import load_templates
from app.sync.runner import SyncRunner

log = logging.getLogger(__name__)

# Exit status when the local store cannot be used (damaged, missing, key lost): the app and
# the support commands alike (docs/deployment.md).
EXIT_STORE_UNUSABLE = 3


def start_embedded_sandbox(paths: AppPaths) -> SandboxServer:
    """The sandbox EHR in-process, persistent in the per-user data folder."""
    server = SandboxServer(SandboxOptions(db_path=paths.data_dir / "sandbox" / "sandbox.db"))
    server.start()
    return server


@dataclass
class Services:
    """Everything long-lived, built once; closed in reverse order by ``aclose``."""

    paths: AppPaths
    sites: list[Site]
    templates: list[NoteTemplate]
    config_error: str | None = None
    crashed_last_time: bool = False
    startup_warnings: list[str] = field(default_factory=list)
    sandbox: SandboxServer | None = None
    http_clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    fhir_clients: dict[int, FhirClient] = field(default_factory=dict)
    stores: dict[str, Store] = field(default_factory=dict)
    protected: dict[str, ProtectedStore] = field(default_factory=dict)
    backups: dict[str, StoreBackups] = field(default_factory=dict)
    actor: str | None = None  # fhirUser of the signed-in clinician, for the audit log
    log_levels: LogLevelChoice | None = None  # None: logging is not the app's (tests)
    sync: dict[str, tuple[SyncRunner, asyncio.Event, asyncio.Task[None]]] = field(
        default_factory=dict
    )

    def store_dir(self, site: Site) -> Path:
        return self.paths.data_dir / "sites" / site.id

    def store_for(self, site: Site) -> Store:
        """One encrypted store per site: drafts and commits hold that EHR's ids and go only
        there. Raises StoreKeyUnavailable / KeyLost (with messages for people) when the key
        that protects it cannot be had."""
        store = self.stores.get(site.id)
        if store is None:
            protected = self.protected_store_for(site)
            store = protected.store
            self.stores[site.id] = store
        return store

    def protected_store_for(self, site: Site) -> ProtectedStore:
        existing = self.protected.get(site.id)
        if existing is not None:
            return existing
        protected = open_site_store(
            self.store_dir(site),
            is_sandbox=site.is_sandbox,
            actor=lambda: self.actor,
            destination=lambda: site.fhir_base,
        )
        self.protected[site.id] = protected
        self.startup_warnings.extend(protected.warnings)
        # an encrypted copy after each approval batch and daily, off the GUI thread
        backups = StoreBackups(protected.path)
        protected.store.outbox.subscribe(backups.on_outbox_change)
        backups.start()
        self.backups[site.id] = backups
        return protected

    def audit(self, site: Site, event: AuditEvent) -> None:
        """Append to the site's audit log; an audit failure is logged, never fatal to the UI."""
        protected = self.protected.get(site.id)
        if protected is None:
            return
        try:
            protected.audit.append(event)
        except Exception as exc:  # the audit log must not take the app down
            log.error("audit append failed: %s", type(exc).__name__)

    @property
    def drafts(self) -> DraftRepository:
        """The store of the first site until someone signs in (the UI then switches)."""
        return self.store_for(self.sites[0]).drafts

    async def start_sync(self, session: SmartSession) -> SyncRunner:
        """The site's sync runner, sending in the background until sign-out or exit.
        Raises SyncAlreadyRunning when another app instance sends this store."""
        site = session.site
        running = self.sync.get(site.id)
        if running is not None:
            return running[0]
        fhir = self.fhir_for(session)
        profile = choose_profile(site.vendor_profile, await fhir.capability())
        runner = SyncRunner(
            self.store_for(site).outbox,
            fhir,
            profile=profile,
            lock_path=self.store_dir(site) / "sync.lock",
            wait_until_signed_in=session.wait_until_signed_in,
        )
        await runner.start()
        stop = asyncio.Event()
        task = asyncio.ensure_future(runner.run_forever(stop))
        self.sync[site.id] = (runner, stop, task)
        return runner

    async def stop_sync(self, site: Site | None = None) -> None:
        for site_id in [site.id] if site is not None else list(self.sync):
            entry = self.sync.pop(site_id, None)
            if entry is None:
                continue
            runner, stop, task = entry
            stop.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            await runner.aclose()

    def fhir_for(self, session: SmartSession) -> FhirClient:
        """One FhirClient per session, so its cached CapabilityStatement is shared."""
        client = self.fhir_clients.get(id(session))
        if client is None:
            site = session.site
            client = FhirClient(self.http_for(site), site.fhir_base, auth=session.auth)
            self.fhir_clients[id(session)] = client
        return client

    def http_for(self, site: Site) -> httpx.AsyncClient:
        client = self.http_clients.get(site.id)
        if client is None:
            client = create_http_client(site)
            self.http_clients[site.id] = client
        return client

    def session_for(self, site: Site) -> SmartSession:
        if self.log_levels is not None:  # a site's own log_level applies while it is used
            set_log_level(self.log_levels.for_site(site))
        return SmartSession(site, self.http_for(site))

    # ---- the embedded sandbox can be stopped and started again (demo of offline delivery)
    @property
    def sandbox_running(self) -> bool:
        return self.sandbox is not None and self.sandbox.running

    def stop_sandbox(self) -> None:
        if self.sandbox is not None:
            self.sandbox.stop()

    def start_sandbox(self) -> None:
        if self.sandbox is not None and not self.sandbox.running:
            self.sandbox.restart()

    async def aclose(self) -> None:
        await self.stop_sync()
        for client in self.http_clients.values():
            await client.aclose()
        self.http_clients.clear()
        if self.sandbox is not None:
            self.sandbox.close()
            self.sandbox = None
        loop = asyncio.get_running_loop()
        for backups in self.backups.values():  # a backup still asked for is taken first
            await loop.run_in_executor(None, backups.close)
        self.backups.clear()
        for store in self.stores.values():
            store.close()
        self.stores.clear()
        self.protected.clear()
        _running_marker(self.paths).unlink(missing_ok=True)  # a clean exit


def open_site_store(
    folder: Path,
    *,
    is_sandbox: bool,
    actor: Callable[[], str | None] = lambda: None,
    destination: Callable[[], str | None] = lambda: None,
) -> ProtectedStore:
    """A site's encrypted store (the app and the command line open it the same way)."""
    folder.mkdir(parents=True, exist_ok=True)
    keys = site_keyring(folder, is_sandbox=is_sandbox)
    return open_protected_store(folder / "store.db", keys, actor=actor, destination=destination)


def site_keyring(folder: Path, *, is_sandbox: bool) -> StoreKeyring:
    """Where the key of the store in ``folder`` is kept."""
    if is_sandbox and not is_secure(keyring.get_keyring()):
        # synthetic data only: the demo works on computers without an OS keyring
        return StoreKeyring(DemoFileKeyring(folder / "demo-only-store-key.json"))
    return StoreKeyring()


def _running_marker(paths: AppPaths) -> Path:
    """Present while the app runs; found at start-up it means the last run did not end cleanly."""
    return paths.data_dir / "app-running.marker"


def build_services(
    sites_file: Path | None,
    force_sandbox: bool,
    paths: AppPaths,
    log_levels: LogLevelChoice | None = None,
) -> Services:
    config_error = None
    sites: list[Site] = []
    try:
        site_catalog = load_sites(sites_file)
        sites = list(site_catalog.sites)
        if log_levels is not None:
            log_levels = replace(log_levels, site_file=site_catalog.log_level)
            set_log_level(log_levels.for_site(site_catalog.default))
    except SiteConfigError as exc:
        config_error = exc.message
        log.error("site configuration rejected: %s", type(exc).__name__)
    warnings = [w for w in (enforce_os_keyring(),) if w]
    marker = _running_marker(paths)
    crashed = marker.exists()
    marker.write_text("running\n", encoding="utf-8")
    catalog = load_templates()
    services = Services(
        paths=paths,
        sites=sites,
        templates=list(catalog.templates),
        config_error=config_error,
        crashed_last_time=crashed,
        startup_warnings=warnings,
        log_levels=log_levels,
    )
    if force_sandbox or not sites:
        services.sandbox = start_embedded_sandbox(paths)
        print(f"Sandbox EHR: FHIR base URL: {services.sandbox.fhir_base}", flush=True)
        services.sites.insert(0, sandbox_site(services.sandbox.fhir_base))
    return services


def open_first_store(services: Services) -> str | None:
    """Open the first site's store before any window (the editor needs it for drafts). Returns
    the words to show when it cannot be used (damaged, missing, key lost), else None."""
    site = services.sites[0]
    try:
        services.store_for(site)
    except StoreError as exc:
        log.error("the store of site %s cannot be used: %s", site.id, type(exc).__name__)
        return exc.user_message
    return None


def settle_heap() -> None:
    """Move everything allocated at start-up (Qt, the FHIR models, the app) out of the garbage
    collector's view: full collections then scan only what the session allocates, which keeps
    them short enough that the window never stalls (measured in benchmarks/bench_drain.py)."""
    gc.collect()
    gc.freeze()


def _preload_then_settle() -> None:
    preload_models()
    settle_heap()


def run_gui(
    sites_file: Path | None = None,
    force_sandbox: bool = False,
    data_dir: Path | None = None,
    log_level: LogLevel | None = None,
) -> int:
    from app.ui.application import run_event_loop
    from app.ui.workbench import build_main_window

    paths = AppPaths.default(data_dir).ensure()
    log_levels = LogLevelChoice(option=log_level)
    configure_logging(paths.log_dir, log_levels.for_site())
    log.info("fhir-writeback %s starting", __version__)
    services = build_services(sites_file, force_sandbox, paths, log_levels)
    problem = open_first_store(services)
    if problem is not None:
        from app.ui.application import show_fatal_error

        show_fatal_error(problem)
        asyncio.run(services.aclose())
        return EXIT_STORE_UNUSABLE
    # The FHIR models take ~1 s to import; do it while the clinician signs in.
    threading.Thread(target=_preload_then_settle, name="preload-fhir-models", daemon=True).start()
    return run_event_loop(lambda: build_main_window(services), services.aclose)
