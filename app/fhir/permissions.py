"""Which resource types the app may create at a site: vendor profile ∩ CapabilityStatement ∩
granted SMART scopes, with the reason for every type that is not allowed — and which it may
correct in place (a follow-up's corrections of the earlier note's records).

The result (:class:`app.domain.validation.WritePermissions`) is what validation before approval
checks each write against, so a draft that the site cannot take is blocked with a sentence
such as "The EHR did not grant Task write, so the follow-up task cannot be filed; remove it or
ask IT." long before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterable

from app.domain.capabilities import ServerCapabilities
from app.domain.items import write_types
from app.domain.validation import WritePermissions
from app.fhir.profiles import VendorProfile
from app.smart.scopes import granted_permissions

# Everything the write-back mapping can produce: the note's own writes and each item kind's
# type, from the catalogue (app.domain.items), in commit order.
WRITE_TYPES = write_types()


def write_permissions(
    profile: VendorProfile,
    capabilities: ServerCapabilities,
    granted_scopes: Iterable[str] | None,
) -> WritePermissions:
    """``granted_scopes``: the token response's scopes (``None`` when the server did not say,
    which by OAuth means everything requested was granted: no scope check)."""
    scopes = tuple(granted_scopes) if granted_scopes is not None else None
    creatable: set[str] = set()
    refusals: dict[str, str] = {}
    for resource_type in WRITE_TYPES:
        reason = _refusal(resource_type, profile, capabilities, scopes)
        if reason is None:
            creatable.add(resource_type)
        else:
            refusals[resource_type] = reason
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


def _refusal(
    resource_type: str,
    profile: VendorProfile,
    capabilities: ServerCapabilities,
    scopes: tuple[str, ...] | None,
) -> str | None:
    if not profile.may_write(resource_type):
        return f"the {profile.display_name} profile does not allow writing {resource_type}"
    if not capabilities.can_create(resource_type):
        return f"the EHR does not declare that it accepts new {resource_type} resources"
    if scopes is not None and "c" not in granted_permissions(scopes, resource_type):
        return f"the EHR did not grant {resource_type} write"
    return None
