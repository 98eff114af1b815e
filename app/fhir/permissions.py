"""Which resource types the app may create at a site: vendor profile ∩ CapabilityStatement ∩
granted SMART scopes, with the reason for every type that is not allowed — and which it may
correct in place (a follow-up's corrections of the earlier note's records).

The result (:class:`app.domain.validation.WritePermissions`) is what validation before approval
checks each write against, so a draft that the site cannot take is blocked with a sentence
such as "The EHR did not grant Task write, so the follow-up task cannot be filed; remove it or
ask IT." long before anything is sent.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from enum import Enum

from app.domain.capabilities import ServerCapabilities
from app.domain.items import NOTE_WRITES, write_types
from app.domain.validation import WritePermissions
from app.fhir.profiles import VendorProfile
from app.smart.scopes import granted_permissions

# Everything the write-back mapping can produce: the note's own writes and each item kind's
# type, from the catalogue (app.domain.items), in commit order.
WRITE_TYPES = write_types()
# Written with every note where permitted, never a reason to block (Composition, Provenance).
OPTIONAL_TYPES = frozenset(w.resource_type for w in NOTE_WRITES if w.optional)


class WriteVerdict(Enum):
    """What the app will do with a write type at a site, and who decided it. The value is the
    phrase ``fhir-writeback check`` prints."""

    WILL_WRITE = "will write"
    PROFILE = "will not write (profile)"
    SERVER = "cannot write (server)"
    SCOPES = "not granted (scopes)"
    REFUSED_HERE = "will not write (refused by this EHR before)"


def write_verdicts(
    profile: VendorProfile,
    capabilities: ServerCapabilities,
    granted_scopes: Iterable[str] | None,
    refused: Collection[str] = (),
) -> dict[str, WriteVerdict]:
    """Per write type, in commit order: the one decision both ``check`` and approval use.
    ``refused``: optional companions this site refused although it declares them
    (app/store/site_refusals.py)."""
    scopes = tuple(granted_scopes) if granted_scopes is not None else None
    verdicts = {t: _verdict(t, profile, capabilities, scopes) for t in WRITE_TYPES}
    for t in refused:
        if verdicts.get(t) is WriteVerdict.WILL_WRITE and t in OPTIONAL_TYPES:
            verdicts[t] = WriteVerdict.REFUSED_HERE
    return verdicts


def write_permissions(
    profile: VendorProfile,
    capabilities: ServerCapabilities,
    granted_scopes: Iterable[str] | None,
    refused: Collection[str] = (),
) -> WritePermissions:
    """``granted_scopes``: the token response's scopes (``None`` when the server did not say,
    which by OAuth means everything requested was granted: no scope check)."""
    scopes = tuple(granted_scopes) if granted_scopes is not None else None
    creatable: set[str] = set()
    refusals: dict[str, str] = {}
    for resource_type, verdict in write_verdicts(profile, capabilities, scopes, refused).items():
        if verdict is WriteVerdict.WILL_WRITE:
            creatable.add(resource_type)
        else:
            refusals[resource_type] = _REFUSAL_WORDS[verdict].format(
                type=resource_type, profile=profile.display_name
            )
    updatable = frozenset(t for t in WRITE_TYPES if _may_update(t, profile, capabilities, scopes))
    return WritePermissions(frozenset(creatable), refusals, updatable)


def _may_update(
    resource_type: str,
    profile: VendorProfile,
    capabilities: ServerCapabilities,
    scopes: tuple[str, ...] | None,
) -> bool:
    """A record of this type may be corrected in place: the profile allows version-aware
    updates (If-Match) and the type, the server declares update with versioning, and the
    granted scopes include update."""
    declared = capabilities.type(resource_type)
    return (
        profile.if_match_update
        and profile.may_write(resource_type)
        and declared is not None
        and declared.supports("update")
        and declared.versioning != "no-version"
        and (scopes is None or "u" in granted_permissions(scopes, resource_type))
    )


def _verdict(
    resource_type: str,
    profile: VendorProfile,
    capabilities: ServerCapabilities,
    scopes: tuple[str, ...] | None,
) -> WriteVerdict:
    if not profile.may_write(resource_type):
        return WriteVerdict.PROFILE
    if not capabilities.can_create(resource_type):
        return WriteVerdict.SERVER
    if scopes is not None and "c" not in granted_permissions(scopes, resource_type):
        return WriteVerdict.SCOPES
    return WriteVerdict.WILL_WRITE


_REFUSAL_WORDS = {
    WriteVerdict.PROFILE: "the {profile} profile does not allow writing {type}",
    WriteVerdict.SERVER: "the EHR does not declare that it accepts new {type} resources",
    WriteVerdict.SCOPES: "the EHR did not grant {type} write",
    WriteVerdict.REFUSED_HERE: "the EHR refused {type} writes from this app before",
}
