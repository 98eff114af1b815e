"""``fhir-writeback check``: what the server declares, and what the app will do with it.

After the reachability and sign-in findings (app.smart.diagnostics), ``check`` applies what
approval applies: the vendor profile the site gets (named, with how it was chosen), the
CapabilityStatement, the granted scopes (from the kept sign-in, when there is one) and what
this EHR refused before (app/store/site_refusals.py). Per write type it says *will write*,
*will not write (profile)*, *cannot write (server)*, *not granted (scopes)* or *will not write
(refused by this EHR before)*, and how it is written (transaction, conditional create, create
+ read-back). The verdicts are ``app.fhir.permissions.write_verdicts``: the same function
approval uses, so the two cannot disagree.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import httpx

from app.bootstrap import create_session
from app.domain.capabilities import parse_capabilities
from app.domain.site import Site
from app.fhir.permissions import WriteVerdict, write_verdicts
from app.fhir.profiles import DEFAULT_PROFILE, choose_profile, profile_name_for_software
from app.smart.diagnostics import check_site
from app.smart.errors import KeyringError, SmartError
from app.smart.http import create_http_client
from app.store.site_refusals import SiteRefusal, SiteRefusals
from app.sync.planner import CannotSend, WriteCapabilities, capabilities_from, write_strategy

EXIT_OK, EXIT_FAIL = 0, 1


async def run_check(site: Site, site_folder: Path, out: TextIO) -> int:
    async with create_http_client(site) as http:
        report = await check_site(site, http)
        out.write(report.render() + "\n")
        if report.statement is not None:
            scopes = await _granted_scopes(site, http)
            refusals = SiteRefusals(site_folder).load()
            out.write("\n" + "\n".join(write_plan(site, report.statement, scopes, refusals)) + "\n")
    return EXIT_OK if report.usable else EXIT_FAIL


async def _granted_scopes(site: Site, http: httpx.AsyncClient) -> tuple[str, ...] | None:
    """The scopes of the kept sign-in (continued once), None when there is none."""
    session = create_session(site, http)
    try:
        with contextlib.suppress(SmartError, KeyringError):
            if await session.restore():
                report = session.scope_report
                return report.granted if report is not None else None
        return None
    finally:
        await session.aclose()


def write_plan(
    site: Site,
    statement: Mapping[str, Any],
    granted_scopes: tuple[str, ...] | None,
    refusals: Mapping[str, SiteRefusal],
) -> list[str]:
    """The lines ``check`` prints after its findings."""
    profile = choose_profile(site.vendor_profile, dict(statement))
    if site.vendor_profile:
        how = "named in the site configuration"
    elif profile_name_for_software(dict(statement)):
        how = "chosen from the server's software name"
    else:
        how = f"the default ({DEFAULT_PROFILE}): nothing in the server's software name matched"
    verdicts = write_verdicts(
        profile, parse_capabilities(statement), granted_scopes, tuple(refusals)
    )
    caps = capabilities_from(statement, profile)
    lines = [
        f"Vendor profile: {profile.name} ({profile.display_name}) - {how}.",
        "Granted scopes: "
        + (
            "from the kept sign-in."
            if granted_scopes is not None
            else "not known without a kept sign-in ('fhir-writeback login'); approval checks "
            "them after sign-in."
        ),
        "What the app will write:",
    ]
    width = max(len(t) for t in verdicts)
    for resource_type, verdict in verdicts.items():
        how_written = (
            f"  - {_strategy(resource_type, caps)}" if verdict is WriteVerdict.WILL_WRITE else ""
        )
        lines.append(f"  {resource_type.ljust(width)}  {verdict.value}{how_written}")
    for refusal in refusals.values():
        lines.append(f"Note for clinic IT: {refusal.words}")
    return lines


def _strategy(resource_type: str, caps: WriteCapabilities) -> str:
    """How a write of this type is sent: in a transaction where the server declares one and
    the profile allows it, else per resource."""
    own = caps.of(resource_type)
    if caps.transaction and own.create:
        return "transaction" + (" with ifNoneExist" if own.conditional_create else "")
    try:
        return write_strategy(resource_type, caps).value
    except CannotSend:  # pragma: no cover - a "will write" type is creatable
        return "not writable"
