"""The approved commit: exactly what the clinician approved, as the outbox carries it to the EHR.

Immutable from the moment of approval. Every identity a retry could need is fixed here, once:

- ``commit_id`` — a UUID; the business identifier of the commit is
  ``{IDENTIFIER_SYSTEM}|{commit_id}`` (see docs/sync.md, "Identities").
- ``sequence`` — a local, monotonic number assigned by the store in the approval transaction. It
  orders commits; wall-clock time never does (clocks jump, laptops travel).
- per planned write: ``write_id`` (a UUID: ``urn:uuid:`` fullUrl in a transaction Bundle and the
  client id for a PUT), and an identifier ``{IDENTIFIER_SYSTEM}|{commit_id}.{position}`` stamped
  into the payload. Reconciliation after a lost response searches for exactly that identifier,
  so it must be in what the server stores. Resource types without an ``identifier`` element
  (Provenance) carry it as a ``meta.tag`` with the same system and code instead.
- the payload as canonical JSON text and its SHA-256: what is sent is what was approved, and the
  store can prove a payload was not changed on disk (:meth:`ApprovedCommit.verify`).

References between writes of one commit use the ``urn:uuid:`` fullUrl of the target write;
``depends_on`` of a write lists the positions it refers to (always earlier ones, so the order of
``writes`` is a valid send order). ``ApprovedCommit.depends_on`` lists other commits that must be
confirmed first: an amendment waits for the commit it amends.

Most writes create a resource. A follow-up note may also correct a resource already in the chart
in place (:class:`WriteOperation` ``UPDATE``): ``target`` names it (``"Observation/12"``, or the
``urn:uuid:`` fullUrl of a write of a commit still in the outbox) and ``if_match`` the version the
clinician saw (``None``: the version the base commit recorded when it wrote it). The payload
carries no ``id``: the planner adds the target's id when it sends it.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from uuid import UUID, uuid4

IDENTIFIER_SYSTEM = "https://fhir-writeback.example/sid/commit"
"""The app-owned identifier system. Never change it: reconciliation of old commits searches it."""

URN_UUID_PREFIX = "urn:uuid:"

# R4 resource types without an ``identifier`` element: the write key goes into meta.tag.
TAG_MATCHED_TYPES = frozenset({"Provenance", "Binary", "Parameters", "Subscription"})
# R4 resource types whose ``identifier`` is a single Identifier (0..1), not a list.
SINGLE_IDENTIFIER_TYPES = frozenset({"Composition", "Bundle", "QuestionnaireResponse"})


class CommitInvalid(ValueError):
    """An approved commit could not be built or failed an integrity check (a programming or
    storage error, never the clinician's: validation happens before approval)."""


class WriteOperation(Enum):
    """What a write does on the server."""

    CREATE = "create"  # a new resource (POST, conditional create, PUT to a client id)
    UPDATE = "update"  # a resource already in the chart, changed in place (PUT with If-Match)


class MatchBy(Enum):
    """How the server copy of a write is found again: the FHIR search parameter used."""

    IDENTIFIER = "identifier"
    TAG = "_tag"


@dataclass(frozen=True)
class Identifier:
    system: str
    value: str

    @property
    def token(self) -> str:
        """``system|value``, as FHIR token search and ``ifNoneExist`` expect it."""
        return f"{self.system}|{self.value}"


@dataclass(frozen=True)
class PlannedWrite:
    """One resource of a commit, fixed at approval."""

    position: int
    write_id: UUID
    resource_type: str
    payload_json: str
    payload_sha256: str
    identifier: Identifier
    depends_on: tuple[int, ...] = ()
    operation: WriteOperation = WriteOperation.CREATE
    target: str | None = None  # UPDATE: "Type/id", or the urn:uuid of another commit's write
    if_match: str | None = None  # UPDATE: the version the clinician saw (None: as recorded)

    @property
    def is_update(self) -> bool:
        return self.operation is WriteOperation.UPDATE

    @functools.cached_property
    def full_url(self) -> str:  # read many times per send: formatted once (issue 15)
        return f"{URN_UUID_PREFIX}{self.write_id}"

    @property
    def client_id(self) -> str:
        """The id to PUT to where the vendor profile allows client-assigned ids."""
        return str(self.write_id)

    @property
    def match_by(self) -> MatchBy:
        return MatchBy.TAG if self.resource_type in TAG_MATCHED_TYPES else MatchBy.IDENTIFIER

    @property
    def search_param(self) -> tuple[str, str]:
        """``(name, "system|value")``: the search that finds the server copy of this write."""
        return (self.match_by.value, self.identifier.token)

    @property
    def if_none_exist(self) -> str:
        """The conditional-create criteria, in the unencoded form the FHIR spec shows."""
        name, token = self.search_param
        return f"{name}={token}"

    def payload(self) -> dict[str, Any]:
        """A fresh, mutable copy of the approved payload."""
        value: dict[str, Any] = json.loads(self.payload_json)
        return value

    @functools.cached_property
    def parsed(self) -> Mapping[str, Any]:
        """The approved payload read once, to be looked at only (checks and comparisons of
        one send share it, issue 15); :meth:`payload` for a copy to change."""
        return self.payload()

    @functools.cached_property
    def local_references(self) -> frozenset[str]:
        """The ``urn:uuid:`` references in the approved payload (read from :attr:`parsed`).
        A text in which ``urn:uuid:`` cannot be (neither written out nor hidden behind a
        ``\\u`` escape) has none: it is not walked (issue 15)."""
        text = self.payload_json
        if URN_UUID_PREFIX not in text and "\\u" not in text:
            return frozenset()
        return local_references(self.parsed)

    def verify(self) -> bool:
        """True when the payload still hashes to the hash recorded at approval."""
        return sha256_hex(self.payload_json) == self.payload_sha256


@dataclass(frozen=True)
class ApprovedCommit:
    commit_id: UUID
    sequence: int
    writes: tuple[PlannedWrite, ...]
    depends_on: tuple[UUID, ...] = ()

    def __post_init__(self) -> None:
        if self.sequence < 1:
            raise CommitInvalid("a commit's local sequence starts at 1")
        if not self.writes:
            raise CommitInvalid("a commit has at least one write")
        if self.commit_id in self.depends_on:
            raise CommitInvalid("a commit cannot depend on itself")
        for index, write in enumerate(self.writes):
            if write.position != index:
                raise CommitInvalid(
                    f"write positions must be 0..n-1 in order (got {write.position})"
                )
            if any(not 0 <= dep < index for dep in write.depends_on):
                raise CommitInvalid(f"write {index} may only refer to earlier writes")
            if write.identifier.value != write_identifier_value(self.commit_id, index):
                raise CommitInvalid(f"write {index} carries an identifier of another commit")
            if write.is_update != (write.target is not None):
                raise CommitInvalid(f"write {index}: an update, and only an update, has a target")
        if len({w.write_id for w in self.writes}) != len(self.writes):
            raise CommitInvalid("write ids must be unique within a commit")

    @property
    def business_identifier(self) -> Identifier:
        return Identifier(IDENTIFIER_SYSTEM, str(self.commit_id))

    @property
    def resource_types(self) -> frozenset[str]:
        return frozenset(w.resource_type for w in self.writes)

    def verify(self) -> bool:
        """True when every payload still matches its recorded SHA-256."""
        return all(w.verify() for w in self.writes)


@dataclass(frozen=True)
class DraftWrite:
    """A resource the mapping layer produced for approval, before identities are stamped.

    Choose ``write_id`` up front when another write of the same commit must refer to this one:
    the reference is ``f"urn:uuid:{write_id}"``.
    """

    payload: Mapping[str, Any]
    write_id: UUID = field(default_factory=uuid4)
    operation: WriteOperation = WriteOperation.CREATE
    target: str | None = None  # UPDATE only: see PlannedWrite
    if_match: str | None = None


def build_commit(
    writes: Sequence[DraftWrite],
    *,
    sequence: int,
    depends_on: Sequence[UUID] = (),
    commit_id: UUID | None = None,
) -> ApprovedCommit:
    """Freeze drafts into an approved commit: stamp identifiers, canonicalise, hash."""
    cid = commit_id or uuid4()
    full_urls = {f"{URN_UUID_PREFIX}{d.write_id}": i for i, d in enumerate(writes)}
    planned: list[PlannedWrite] = []
    for position, draft in enumerate(writes):
        resource_type = draft.payload.get("resourceType")
        if not isinstance(resource_type, str) or not resource_type:
            raise CommitInvalid(f"write {position} has no resourceType")
        if "id" in draft.payload:
            raise CommitInvalid(
                f"write {position} carries an id (the server or the planner sets it)"
            )
        identifier = Identifier(IDENTIFIER_SYSTEM, write_identifier_value(cid, position))
        payload = stamp_identifier(_deep_copy(draft.payload), identifier)
        refs = local_references(payload)
        internal = sorted({full_urls[r] for r in refs if r in full_urls})
        if position in internal:
            raise CommitInvalid(f"write {position} refers to itself")
        text = canonical_json(payload)
        planned.append(
            PlannedWrite(
                position=position,
                write_id=draft.write_id,
                resource_type=resource_type,
                payload_json=text,
                payload_sha256=sha256_hex(text),
                identifier=identifier,
                depends_on=tuple(internal),
                operation=draft.operation,
                target=draft.target,
                if_match=draft.if_match,
            )
        )
    return ApprovedCommit(cid, sequence, tuple(planned), tuple(dict.fromkeys(depends_on)))


def write_identifier_value(commit_id: UUID, position: int) -> str:
    return f"{commit_id}.{position}"


def canonical_json(value: Any) -> str:
    """Deterministic JSON text: sorted keys, no insignificant whitespace, UTF-8, no NaN."""
    try:
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise CommitInvalid(f"payload is not plain JSON: {exc}") from exc


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stamp_identifier(payload: dict[str, Any], identifier: Identifier) -> dict[str, Any]:
    """Put the write's identifier where reconciliation will search for it (idempotent)."""
    resource_type = payload.get("resourceType")
    entry = {"system": identifier.system, "value": identifier.value}
    if resource_type in TAG_MATCHED_TYPES:
        meta = payload.setdefault("meta", {})
        tags = meta.setdefault("tag", [])
        tag = {"system": identifier.system, "code": identifier.value}
        if tag not in tags:
            tags.append(tag)
    elif resource_type in SINGLE_IDENTIFIER_TYPES:
        existing = payload.get("identifier")
        if existing not in (None, entry):
            raise CommitInvalid(f"{resource_type}.identifier is single and already set")
        payload["identifier"] = entry
    else:
        identifiers = payload.setdefault("identifier", [])
        if not isinstance(identifiers, list):
            raise CommitInvalid(f"{resource_type}.identifier must be a list")
        if entry not in identifiers:
            identifiers.append(entry)
    return payload


def local_references(payload: Any) -> frozenset[str]:
    """Every ``urn:uuid:`` value of a ``reference`` element anywhere in the payload."""
    found: set[str] = set()

    def collect(ref: str) -> None:
        found.add(ref)

    _walk_references(payload, collect)
    return frozenset(found)


def resolve_references(payload_json: str, resolved: Mapping[str, str]) -> str:
    """Replace ``urn:uuid:`` references with server references (``"Type/id"``) where known.

    Needed when writes are not sent in one transaction Bundle (the server resolves fullUrls only
    inside a Bundle) and for an amendment whose base was written by an earlier commit.
    Returns canonical JSON; references not in ``resolved`` are left as they are.
    """
    return canonical_json(resolved_payload(payload_json, resolved))


def resolved_payload(payload_json: str, resolved: Mapping[str, str]) -> dict[str, Any]:
    """The payload as a fresh dict, with the references in ``resolved`` replaced (what
    :func:`resolve_references` writes as text)."""
    payload: dict[str, Any] = json.loads(payload_json)
    resolve_in_place(payload, resolved)
    return payload


def resolve_in_place(payload: Any, resolved: Mapping[str, str]) -> frozenset[str]:
    """Replace the ``urn:uuid:`` references in ``resolved`` inside ``payload`` (one walk);
    returns the local references left as they were."""
    left: set[str] = set()

    def visit(ref: str) -> str | None:
        replacement = resolved.get(ref)
        if replacement is None:
            left.add(ref)
        return replacement

    _walk_references(payload, visit)
    return frozenset(left)


def _walk_references(node: Any, visit: Callable[[str], str | None]) -> None:
    """Call ``visit`` on every local reference; a non-None result replaces it in place. Only
    objects and arrays are walked into (a call per scalar was most of its cost, issue 15)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str):
                if key == "reference" and value.startswith(URN_UUID_PREFIX):
                    replacement = visit(value)
                    if replacement is not None:
                        node[key] = replacement
            elif isinstance(value, dict | list):
                _walk_references(value, visit)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict | list):
                _walk_references(item, visit)


def _deep_copy(payload: Mapping[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(canonical_json(dict(payload)))
    return copied
