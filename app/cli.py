"""Command line for support staff (composition root): ``check`` and ``login``.

    fhir-writeback check --site NAME [--sites-file PATH]
    fhir-writeback check --fhir-base URL [--client-id ID]
    fhir-writeback login --site NAME [--sites-file PATH] [--timeout SECONDS]
    fhir-writeback login --fhir-base URL --client-id ID

Exit status: 0 success (``check``: the site is usable), 1 failure, 2 wrong usage or
configuration, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from app.domain.site import Site
from app.smart.diagnostics import check_site
from app.smart.errors import SignInCancelled, SiteConfigError, SmartError
from app.smart.http import create_http_client
from app.smart.session import SignInProgress, SignInStep, SmartSession
from app.smart.sites import load_sites, url_problem

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    pass


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

    check = commands.add_parser(
        "check", help="report whether a site can be used, exit 0 when usable"
    )
    site_options(check, client_id_required=False)
    login = commands.add_parser("login", help="sign in through the browser and keep the session")
    site_options(login, client_id_required=True)
    login.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for the browser (300)"
    )
    return parser


def _adhoc_site(
    fhir_base: str, client_id: str | None, ca_bundle: Path | None, proxy: str | None
) -> Site:
    problem = url_problem(fhir_base)
    if problem is not None:
        raise UsageError(f"--fhir-base {problem}")
    if ca_bundle is not None and not ca_bundle.is_file():
        raise UsageError(f"--ca-bundle: the file {ca_bundle} does not exist")
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
        session = SmartSession(site, http, sign_in_timeout=timeout)
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


def main(argv: Sequence[str], *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """``argv`` starts with the subcommand, for example ``["check", "--site", "general"]``."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = _parser().parse_args(list(argv))
    try:
        site = _select_site(args, need_client_id=args.command == "login")
        if args.command == "check":
            return asyncio.run(_check(site, out))
        return asyncio.run(_login(site, args.timeout, out, err))
    except (UsageError, SiteConfigError) as exc:
        err.write(f"fhir-writeback {args.command}: {getattr(exc, 'message', exc)}\n")
        return EXIT_USAGE
    except SignInCancelled as exc:
        err.write(exc.message + "\n")
        return EXIT_INTERRUPTED
    except SmartError as exc:
        err.write(f"fhir-writeback {args.command}: {exc.message}\n")
        if exc.detail:
            err.write(f"  (detail for support: {exc.detail})\n")
        return EXIT_FAIL
    except KeyboardInterrupt:
        err.write("Interrupted.\n")
        return EXIT_INTERRUPTED
