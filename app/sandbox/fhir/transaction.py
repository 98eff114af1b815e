"""Transaction and batch Bundles (POST to the base URL).

transaction: all entries succeed together or nothing is saved. Processing order follows the
FHIR spec (POST, then PUT, then GET); ``urn:uuid:`` fullUrls get their server ids first and are
replaced everywhere in the Bundle (references, uris, narrative links); conditional references
(``Patient?identifier=...``) are resolved to the one matching resource; each entry may carry
``request.ifNoneExist`` and ``request.ifMatch``; a resource may be written only once. Any failing
entry rolls everything back and the response is that entry's error.

batch: entries are independent; each succeeds or fails on its own (savepoints) and carries its
own status and OperationOutcome. Entries may not reference one another.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from app.sandbox.fhir.database import StoredResource
from app.sandbox.fhir.errors import (
    BadRequest,
    Conflict,
    FhirError,
    MethodNotAllowed,
    PreconditionFailed,
    outcome,
    status_line,
)
from app.sandbox.fhir.indexing import all_references
from app.sandbox.fhir.prefer import Prefer, ReturnPreference
from app.sandbox.fhir.scopes import Access
from app.sandbox.fhir.service import FhirService, Result, require_type
from app.sandbox.fhir.validation import check_id

_CONDITIONAL_REF = re.compile(r"^([A-Z][A-Za-z]+)\?(.+)$")


@dataclass
class Entry:
    index: int
    method: str
    url: str
    kind: str  # create | update | read | vread | history | search
    resource_type: str
    resource_id: str | None = None
    version: str | None = None
    query: str = ""
    resource: dict[str, Any] | None = None
    full_url: str | None = None
    if_none_exist: str | None = None
    if_match: str | None = None

    @property
    def label(self) -> str:
        return f"Entry {self.index} ({self.method} {self.url})"


class BundleProcessor:
    def __init__(self, service: FhirService) -> None:
        self.service = service
        self.db = service.db

    def process(self, access: Access, body: Any, prefer: Prefer) -> Result:
        bundle_type, raw_entries = self._check_bundle(body)
        if bundle_type == "transaction":
            entries = []
            for i, raw in enumerate(raw_entries):
                try:
                    entries.append(self._parse_entry(i, raw))
                except FhirError as err:
                    raise err.with_prefix(_rolled_back(f"Entry {i}: ")) from None
            return self._transaction(access, entries, prefer)
        return self._batch(access, raw_entries, prefer)

    # --- shape ----------------------------------------------------------------------------

    def _check_bundle(self, body: Any) -> tuple[str, list[Any]]:
        if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
            kind = body.get("resourceType") if isinstance(body, dict) else type(body).__name__
            raise BadRequest(
                f"POST to the base URL takes a Bundle of type transaction or batch, not "
                f"{kind!r}. To create a resource, POST it to /{kind if isinstance(kind, str) else 'Type'}."
            )
        bundle_type = body.get("type")
        if bundle_type not in ("transaction", "batch"):
            raise BadRequest(
                f"Bundle.type is {bundle_type!r}; POST to the base URL takes only a transaction "
                "or a batch Bundle."
            )
        entries = body.get("entry") or []
        if not isinstance(entries, list):
            raise BadRequest("Bundle.entry must be a list.")
        skeleton = {
            **body,
            "entry": [
                {k: v for k, v in e.items() if k != "resource"} if isinstance(e, dict) else e
                for e in entries
            ],
        }
        # the R4B models (pydantic) load on the first write, not as the sandbox starts
        from fhir.resources.R4B import get_fhir_model_class
        from pydantic import ValidationError

        try:
            get_fhir_model_class("Bundle").model_validate(skeleton)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise BadRequest(f"The Bundle is not valid: Bundle.{where}: {first['msg']}.") from None
        return bundle_type, entries

    def _parse_entry(self, index: int, raw: Any) -> Entry:
        request = raw.get("request") if isinstance(raw, dict) else None
        if not isinstance(request, dict) or not request.get("method") or not request.get("url"):
            raise BadRequest(f"Entry {index} has no request.method and request.url.")
        method = str(request["method"]).upper()
        url = str(request["url"])
        if url.startswith(self.service.base + "/"):
            url = url[len(self.service.base) + 1 :]
        elif "://" in url:
            raise BadRequest(f"Entry {index}: {url} is not on this server ({self.service.base}).")
        path, _, query = url.lstrip("/").partition("?")
        parts = [p for p in path.split("/") if p]
        if not parts:
            raise BadRequest(f"Entry {index}: request.url {url!r} names no resource type.")
        entry = Entry(index, method, url, "", parts[0], query=query)
        entry.full_url = raw.get("fullUrl")
        entry.if_none_exist = request.get("ifNoneExist")
        entry.if_match = request.get("ifMatch")
        require_type(entry.resource_type)
        if method in ("POST", "PUT"):
            entry.resource = raw.get("resource")
            if not isinstance(entry.resource, dict):
                raise BadRequest(f"{entry.label} has no resource to write.")
        if method == "POST" and len(parts) == 1 and not query:
            entry.kind = "create"
        elif method == "PUT" and len(parts) == 2 and not query:
            entry.kind, entry.resource_id = "update", parts[1]
            check_id(parts[1])
        elif method == "GET" and len(parts) == 1:
            entry.kind = "search"
        elif method == "GET" and len(parts) == 2:
            entry.kind, entry.resource_id = "read", parts[1]
        elif method == "GET" and len(parts) == 3 and parts[2] == "_history":
            entry.kind, entry.resource_id = "history", parts[1]
        elif method == "GET" and len(parts) == 4 and parts[2] == "_history":
            entry.kind, entry.resource_id, entry.version = "vread", parts[1], parts[3]
        else:
            raise MethodNotAllowed(
                f"{entry.label}: this server supports POST Type, PUT Type/id and GET (read, "
                "vread, _history, search) in Bundles; conditional update, DELETE and PATCH are "
                "not supported."
            )
        return entry

    # --- transaction ----------------------------------------------------------------------

    def _transaction(self, access: Access, entries: list[Entry], prefer: Prefer) -> Result:
        results: dict[int, Result] = {}
        with self.db.transaction():
            current: Entry | None = None
            try:
                mapping: dict[str, str] = {}
                ids: dict[int, str] = {}
                matched: dict[int, StoredResource] = {}
                for current in (e for e in entries if e.kind == "create"):
                    ids[current.index] = self._assign_id(access, current, matched)
                    if current.full_url:
                        mapping[current.full_url] = f"{current.resource_type}/{ids[current.index]}"
                for current in (e for e in entries if e.kind == "update"):
                    if current.full_url:
                        mapping[current.full_url] = f"{current.resource_type}/{current.resource_id}"
                current = None
                self._check_overlap(entries, ids)
                for current in entries:
                    if current.resource is not None and current.index not in matched:
                        current.resource = self._resolve(access, current.resource, mapping)
                for current in (e for e in entries if e.kind == "create"):
                    if current.index in matched:
                        stored = matched[current.index]
                        results[current.index] = Result(
                            200,
                            stored.resource,
                            stored,
                            self.service.version_url(stored),
                            f"{stored.reference} already matches ifNoneExist; nothing created.",
                        )
                    else:
                        results[current.index] = self.service.create(
                            access,
                            current.resource_type,
                            current.resource,
                            assigned_id=ids[current.index],
                        )
                for current in (e for e in entries if e.kind == "update"):
                    results[current.index] = self._execute(access, current, prefer)
                for current in (e for e in entries if e.kind not in ("create", "update")):
                    results[current.index] = self._execute(access, current, prefer)
            except FhirError as err:
                prefix = f"{current.label}: " if current is not None else ""
                raise err.with_prefix(_rolled_back(prefix)) from None
        return Result(200, self._response("transaction-response", entries, results, prefer))

    def _assign_id(self, access: Access, entry: Entry, matched: dict[int, StoredResource]) -> str:
        if not entry.if_none_exist:
            return str(uuid.uuid4())
        found = self.service.find_existing(
            access, entry.resource_type, entry.if_none_exist, "If-None-Exist"
        )
        if len(found) > 1:
            raise PreconditionFailed(
                f"ifNoneExist {entry.if_none_exist!r} matches more than one "
                f"{entry.resource_type}; make it identify one resource."
            )
        if found:
            stored = self.db.get(entry.resource_type, found[0])
            assert stored is not None
            matched[entry.index] = stored
            return found[0]
        return str(uuid.uuid4())

    def _check_overlap(self, entries: list[Entry], ids: dict[int, str]) -> None:
        seen: dict[str, Entry] = {}
        for e in entries:
            if e.kind not in ("create", "update"):
                continue
            key = f"{e.resource_type}/{ids.get(e.index, e.resource_id)}"
            if key in seen:
                raise Conflict(
                    f"{seen[key].label} and {e.label} both write {key}; a transaction may write "
                    "each resource only once."
                )
            seen[key] = e

    # --- batch ----------------------------------------------------------------------------

    def _batch(self, access: Access, raw_entries: list[Any], prefer: Prefer) -> Result:
        entries: list[Entry] = []
        results: dict[int, Result] = {}
        errors: dict[int, FhirError] = {}
        with self.db.transaction():
            for i, raw in enumerate(raw_entries):
                try:
                    entry = self._parse_entry(i, raw)
                except FhirError as err:
                    entries.append(Entry(i, "?", "?", "invalid", ""))
                    errors[i] = err
                    continue
                entries.append(entry)
                try:
                    with self.db.savepoint():
                        if entry.resource is not None:
                            self._refuse_internal_references(entry)
                            entry.resource = self._resolve(access, entry.resource, {})
                        results[i] = self._execute(access, entry, prefer)
                except FhirError as err:
                    errors[i] = err
        return Result(200, self._response("batch-response", entries, results, prefer, errors))

    def _refuse_internal_references(self, entry: Entry) -> None:
        for ref in all_references(entry.resource):
            if ref.startswith("urn:uuid:"):
                raise BadRequest(
                    f"{entry.label} references {ref}: entries of a batch are independent and "
                    "cannot point at each other; send a transaction Bundle instead."
                )

    # --- shared ---------------------------------------------------------------------------

    def _execute(self, access: Access, entry: Entry, prefer: Prefer) -> Result:
        service, t = self.service, entry.resource_type
        if entry.kind == "create":
            return service.create(access, t, entry.resource, if_none_exist=entry.if_none_exist)
        if entry.kind == "update":
            assert entry.resource_id is not None
            return service.update(
                access, t, entry.resource_id, entry.resource, if_match=entry.if_match
            )
        if entry.kind == "read":
            assert entry.resource_id is not None
            return service.read(access, t, entry.resource_id)
        if entry.kind == "vread":
            assert entry.resource_id is not None and entry.version is not None
            return service.vread(access, t, entry.resource_id, entry.version)
        if entry.kind == "history":
            assert entry.resource_id is not None
            return service.history(access, t, entry.resource_id)
        pairs = parse_qsl(entry.query, keep_blank_values=True)
        return service.search(access, t, pairs, strict=prefer.strict)

    def _resolve(
        self, access: Access, resource: dict[str, Any], mapping: dict[str, str]
    ) -> dict[str, Any]:
        """``resource`` with fullUrls and conditional references replaced by real references."""
        resolved: dict[str, Any] = _replace(resource, mapping)
        for ref in set(all_references(resolved)):
            if ref.startswith("urn:uuid:"):
                raise BadRequest(
                    f"The reference {ref} matches the fullUrl of no entry in this transaction."
                )
            m = _CONDITIONAL_REF.match(ref)
            if m:
                require_type(m[1])
                found = self.service.find_existing(access, m[1], m[2], "The conditional reference")
                if len(found) != 1:
                    raise PreconditionFailed(
                        f"The conditional reference {ref} matches {len(found)} resources; it "
                        "must match exactly one."
                    )
                resolved = _replace(resolved, {ref: f"{m[1]}/{found[0]}"})
        return resolved

    def _response(
        self,
        bundle_type: str,
        entries: list[Entry],
        results: dict[int, Result],
        prefer: Prefer,
        errors: dict[int, FhirError] | None = None,
    ) -> dict[str, Any]:
        out = []
        for entry in entries:
            error = (errors or {}).get(entry.index)
            if error is not None:
                out.append(
                    {
                        "response": {
                            "status": status_line(error.status),
                            "outcome": error.operation_outcome(),
                        }
                    }
                )
                continue
            result = results[entry.index]
            response: dict[str, Any] = {"status": status_line(result.status)}
            item: dict[str, Any] = {}
            if result.stored is not None and entry.kind in ("create", "update"):
                item["fullUrl"] = self.service.full_url(result.stored)
                response["location"] = result.location
                response["etag"] = result.stored.etag
                response["lastModified"] = result.stored.last_updated
                if prefer.returns is ReturnPreference.REPRESENTATION:
                    item["resource"] = result.body
                elif prefer.returns is ReturnPreference.OPERATION_OUTCOME:
                    response["outcome"] = outcome("information", "informational", result.message)
            else:
                item["resource"] = result.body
                if result.stored is not None:
                    response["etag"] = result.stored.etag
                    response["lastModified"] = result.stored.last_updated
            item["response"] = response
            out.append(item)
        return {"resourceType": "Bundle", "type": bundle_type, "entry": out}


def _rolled_back(prefix: str) -> str:
    return f"The transaction was rolled back and nothing was saved. {prefix}"


def _replace(node: Any, mapping: dict[str, str]) -> Any:
    if not mapping:
        return node
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "div" and isinstance(value, str):
                for old, new in mapping.items():
                    value = value.replace(old, new)
                out[key] = value
            else:
                out[key] = _replace(value, mapping)
        return out
    if isinstance(node, list):
        return [_replace(item, mapping) for item in node]
    if isinstance(node, str):
        return mapping.get(node, node)
    return node
