"""Command line for support staff (composition root): ``check``, ``login`` and ``outbox``.

    fhir-writeback check --site NAME [--sites-file PATH]
    fhir-writeback check --fhir-base URL [--client-id ID]
    fhir-writeback login --site NAME [--sites-file PATH] [--timeout SECONDS]
    fhir-writeback login --fhir-base URL --client-id ID
    fhir-writeback outbox list [--open] [--site ID] [--sites-file PATH] [--data-dir DIR]
    fhir-writeback outbox show COMMIT-ID [--site ID] [--sites-file PATH] [--data-dir DIR]
    fhir-writeback outbox sync [--site ID] [--sites-file PATH] [--data-dir DIR] [--timeout S]
    fhir-writeback store backups | restore --from BACKUP [--site ID] ...   (app.cli_store)
    fhir-writeback sites validate FILE | install FILE | new ...              (app.cli_sites)
    fhir-writeback kpi --since DATE ... | kpi merge FILE... [--html OUT]     (app.cli_kpi)

Every command takes ``--log-level DEBUG|INFO|WARNING|ERROR`` (default: ``log_level`` in
sites.toml, else INFO) and logs to the per-user log folder like the app.

``outbox`` reads the site's store (``<data dir>/sites/<site id>/store.db``, one per site);
without ``--site`` it takes the default (or only) configured site, else the one site that has
an outbox on this computer, else ``sandbox``. ``outbox sync`` uses the sign-in kept by
``login`` and refuses while the app is sending (one sender per store).

Exit status: 0 success (``check``: the site is usable), 1 failure, 2 wrong usage or
configuration, 3 the site's store cannot be used (damaged, missing, key lost), 130 interrupted.

Like the app, the commands keep sessions and store keys only in an OS keyring
(``app.keyring_policy``); without one they say so in one sentence.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from app.bootstrap import (
    EXIT_STORE_UNUSABLE,
    create_session,
    fhir_client,
    open_site_store,
    sync_runner,
)
from app.cli_audit import audit_export, audit_verify
from app.cli_errors import UsageError
from app.cli_kpi import add_kpi_parser, run_kpi
from app.cli_outbox import outbox_list, outbox_show, outbox_sync, retry_transient
from app.cli_sites import add_sites_parser, run_sites
from app.cli_store import add_store_parser, store_command
from app.domain.clock import file_stamp, utc_now
from app.domain.errors import words_for
from app.domain.site import LogLevel, Site
from app.fhir.errors import FhirError
from app.keyring_policy import enforce_os_keyring
from app.logging_setup import LogLevelChoice, add_log_level_option, logging_to
from app.paths import AppPaths
from app.smart.diagnostics import check_site
from app.smart.errors import NetworkError, SignInCancelled, SiteConfigError, SmartError
from app.smart.http import create_http_client
from app.smart.session import SignInProgress, SignInStep
from app.smart.sites import SiteCatalog, ca_bundle_problem, load_sites, url_problem
from app.store.errors import StoreError
from app.store.file_check import existence_evidence
from app.store.store import Store

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fhir-writeback", description="Support commands.")
    commands = parser.add_subparsers(dest="command", required=True)

    def site_options(p: argparse.ArgumentParser, client_id_required: bool) -> None:
        p.add_argument("--site", help="site id or display name from sites.toml")
        p.add_argument(
            "--sites-file", type=Path, help="use this sites.toml instead of the installed ones"
        )
        p.add_argument("--fhir-base", help="check a FHIR base URL that is not configured")
        p.add_argument(
            "--client-id",
            help="client id registered for this app"
            + (" (required with --fhir-base)" if client_id_required else ""),
        )
        p.add_argument(
            "--ca-bundle", type=Path, help="with --fhir-base: extra trusted CA certificates (PEM)"
        )
        p.add_argument("--proxy", help="with --fhir-base: proxy URL")
        add_log_level_option(p)

    check = commands.add_parser(
        "check", help="report whether a site can be used, exit 0 when usable"
    )
    site_options(check, client_id_required=False)
    login = commands.add_parser("login", help="sign in through the browser and keep the session")
    site_options(login, client_id_required=True)
    login.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for the browser (300)"
    )
    _outbox_parser(commands)
    _audit_parser(commands)
    add_store_parser(commands)
    add_sites_parser(commands)
    add_kpi_parser(commands)
    bundle = commands.add_parser(
        "support-bundle", help="write a ZIP for support: logs, outbox states, self-test; no PHI"
    )
    bundle.add_argument(
        "--output",
        type=Path,
        default=None,
        help="ZIP to write (default: fhir-writeback-support-<time>.zip here)",
    )
    bundle.add_argument("--data-dir", type=Path, help="the per-user data folder")
    bundle.add_argument("--no-self-test", action="store_true", help="leave the self-test out")
    add_log_level_option(bundle)
    return parser


def _audit_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = commands.add_parser("audit", help="the hash-chained audit log: export, verify")
    actions = audit.add_subparsers(dest="audit_command", required=True)
    export = actions.add_parser("export", help="write the log as CSV or JSON (exit 1 if altered)")
    export.add_argument("--since", default=None, help="first day to include, YYYY-MM-DD")
    export.add_argument("--format", default="csv", help="csv (default) or json")
    export.add_argument("--output", type=Path, default=None, help="file to write (default: stdout)")
    verify = actions.add_parser("verify", help="check the chain; exit 0 intact, 1 altered")
    for p in (export, verify):
        p.add_argument("--site", help="site id (default: the default or only site, else sandbox)")
        p.add_argument(
            "--sites-file", type=Path, help="use this sites.toml instead of the installed ones"
        )
        p.add_argument(
            "--data-dir", type=Path, help="the per-user data folder (default: the platform's)"
        )
        add_log_level_option(p)


def _support_bundle(args: argparse.Namespace, out: TextIO) -> int:
    from app.support_bundle import write_support_bundle

    stamp = file_stamp(utc_now())
    target = args.output or Path.cwd() / f"fhir-writeback-support-{stamp}.zip"
    paths = AppPaths.default(args.data_dir)
    write_support_bundle(target, paths, self_test=not args.no_self_test)
    out.write(
        f"Support bundle written to {target}. It holds logs, outbox states and the self-test; "
        "no note text, patient names or tokens.\n"
    )
    return EXIT_OK


def _audit(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    args.outbox_command = "audit"  # same site resolution as the outbox commands
    target = _outbox_target(args, err)
    if not target.store_exists:
        err.write(f"fhir-writeback audit: site '{target.site_id}' has no store on this computer\n")
        return EXIT_USAGE
    try:
        protected = open_site_store(target.folder, is_sandbox=target.site_id == "sandbox")
    except StoreError as exc:
        err.write(f"fhir-writeback audit: {exc.user_message}\n")
        return EXIT_STORE_UNUSABLE
    try:
        if args.audit_command == "verify":
            text, status = audit_verify(protected.audit)
        else:
            text, status = audit_export(protected.audit, args.since, args.format)
            if args.output is not None and status in (0, 1):
                args.output.write_text(text, encoding="utf-8")
                text = f"Audit log written to {args.output}.\n" + (
                    "WARNING: the chain check failed: the log was altered.\n" if status else ""
                )
    finally:
        protected.store.close()
    (err if status == EXIT_USAGE else out).write(text)
    return status


def _outbox_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    outbox = commands.add_parser(
        "outbox", help="the outbox as the clinician sees it: list, show ID, sync"
    )
    actions = outbox.add_subparsers(dest="outbox_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--site", help="site id (default: the default or only site, else sandbox)")
        p.add_argument(
            "--sites-file", type=Path, help="use this sites.toml instead of the installed ones"
        )
        p.add_argument(
            "--data-dir", type=Path, help="the per-user data folder (default: the platform's)"
        )
        add_log_level_option(p)

    listing = actions.add_parser(
        "list", help="every commit with its state; exit 1 if one needs a person"
    )
    common(listing)
    listing.add_argument(
        "--open", action="store_true", help="only commits not yet in the EHR (nor discarded)"
    )
    show = actions.add_parser("show", help="one commit in detail (id or its first 8+ characters)")
    show.add_argument("commit_id")
    common(show)
    sync = actions.add_parser("sync", help="send what is waiting now, with the kept sign-in")
    common(sync)
    sync.add_argument("--timeout", type=float, default=120.0, help="seconds to keep sending (120)")


def _adhoc_site(
    fhir_base: str, client_id: str | None, ca_bundle: Path | None, proxy: str | None
) -> Site:
    problem = url_problem(fhir_base)
    if problem is not None:
        raise UsageError(f"--fhir-base {problem}")
    ca_problem = ca_bundle_problem(ca_bundle) if ca_bundle is not None else None
    if ca_problem is not None:
        raise UsageError(f"--ca-bundle: {ca_problem}")
    host = urlsplit(fhir_base).netloc
    site_id = re.sub(r"[^A-Za-z0-9._-]", "-", f"adhoc-{host}")[:64]
    return Site(
        id=site_id,
        display_name=host,
        fhir_base=fhir_base.rstrip("/"),
        client_id=client_id or "(not given)",
        ca_bundle=ca_bundle,
        proxy=proxy,
    )


def _select_site(args: argparse.Namespace, *, need_client_id: bool) -> Site:
    if args.fhir_base:
        if args.site:
            raise UsageError("give either --site or --fhir-base, not both")
        if need_client_id and not args.client_id:
            raise UsageError("--client-id is required with --fhir-base")
        return _adhoc_site(args.fhir_base, args.client_id, args.ca_bundle, args.proxy)
    catalog = load_sites(args.sites_file)
    if catalog.empty:
        where = args.sites_file or "the per-machine or per-user sites.toml"
        raise UsageError(
            f"no site is configured in {where}; use --fhir-base, or see docs/sign-in.md"
        )
    if args.site:
        site = catalog.find(args.site)
        if site is None:
            known = ", ".join(s.id for s in catalog.sites)
            raise UsageError(f"no site named '{args.site}' (configured: {known})")
        return site
    if catalog.default is None:
        known = ", ".join(s.id for s in catalog.sites)
        raise UsageError(f"several sites are configured; choose one with --site ({known})")
    return catalog.default


async def _check(site: Site, out: TextIO) -> int:
    async with create_http_client(site) as http:
        report = await check_site(site, http)
    out.write(report.render() + "\n")
    return EXIT_OK if report.usable else EXIT_FAIL


async def _login(site: Site, timeout: float, out: TextIO, err: TextIO) -> int:
    def progress(p: SignInProgress) -> None:
        if p.step is SignInStep.WAITING_FOR_BROWSER:
            err.write(f"{p.step.value}\nIf no browser opened, visit:\n  {p.authorize_url}\n")
        elif p.step is SignInStep.BROWSER_NOT_OPENED:
            err.write(f"{p.step.value}\n  {p.authorize_url}\n")
        else:
            err.write(p.step.value + "\n")
        err.flush()

    async with create_http_client(site) as http:
        session = create_session(site, http, sign_in_timeout=timeout)
        session.subscribe(on_progress=progress)
        try:
            user = await session.sign_in()
        finally:
            await session.aclose()
    who = (
        f"{user.display_name} ({user.fhir_user.reference})"
        if user and user.fhir_user
        else "(unknown user)"
    )
    out.write(f"Signed in to {site.display_name} as {who}.\n")
    context = session.context
    if context.patient_id or context.encounter_id:
        out.write(
            f"Patient in context: {context.patient_id or '-'}; encounter: {context.encounter_id or '-'}\n"
        )
    report = session.scope_report
    for message in report.messages if report else ():
        out.write(f"Note: {message}\n")
    for warning in session.warnings:
        out.write(f"Warning: {warning}\n")
    stored = report is not None and report.offline_access and not session.warnings
    out.write(
        "The session is kept in the system keyring.\n"
        if stored
        else "The session is not kept: you will sign in again in the app.\n"
    )
    return EXIT_OK


_SITE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class _OutboxTarget:
    site_id: str
    site: Site | None  # None: not configured here (only its outbox folder exists)
    folder: Path

    @property
    def store_path(self) -> Path:
        return self.folder / "store.db"

    @property
    def store_exists(self) -> bool:
        """A store file, or what shows one existed (then opening it says it is missing)."""
        return _store_exists(self.folder)


def _store_exists(folder: Path) -> bool:
    path = folder / "store.db"
    return path.is_file() or bool(existence_evidence(path))


def _outbox_target(args: argparse.Namespace, err: TextIO) -> _OutboxTarget:
    """Which site's outbox: ``--site``, else the default/only site, else the one outbox found
    on this computer, else the sandbox's."""
    root = AppPaths.default(args.data_dir).data_dir / "sites"
    try:
        catalog: SiteCatalog | None = load_sites(args.sites_file)
    except SiteConfigError as exc:
        if args.outbox_command == "sync" or args.sites_file is not None:
            raise
        catalog = None  # a broken sites.toml must not hide the outboxes from support staff
        err.write(f"Note: {exc.message} Listing the outboxes found on this computer.\n")
    found = (
        sorted(p.name for p in root.iterdir() if p.is_dir() and _store_exists(p))
        if root.is_dir()
        else []
    )
    site: Site | None = None
    if args.site:
        site = catalog.find(args.site) if catalog is not None else None
        site_id = site.id if site is not None else args.site
        if not _SITE_ID.match(site_id):
            raise UsageError(f"'{args.site}' is not a site id")
        if site is None and site_id not in found and site_id != "sandbox":
            known = ", ".join(found) or "none"
            raise UsageError(
                f"no site named '{args.site}' is configured, and no outbox for it is in {root} "
                f"(outboxes here: {known})"
            )
    elif catalog is not None and catalog.default is not None:
        site = catalog.default
        site_id = site.id
    elif catalog is not None and not catalog.empty:
        known = ", ".join(s.id for s in catalog.sites)
        raise UsageError(f"several sites are configured; choose one with --site ({known})")
    elif len(found) == 1:
        site_id = found[0]
    elif len(found) > 1:
        raise UsageError(
            f"several outboxes are on this computer; choose one with --site ({', '.join(found)})"
        )
    else:
        site_id = "sandbox"
    return _OutboxTarget(site_id, site, root / site_id)


