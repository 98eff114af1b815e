"""Which SMART scopes the enabled features need, in v1 or v2 syntax, and what was granted.

v2 syntax (``user/Observation.rs``) is used when the server declares ``permission-v2``,
otherwise v1 (``user/Observation.read``). The granted scope string is read in either syntax.
The comparison yields the features the clinician loses, with sentences such as
"cannot file notes: the EHR did not grant DocumentReference write".
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from app.domain.items import WRITE_FEATURES
from app.smart.discovery import SmartConfiguration

PERMISSION_ORDER = "cruds"
V1_PERMISSIONS = {"read": frozenset("rs"), "write": frozenset("cud"), "*": frozenset("cruds")}
_SCOPE_RX = re.compile(
    r"^(?P<context>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]+)\."
    r"(?P<perm>read|write|\*|c?r?u?d?s?)(?:\?\S*)?$"
)


class Feature(enum.Enum):
    """Things the app does that need EHR permissions. The value reads "cannot <value>".

    Reading the chart, then one member per write of the catalogue (app.domain.items):
    WRITE_NOTES, one per item kind (WRITE_OBSERVATIONS, WRITE_SYMPTOMS, ..., named after the
    kind's import key), WRITE_COMPOSITIONS, WRITE_PROVENANCE."""

    _ignore_ = "_write"
    READ_CONTEXT = "read the patient's chart"
    for _write in WRITE_FEATURES:
        vars()[_write.name] = _write.cannot


@dataclass(frozen=True)
class Need:
    resource_type: str
    permissions: frozenset[str]  # subset of "cruds"

    @property
    def words(self) -> str:
        if self.permissions <= frozenset("rs"):
            return "read"
        if self.permissions <= frozenset("cud"):
            return "write"
        return "read and write"


def _need(resource_type: str, perms: str) -> Need:
    return Need(resource_type, frozenset(perms))


# What the encounter context reads (app.fhir.context_loader), including the _include targets,
# and who a follow-up task can be given to (app.fhir.directory: care team, directory by name).
_READ = ("Patient", "Encounter", "Condition", "MedicationRequest", "AllergyIntolerance",
         "Observation", "DocumentReference", "Composition", "Practitioner", "Location",
         "CareTeam", "PractitionerRole")  # fmt: skip

# Every write also needs read + search of its type: exactly-once delivery reads back what the
# EHR stored and, when an answer was lost, searches by the commit's identifier before resending.
FEATURE_NEEDS: dict[Feature, tuple[Need, ...]] = {
    Feature.READ_CONTEXT: tuple(_need(t, "rs") for t in _READ),
    **{Feature[w.name]: (_need(w.resource_type, w.permissions),) for w in WRITE_FEATURES},
}
ALL_FEATURES = frozenset(Feature)
IDENTITY_SCOPES = ("openid", "fhirUser")
OFFLINE = "offline_access"


def _ordered(perms: Iterable[str]) -> str:
    s = set(perms)
    return "".join(p for p in PERMISSION_ORDER if p in s)


def merged_needs(features: Iterable[Feature]) -> dict[str, frozenset[str]]:
    by_type: dict[str, set[str]] = {}
    for feature in sorted(features, key=lambda f: f.name):
        for need in FEATURE_NEEDS[feature]:
            by_type.setdefault(need.resource_type, set()).update(need.permissions)
    return {t: frozenset(p) for t, p in by_type.items()}


def requested_scopes(
    config: SmartConfiguration,
    features: Iterable[Feature] = ALL_FEATURES,
    *,
    request_launch_context: bool = True,
) -> tuple[str, ...]:
    """The least-privilege scope list for the enabled features, in the server's syntax."""
    scopes: list[str] = [*IDENTITY_SCOPES, OFFLINE]
    if request_launch_context:
        if config.supports("context-standalone-patient"):
            scopes.append("launch/patient")
        if config.supports("context-standalone-encounter"):
            scopes.append("launch/encounter")
    for resource_type, perms in sorted(merged_needs(features).items()):
        if config.permission_v2:
            scopes.append(f"user/{resource_type}.{_ordered(perms)}")
            continue
        if perms & V1_PERMISSIONS["read"]:
            scopes.append(f"user/{resource_type}.read")
        if perms & V1_PERMISSIONS["write"]:
            scopes.append(f"user/{resource_type}.write")
    return tuple(scopes)


@dataclass(frozen=True)
class ResourceScope:
    context: str  # patient | user | system
    resource_type: str  # or "*"
    permissions: frozenset[str]


def parse_resource_scope(scope: str) -> ResourceScope | None:
    m = _SCOPE_RX.match(scope)
    if m is None:
        return None
    perm = m.group("perm")
    perms = V1_PERMISSIONS.get(perm, frozenset(perm))
    return ResourceScope(m.group("context"), m.group("type"), perms)


def granted_permissions(granted: Iterable[str], resource_type: str) -> frozenset[str]:
    """Union of what ``user/`` and ``patient/`` scopes grant on a type (query limits ignored)."""
    perms: set[str] = set()
    for scope in granted:
        parsed = parse_resource_scope(scope)
        if parsed is None or parsed.context == "system":
            continue
        if parsed.resource_type in ("*", resource_type):
            perms |= parsed.permissions
    return frozenset(perms)


@dataclass(frozen=True)
class MissingGrant:
    feature: Feature
    need: Need

    @property
    def message(self) -> str:
        return (
            f"cannot {self.feature.value}: the EHR did not grant "
            f"{self.need.resource_type} {self.need.words}"
        )


@dataclass(frozen=True)
class ScopeReport:
    requested: tuple[str, ...]
    granted: tuple[str, ...]
    missing: tuple[MissingGrant, ...]
    offline_access: bool
    identity: bool

    @property
    def disabled_features(self) -> frozenset[Feature]:
        return frozenset(m.feature for m in self.missing)

    @property
    def complete(self) -> bool:
        return not self.missing and self.offline_access and self.identity

    @property
    def messages(self) -> tuple[str, ...]:
        """One sentence per problem, for the clinician."""
        lines = [m.message for m in self.missing]
        if not self.identity:
            lines.append("cannot show who is signed in: the EHR did not grant openid fhirUser")
        if not self.offline_access:
            lines.append(
                "cannot stay signed in: the EHR did not grant offline access, so you will be "
                "asked to sign in again when the session ends"
            )
        return tuple(lines)


def compare(
    requested: Iterable[str],
    granted: str | None,
    features: Iterable[Feature] = ALL_FEATURES,
) -> ScopeReport:
    """``granted`` is the token response's ``scope``; when absent, OAuth says all were granted."""
    requested_t = tuple(requested)
    granted_t = tuple(granted.split()) if granted is not None else requested_t
    missing: list[MissingGrant] = []
    for feature in sorted(set(features), key=lambda f: list(Feature).index(f)):
        for need in FEATURE_NEEDS[feature]:
            have = granted_permissions(granted_t, need.resource_type)
            if not need.permissions <= have:
                # name only what is missing ("write", not "read and write" when read was granted)
                missing.append(
                    MissingGrant(feature, Need(need.resource_type, need.permissions - have))
                )
    return ScopeReport(
        requested=requested_t,
        granted=granted_t,
        missing=tuple(missing),
        offline_access=OFFLINE in granted_t,
        identity=all(s in granted_t for s in IDENTITY_SCOPES),
    )
