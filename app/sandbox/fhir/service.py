"""The FHIR interactions (read, vread, history, search, create, update), independent of HTTP.

The HTTP routes and the Bundle processor both call these, so a transaction entry behaves
exactly like the same request sent on its own.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from app.sandbox.fhir.database import ResourceDatabase, StoredResource
from app.sandbox.fhir.dates import now_instant
from app.sandbox.fhir.errors import (
    BadRequest,
    MethodNotAllowed,
    NotFound,
    PreconditionFailed,
    status_line,
)
from app.sandbox.fhir.params import SUPPORTED_TYPES
from app.sandbox.fhir.query import SearchRequest, parse_criteria, parse_search
from app.sandbox.fhir.scopes import Access, Grants, Interaction, out_of_compartment
from app.sandbox.fhir.search import SearchEngine, SearchResult
from app.sandbox.fhir.sql import NO_FILTER, Filter
from app.sandbox.fhir.validation import check_id, check_resource_shape, validate_content

_ETAG_RX = re.compile(r'^\s*(?:W/)?"?([^",\s]+)"?\s*$')


@dataclass
class Result:
    """What an interaction produced: HTTP status, body and the stored version it concerns."""

    status: int
    body: dict[str, Any] | None
    stored: StoredResource | None = None
    location: str | None = None  # absolute URL of the version written (create, update)
    message: str = ""  # what happened, for Prefer: return=OperationOutcome


def parse_if_match(header: str) -> list[str]:
    """Version ids from an If-Match header (``W/"3"``, ``"3"``, ``3``; ``*`` matches any)."""
    versions = []
    for part in header.split(","):
        if part.strip() == "*":
            versions.append("*")
            continue
        m = _ETAG_RX.match(part)
        if not m:
            raise BadRequest(f'If-Match {header!r} is not an ETag; send W/"<versionId>".')
        versions.append(m[1])
    return versions


def require_type(resource_type: str) -> None:
    if resource_type in SUPPORTED_TYPES:
        return
    from fhir.resources.R4B import get_fhir_model_class  # not loaded as the sandbox starts

    try:
        get_fhir_model_class(resource_type)
        known = f"{resource_type} is a FHIR resource type, but this server does not serve it"
    except (ValueError, AttributeError, KeyError):
        known = f"{resource_type!r} is not a FHIR resource type"
    raise NotFound(
        f"{known}. Types served here: {', '.join(SUPPORTED_TYPES)} (see /metadata).",
        code="not-supported",
    )


class FhirService:
    def __init__(self, db: ResourceDatabase, base: str) -> None:
        self.db = db
        self.base = base.rstrip("/")
        self.engine = SearchEngine(db)

    # --- URLs -----------------------------------------------------------------------------

    def full_url(self, stored: StoredResource) -> str:
        return f"{self.base}/{stored.resource_type}/{stored.id}"

    def version_url(self, stored: StoredResource) -> str:
        return f"{self.full_url(stored)}/_history/{stored.version}"

    # --- reading --------------------------------------------------------------------------

    def read(self, access: Access, resource_type: str, resource_id: str) -> Result:
        require_type(resource_type)
        grants = access.grants(Interaction.READ, resource_type)
        stored = self._existing(resource_type, resource_id)
        self._check_allowed(Interaction.READ, stored, grants)
        return Result(200, stored.resource, stored)

    def vread(self, access: Access, resource_type: str, resource_id: str, version: str) -> Result:
        require_type(resource_type)
        grants = access.grants(Interaction.READ, resource_type)
        current = self._existing(resource_type, resource_id)
        self._check_allowed(Interaction.READ, current, grants)
        stored = (
            self.db.get_version(resource_type, resource_id, int(version))
            if version.isdigit()
            else None
        )
        if stored is None:
            raise NotFound(
                f"{resource_type}/{resource_id} has no version {version!r}; its versions are "
                f"1 to {current.version}."
            )
        return Result(200, stored.resource, stored)

    def history(self, access: Access, resource_type: str, resource_id: str) -> Result:
        require_type(resource_type)
        grants = access.grants(Interaction.READ, resource_type)
        current = self._existing(resource_type, resource_id)
        self._check_allowed(Interaction.READ, current, grants)
        versions = self.db.history(resource_type, resource_id)
        entries = []
        for stored in versions:
            created = stored.version == 1
            entries.append(
                {
                    "fullUrl": self.full_url(stored),
                    "resource": stored.resource,
                    "request": {
                        "method": stored.method or ("POST" if created else "PUT"),
                        "url": resource_type if stored.method == "POST" else stored.reference,
                    },
                    "response": {
                        "status": status_line(201 if created else 200),
                        "etag": stored.etag,
                        "lastModified": stored.last_updated,
                    },
                }
            )
        bundle = {
            "resourceType": "Bundle",
            "type": "history",
            "total": len(entries),
            "link": [{"relation": "self", "url": f"{self.full_url(current)}/_history"}],
            "entry": entries,
        }
        return Result(200, bundle)

    def search(
        self,
        access: Access,
        resource_type: str,
        pairs: Sequence[tuple[str, str]],
        *,
        strict: bool = False,
    ) -> Result:
        require_type(resource_type)
        grants = access.grants(Interaction.SEARCH, resource_type)
        request = parse_search(resource_type, pairs, strict=strict)

        def read_filter(t: str) -> Filter | None:
            g = access.may(Interaction.READ, t)
            return None if g is None else g.filter()

        result = self.engine.run(request, grants.filter(), read_filter)
        return Result(200, self._searchset(request, result))

    def _searchset(self, request: SearchRequest, result: SearchResult) -> dict[str, Any]:
        entries: list[dict[str, Any]] = [
            {"fullUrl": self.full_url(s), "resource": s.resource, "search": {"mode": "match"}}
            for s in result.matches
        ]
        entries += [
            {"fullUrl": self.full_url(s), "resource": s.resource, "search": {"mode": "include"}}
            for s in result.included
        ]
        if result.warnings:
            entries.append(
                {
                    "resource": {
                        "resourceType": "OperationOutcome",
                        "issue": [
                            {"severity": "warning", "code": "not-supported", "diagnostics": w}
                            for w in result.warnings
                        ],
                    },
                    "search": {"mode": "outcome"},
                }
            )
        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": result.total,
            "link": self._links(request, result.total),
        }
        if entries:
            bundle["entry"] = entries
        return bundle

    def _links(self, request: SearchRequest, total: int) -> list[dict[str, str]]:
        def url(offset: int) -> str:
            pairs = [*request.echo, ("_count", str(request.count))]
            if offset:
                pairs.append(("_offset", str(offset)))
            return f"{self.base}/{request.resource_type}?{urlencode(pairs, safe=':|,/')}"

        links = [{"relation": "self", "url": url(request.offset)}]
        if request.summary_count or request.count == 0:
            return links
        links.append({"relation": "first", "url": url(0)})
        if request.offset > 0:
            links.append(
                {"relation": "previous", "url": url(max(0, request.offset - request.count))}
            )
        if request.offset + request.count < total:
            links.append({"relation": "next", "url": url(request.offset + request.count)})
        return links

    # --- writing --------------------------------------------------------------------------

    def find_existing(
        self, access: Access, resource_type: str, query: str, purpose: str
    ) -> list[str]:
        """Ids matching conditional ``query`` (If-None-Exist, conditional references)."""
        interaction = Interaction.CREATE if purpose == "If-None-Exist" else Interaction.SEARCH
        grants = access.grants(interaction, resource_type)
        criteria = parse_criteria(resource_type, query, purpose=purpose)
        return self.engine.matching_ids(resource_type, criteria, grants.filter())

    def create(
        self,
        access: Access,
        resource_type: str,
        body: Any,
        *,
        if_none_exist: str | None = None,
        assigned_id: str | None = None,
    ) -> Result:
        require_type(resource_type)
        resource = check_resource_shape(body, resource_type)
        grants = access.grants(Interaction.CREATE, resource_type)
        validate_content(resource)
        with self.db.transaction():
            if if_none_exist is not None:
                ids = self.find_existing(access, resource_type, if_none_exist, "If-None-Exist")
                if len(ids) == 1:
                    stored = self._existing(resource_type, ids[0])
                    return Result(
                        200,
                        stored.resource,
                        stored,
                        self.version_url(stored),
                        f"{stored.reference} already matches If-None-Exist; nothing was created.",
                    )
                if len(ids) > 1:
                    raise PreconditionFailed(
                        f"If-None-Exist {if_none_exist!r} matches more than one {resource_type} "
                        f"({', '.join(ids[:3])}...); make the criteria identify one resource."
                    )
            stored = self._write(
                resource_type, assigned_id or str(uuid.uuid4()), resource, 1, "POST"
            )
            self._check_allowed(Interaction.CREATE, stored, grants)
        return Result(
            201,
            stored.resource,
            stored,
            self.version_url(stored),
            f"Created {stored.reference} (version 1).",
        )

    def update(
        self,
        access: Access,
        resource_type: str,
        resource_id: str,
        body: Any,
        *,
        if_match: str | None = None,
    ) -> Result:
        require_type(resource_type)
        if resource_id in ("_history", "_search"):
            raise MethodNotAllowed(f"PUT is not allowed on /{resource_type}/{resource_id}.")
        check_id(resource_id)
        no_update = access.may(Interaction.UPDATE, resource_type) is None
        if no_update and access.may(Interaction.CREATE, resource_type) is None:
            access.grants(Interaction.UPDATE, resource_type)  # raises 403 naming the scopes
        resource = check_resource_shape(body, resource_type)
        body_id = resource.get("id")
        if body_id is None:
            raise BadRequest(
                f"The body has no id; an update of {resource_type}/{resource_id} must carry "
                f'"id": "{resource_id}".',
                expression=["id"],
            )
        if body_id != resource_id:
            raise BadRequest(
                f"The body's id {body_id!r} does not match the id in the URL "
                f"({resource_id!r}); they must be the same.",
                expression=["id"],
            )
        validate_content(resource)
        wanted = parse_if_match(if_match) if if_match is not None else None
        with self.db.transaction():
            current = self.db.get(resource_type, resource_id)
            if current is None:
                grants = access.grants(Interaction.CREATE, resource_type)
                if wanted is not None:
                    raise PreconditionFailed(
                        f"{resource_type}/{resource_id} does not exist, so If-Match "
                        f"{if_match} cannot match; send it without If-Match to create it."
                    )
                version, status = 1, 201
            else:
                grants = access.grants(Interaction.UPDATE, resource_type)
                self._check_allowed(Interaction.UPDATE, current, grants)
                if wanted is not None and "*" not in wanted and str(current.version) not in wanted:
                    raise PreconditionFailed(
                        f"{current.reference} has changed: If-Match asked for version "
                        f"{', '.join(wanted)} but the current version is {current.version} "
                        f"(ETag {current.etag}). Read it again, reapply your change and retry.",
                        code="conflict",
                    )
                version, status = current.version + 1, 200
            stored = self._write(resource_type, resource_id, resource, version, "PUT")
            self._check_allowed(
                Interaction.UPDATE if current else Interaction.CREATE, stored, grants
            )
        verb = "Created" if status == 201 else "Updated"
        return Result(
            status,
            stored.resource,
            stored,
            self.version_url(stored),
            f"{verb} {stored.reference} (version {version}).",
        )

    # --- helpers --------------------------------------------------------------------------

    def _existing(self, resource_type: str, resource_id: str) -> StoredResource:
        stored = self.db.get(resource_type, resource_id)
        if stored is None:
            raise NotFound(f"{resource_type}/{resource_id} does not exist on this server.")
        return stored

    def _check_allowed(
        self, interaction: Interaction, stored: StoredResource, grants: Grants
    ) -> None:
        access = grants.filter()
        if access == NO_FILTER:
            return
        if not self.engine.allows(stored.resource_type, stored.id, access):
            patient = next((g.patient for g in grants.items if g.patient), None)
            raise out_of_compartment(interaction, stored.reference, patient)

    def _write(
        self,
        resource_type: str,
        resource_id: str,
        resource: dict[str, Any],
        version: int,
        method: str,
    ) -> StoredResource:
        now = now_instant()
        meta = {
            k: v
            for k, v in (resource.get("meta") or {}).items()
            if k not in ("versionId", "lastUpdated")
        }
        body = {
            "resourceType": resource_type,
            "id": resource_id,
            "meta": {"versionId": str(version), "lastUpdated": now, **meta},
            **{k: v for k, v in resource.items() if k not in ("resourceType", "id", "meta")},
        }
        stored = StoredResource(resource_type, resource_id, version, now, body, method)
        self.db.put(stored)
        return stored