def _outbox(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    target = _outbox_target(args, err)
    if not target.store_exists:
        if args.outbox_command == "show":
            err.write(
                f"fhir-writeback outbox show: the outbox of site '{target.site_id}' is empty\n"
            )
            return EXIT_USAGE
        out.write(
            f"The outbox of site '{target.site_id}' is empty: nothing was approved for it on "
            f"this computer ({target.store_path} does not exist).\n"
        )
        return EXIT_OK
    if args.outbox_command == "sync" and (target.site is None or target.site.is_sandbox):
        raise UsageError(
            f"site '{target.site_id}' is not configured in sites.toml; the embedded sandbox "
            "runs only inside the app: use “Sync now” in the app's outbox"
        )
    try:
        store = open_site_store(target.folder, is_sandbox=target.site_id == "sandbox").store
    except StoreError as exc:
        err.write(f"fhir-writeback outbox: {exc.user_message}\n")
        return EXIT_STORE_UNUSABLE
    try:
        if args.outbox_command == "list":
            text, status = outbox_list(store, only_open=args.open)
        elif args.outbox_command == "show":
            text, status = outbox_show(store, args.commit_id)
        else:
            assert target.site is not None
            text, status = asyncio.run(
                _outbox_sync(target.site, store, target.folder, args.timeout, err)
            )
    finally:
        store.close()
    (err if status == EXIT_USAGE else out).write(text)
    return status


async def _outbox_sync(
    site: Site, store: Store, folder: Path, timeout: float, err: TextIO
) -> tuple[str, int]:
    deadline = asyncio.get_running_loop().time() + timeout
    waiting = store.outbox.summary().pending
    async with create_http_client(site) as http:
        session = create_session(site, http)
        fhir = fhir_client(site, http, session)
        try:
            try:
                # transient failures (a busy EHR, its sign-in service failing for a moment) are
                # tried again within the timeout: a one-shot command has no later pass
                if not await retry_transient(session.restore, deadline=deadline):
                    return (
                        f"No sign-in is kept for {site.display_name}: run 'fhir-writeback "
                        f"login --site {site.id}', then 'fhir-writeback outbox sync' again. "
                        f"Nothing is lost: {waiting} commit(s) wait in the outbox.\n",
                        EXIT_FAIL,
                    )
                statement = await retry_transient(fhir.capability, deadline=deadline)
            except (FhirError, NetworkError) as exc:
                words = words_for(exc, "The EHR could not be reached.")
                return (
                    f"fhir-writeback outbox sync: {words}\nThis command tried again for a "
                    "while and stopped: run it again later. Nothing is lost: "
                    f"{waiting} commit(s) wait in the outbox.\n",
                    EXIT_FAIL,
                )
            runner = await sync_runner(
                site,
                store.outbox,
                fhir,
                lock_path=folder / "sync.lock",
                wait_until_signed_in=session.wait_until_signed_in,
                statement=statement,
            )
            left = max(deadline - asyncio.get_running_loop().time(), 1.0)
            return await outbox_sync(runner, store, timeout=left)
        finally:
            await session.aclose()


_KEYRING_COMMANDS = ("login", "outbox", "audit", "store", "kpi")


def _log_level(args: argparse.Namespace) -> LogLevel:
    """``--log-level``, else the chosen (or default) site's ``log_level``, else the file's."""
    choice = LogLevelChoice(option=args.log_level)
    if args.log_level is not None:
        return choice.for_site()
    try:
        catalog = load_sites(getattr(args, "sites_file", None))
    except SiteConfigError:
        return choice.for_site()  # the command itself reports the broken file
    site = catalog.find(args.site) if getattr(args, "site", None) else catalog.default
    return replace(choice, site_file=catalog.log_level).for_site(site)


def main(
    argv: Sequence[str],
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    accept_keyring: Callable[[], str | None] = enforce_os_keyring,
) -> int:
    """``argv`` starts with the subcommand, for example ``["check", "--site", "general"]``.
    ``accept_keyring`` enforces the keyring policy (returns the sentence to show when the
    computer has no OS keyring)."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = _parser().parse_args(list(argv))
    log_dir = AppPaths.default(getattr(args, "data_dir", None)).log_dir
    with logging_to(log_dir, _log_level(args)):
        if args.command in _KEYRING_COMMANDS:
            note = accept_keyring()
            if note:
                err.write(f"Note: {note}\n")
        return _run(args, out, err)


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        if args.command == "outbox":
            return _outbox(args, out, err)
        if args.command == "audit":
            return _audit(args, out, err)
        if args.command == "store":
            args.outbox_command = "store"  # same site resolution as the outbox commands
            folder = _outbox_target(args, err).folder
            return store_command(args, folder, AppPaths.default(args.data_dir).data_dir, out, err)
        if args.command == "sites":
            return run_sites(args, out, err)
        if args.command == "kpi":
            return run_kpi(args, out, err)
        if args.command == "support-bundle":
            return _support_bundle(args, out)
        site = _select_site(args, need_client_id=args.command == "login")
        if args.command == "check":
            return asyncio.run(_check(site, out))
        return asyncio.run(_login(site, args.timeout, out, err))
    except (UsageError, SiteConfigError) as exc:
        err.write(f"fhir-writeback {args.command}: {words_for(exc, 'wrong usage')}\n")
        return EXIT_USAGE
    except SignInCancelled as exc:
        err.write(words_for(exc, "Sign-in cancelled.") + "\n")
        return EXIT_INTERRUPTED
    except SmartError as exc:
        err.write(f"fhir-writeback {args.command}: {words_for(exc, 'signing in failed')}\n")
        if exc.detail:
            err.write(f"  (detail for support: {exc.detail})\n")
        return EXIT_FAIL
    except KeyboardInterrupt:
        err.write("Interrupted.\n")
        return EXIT_INTERRUPTED
