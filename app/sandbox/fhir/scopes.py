"""SMART scopes on the FHIR side: what a token may do, and to which resources.

A request asks for one interaction letter (v2 terms: c create, r read, u update, d delete,
s search) on one resource type. The token's scopes yield zero or more ``Grant``s for it:

- ``user/`` and ``system/`` scopes: every resource of the type.
- ``patient/`` scopes: only the patient compartment of the token's ``patient`` claim (the
  Patient itself, and resources whose patient reference points to it). Types outside the
  compartment (Practitioner, Organization, Medication ...) are shared data that patient/ scopes
  may read but never write.
- v1 ``read`` = ``rs``, ``write`` = ``cud``, ``*`` = ``cruds``.
- A v2 ``?query`` restriction (``patient/Observation.rs?category=laboratory``) is enforced as an
  extra search filter; a query this server cannot evaluate grants nothing (fail closed).

No grant: ``Forbidden`` naming the scopes that would allow it. Resource-level checks (is this
resource in the compartment?) are SQL filters built from the grants (``sql.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from app.sandbox.contracts import TokenClaims
from app.sandbox.fhir.errors import BadRequest, Forbidden
from app.sandbox.fhir.params import COMPARTMENT_TYPES
from app.sandbox.fhir.query import Criterion, parse_criteria
from app.sandbox.fhir.sql import (
    NO_FILTER,
    Filter,
    all_of,
    any_of,
    compartment_filter,
    criterion_filter,
)

_V1 = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.(read|write|\*)$")
_V2 = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.(?=[cruds])(c?r?u?d?s?)(\?\S+)?$")
_V1_LETTERS = {"read": "rs", "write": "cud", "*": "cruds"}


class Interaction(Enum):
    CREATE = "c"
    READ = "r"
    UPDATE = "u"
    DELETE = "d"
    SEARCH = "s"

    @property
    def verb(self) -> str:
        return {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}[self.value]

    @property
    def v1(self) -> str:
        return "read" if self.value in "rs" else "write"


@dataclass(frozen=True)
class ResourceScope:
    context: str  # patient | user | system
    resource_type: str  # a type or "*"
    letters: str  # v2 letters
    query: str  # "" or "?category=laboratory"
    text: str


@dataclass(frozen=True)
class Grant:
    patient: str | None  # compartment, or None for every resource of the type
    criteria: tuple[Criterion, ...] = ()
    resource_type: str = ""

    def filter(self) -> Filter:
        parts: list[Filter] = []
        if self.patient is not None:
            parts.append(compartment_filter(self.resource_type, self.patient))
        parts += [criterion_filter(self.resource_type, c) for c in self.criteria]
        return all_of(parts)


@dataclass(frozen=True)
class Grants:
    """The grants for one interaction on one type; ``filter()`` is their union."""

    resource_type: str
    items: tuple[Grant, ...] = field(default_factory=tuple)

    @property
    def unrestricted(self) -> bool:
        return any(g.patient is None and not g.criteria for g in self.items)

    def filter(self) -> Filter:
        if self.unrestricted:
            return NO_FILTER
        return any_of([g.filter() for g in self.items])


def parse_scope(token: str) -> ResourceScope | None:
    m = _V1.match(token)
    if m:
        return ResourceScope(m[1], m[2], _V1_LETTERS[m[3]], "", token)
    m = _V2.match(token)
    if m:
        return ResourceScope(m[1], m[2], m[3], m[4] or "", token)
    return None


class Access:
    """What one request may do: built from the bearer token's claims."""

    def __init__(self, claims: TokenClaims | None, *, everything: bool = False) -> None:
        self.claims = claims
        self._everything = everything
        scope_text = claims.scope if claims else ""
        self.scopes = [s for s in (parse_scope(t) for t in scope_text.split()) if s]

    @classmethod
    def system(cls) -> Access:
        """Unrestricted access for the server itself (loading the seed data)."""
        return cls(None, everything=True)

    @property
    def patient(self) -> str | None:
        return self.claims.patient if self.claims else None

    def grants(self, interaction: Interaction, resource_type: str) -> Grants:
        """The grants for ``interaction`` on ``resource_type``; Forbidden when there are none."""
        if self._everything:
            return Grants(resource_type, (Grant(None, (), resource_type),))
        items: list[Grant] = []
        reasons: list[str] = []
        for scope in self.scopes:
            if scope.resource_type not in ("*", resource_type):
                continue
            if interaction.value not in scope.letters:
                continue
            grant = self._grant_for(scope, interaction, resource_type, reasons)
            if grant is not None:
                items.append(grant)
        if not items:
            raise self._forbidden(interaction, resource_type, reasons)
        return Grants(resource_type, tuple(items))

    def may(self, interaction: Interaction, resource_type: str) -> Grants | None:
        try:
            return self.grants(interaction, resource_type)
        except Forbidden:
            return None

    def _grant_for(
        self, scope: ResourceScope, interaction: Interaction, resource_type: str, reasons: list[str]
    ) -> Grant | None:
        criteria: tuple[Criterion, ...] = ()
        if scope.query:
            try:
                criteria = tuple(
                    parse_criteria(resource_type, scope.query, purpose=f"The scope {scope.text}")
                )
            except BadRequest as exc:
                reasons.append(f"{scope.text} was ignored: {exc.diagnostics}")
                return None
        if scope.context != "patient":
            return Grant(None, criteria, resource_type)
        if self.patient is None:
            reasons.append(f"{scope.text} needs a patient in context, and this token has none")
            return None
        if resource_type not in COMPARTMENT_TYPES:
            if interaction in (Interaction.READ, Interaction.SEARCH):
                return Grant(None, criteria, resource_type)
            reasons.append(
                f"{resource_type} is not patient data, so patient/ scopes cannot "
                f"{interaction.verb} it"
            )
            return None
        return Grant(self.patient, criteria, resource_type)

    def _forbidden(
        self, interaction: Interaction, resource_type: str, reasons: list[str]
    ) -> Forbidden:
        t, v2, v1 = resource_type, interaction.value, interaction.v1
        message = (
            f"This access token lacks {t} {interaction.verb} permission: request "
            f"patient/{t}.{v2} or user/{t}.{v2} (SMART v2), or patient/{t}.{v1} or "
            f"user/{t}.{v1} (SMART v1), and sign in again."
        )
        if reasons:
            message += " Note: " + "; ".join(reasons) + "."
        error = Forbidden(message)
        error.headers["WWW-Authenticate"] = (
            f'Bearer realm="fhir", error="insufficient_scope", scope="user/{t}.{v2}"'
        )
        return error


def out_of_compartment(interaction: Interaction, reference: str, patient: str | None) -> Forbidden:
    return Forbidden(
        f"{reference} is outside what this token may {interaction.verb}: its patient/ scopes "
        f"only reach Patient/{patient} and that patient's own resources (or the v2 scope's "
        "query does not match it)."
    )
