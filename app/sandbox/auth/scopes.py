"""SMART App Launch scopes: which ones the sandbox grants, and what they ask for.

Policy (documented in docs/sandbox.md):

- Granted: SMART v1 resource scopes (``patient/Observation.read``, ``user/*.write``,
  ``patient/*.*``), SMART v2 resource scopes (``patient/Observation.rs``,
  ``user/DocumentReference.cu``, with an optional ``?param=value`` restriction kept verbatim), and
  ``openid fhirUser profile launch launch/patient launch/encounter offline_access online_access``.
- Dropped silently (the client sees it by comparing the granted ``scope`` with what it asked
  for, as with the peer EHR's oidc-provider): any other scope, ``system/`` scopes (those belong
  to backend services, not to a user's authorization code), and ``user/`` scopes for a login
  that is a Patient (a patient is limited to their own compartment).
- Refused with ``invalid_scope``: a request in which nothing grantable is left.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

V1_RESOURCE_SCOPE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.(read|write|\*)$")
V2_RESOURCE_SCOPE = re.compile(
    r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.(?=[cruds])(c?r?u?d?s?)(\?[^\s?]+)?$"
)

LAUNCH_SCOPES = ("launch", "launch/patient", "launch/encounter")
IDENTITY_SCOPES = ("openid", "fhirUser", "profile")
REFRESH_SCOPES = ("offline_access", "online_access")
NON_RESOURCE_SCOPES = frozenset(IDENTITY_SCOPES + LAUNCH_SCOPES + REFRESH_SCOPES)

# Examples for scopes_supported in discovery (resource scopes are open-ended in SMART).
ADVERTISED_SCOPES = (
    *IDENTITY_SCOPES,
    *LAUNCH_SCOPES,
    *REFRESH_SCOPES,
    "patient/*.read",
    "patient/*.rs",
    "patient/*.cruds",
    "user/*.read",
    "user/*.write",
    "user/*.rs",
    "user/*.cruds",
)


@dataclass(frozen=True)
class ResourceScope:
    context: str  # "patient" | "user" | "system"
    resource_type: str  # "*" or a FHIR resource type
    permissions: str  # v2 letters, in order, for example "rs" or "cruds"
    query: str = ""  # v2 restriction, for example "?category=vital-signs"


def parse_resource_scope(scope: str) -> ResourceScope | None:
    """The v1 or v2 resource scope ``scope`` in v2 terms, or None when it is not one."""
    m = V1_RESOURCE_SCOPE.match(scope)
    if m:
        perms = {"read": "rs", "write": "cud", "*": "cruds"}[m.group(3)]
        return ResourceScope(m.group(1), m.group(2), perms)
    m = V2_RESOURCE_SCOPE.match(scope)
    if m:
        return ResourceScope(m.group(1), m.group(2), m.group(3), m.group(4) or "")
    return None


def split_scope(scope: str | None) -> list[str]:
    """Scope tokens in request order, duplicates removed."""
    return list(dict.fromkeys((scope or "").split()))


def grantable_scope(requested: str | None, *, patient_login: bool = False) -> str:
    """The part of ``requested`` the sandbox grants (space separated, request order kept)."""
    granted: list[str] = []
    for token in split_scope(requested):
        if token in NON_RESOURCE_SCOPES:
            granted.append(token)
            continue
        parsed = parse_resource_scope(token)
        if parsed is None or parsed.context == "system":
            continue
        if patient_login and parsed.context == "user":
            continue
        granted.append(token)
    return " ".join(granted)


def wants_patient(scope: str | None) -> bool:
    tokens = set(split_scope(scope))
    return bool(tokens & {"launch/patient", "launch"})


def wants_encounter(scope: str | None) -> bool:
    tokens = set(split_scope(scope))
    return bool(tokens & {"launch/encounter", "launch"})


def wants_refresh_token(scope: str | None) -> bool:
    return bool(set(split_scope(scope)) & set(REFRESH_SCOPES))


def is_offline(scope: str | None) -> bool:
    return "offline_access" in split_scope(scope)


def describe(scope: str) -> str:
    """A short plain-language line for the consent page."""
    plain = {
        "openid": "Confirm who you are to the app",
        "fhirUser": "Tell the app which user record is yours",
        "profile": "Share your name with the app",
        "launch": "Use the current patient and encounter",
        "launch/patient": "Use the patient chosen for this session",
        "launch/encounter": "Use that patient's latest encounter",
        "offline_access": "Stay signed in after you close the browser (refresh token)",
        "online_access": "Stay signed in while you are working (refresh token)",
    }
    if scope in plain:
        return plain[scope]
    parsed = parse_resource_scope(scope)
    if parsed is None:
        return scope
    verbs = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}
    what = "all resources" if parsed.resource_type == "*" else parsed.resource_type
    whose = "of the patient in context" if parsed.context == "patient" else "you can access"
    actions = ", ".join(verbs[p] for p in parsed.permissions)
    restriction = f" (only {parsed.query[1:]})" if parsed.query else ""
    return f"{actions.capitalize()} {what} {whose}{restriction}"
