"""The outbox planner: pure, table-driven decisions for the sync runner. No I/O.

Two questions here, a third beside it:

- :func:`next_action` — what to do with an item now: SEND, RECONCILE (search the write
  identifiers), WAIT until a time, ASK_USER, or NOTHING. One rule per state in :data:`ACTION_RULES`.
- :func:`plan_send` — the requests that write a commit, in the strongest idempotent form the
  server declares *and* the vendor profile allows (:class:`WriteCapabilities`):

  1. one transaction Bundle, each entry a POST with ``ifNoneExist`` where conditional create is
     declared for its type (atomic; idempotent when every entry is conditional);
  2. else per resource: conditional create (``If-None-Exist``);
  3. else PUT to the write's client id, where the profile allows client-assigned ids;
  4. else a plain create followed by a read-back search for the write identifier.

  Writes are sent in dependency order; references to writes the server already has are
  rewritten to their server ids (``resolved``), so the runner calls it again after each round
  until it returns no requests. A write that corrects a resource already in the chart
  (``WriteOperation.UPDATE``) is a PUT of its target with ``If-Match`` on the version the
  clinician saw — inside the transaction, or, without one, in a round of its own before any
  create, so a refused correction (412) leaves nothing of the commit in the chart.
- after an unknown outcome, which checks to run and what they mean: app/sync/reconciliation.py.

A search parameter the server does not declare is never relied on for reconciliation (some
servers, the peer EHR among them, answer an unknown parameter with zero results — which would
look like "absent" and cause a duplicate).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from json.encoder import encode_basestring as _quoted
from typing import Any

from app.domain.capabilities import ServerCapabilities, parse_capabilities
from app.domain.commit import (
    URN_UUID_PREFIX,
    ApprovedCommit,
    PlannedWrite,
    canonical_json,
    resolve_in_place,
)
from app.domain.outbox import STATE_TEXT, OutboxItem, OutboxState
from app.domain.retry import DEFAULT_BACKOFF, BackoffPolicy, is_due
from app.fhir.profiles import CreateResponse, VendorProfile
from app.sync.search_values import Params as SearchParams
from app.sync.search_values import search_params

# ----------------------------------------------------------------------------- capabilities


class CannotSend(Exception):
    """The commit cannot be written to this server as planned (apply ``CANNOT_SEND``)."""


@dataclass(frozen=True)
class TypeCapabilities:
    """What the server declares for one resource type, already narrowed by the vendor profile."""

    create: bool = False
    update_create: bool = False  # PUT to a new client id creates (updateCreate)
    conditional_create: bool = False
    search: bool = False
    search_params: frozenset[str] | None = None  # None: the server lists none
    update: bool = False  # version-aware update (PUT with If-Match) of a resource in the chart
    # search parameters the server requires together (search-parameter-combination extension)
    combinations: tuple[frozenset[str], ...] = ()


@dataclass(frozen=True)
class WriteCapabilities:
    """The effective write features for one site: CapabilityStatement AND vendor profile."""

    profile: VendorProfile
    transaction: bool
    types: Mapping[str, TypeCapabilities] = field(default_factory=dict)
    batch: bool = False  # the server declares batch (searches sent together: chart_basis)

    def of(self, resource_type: str) -> TypeCapabilities:
        return self.types.get(resource_type, TypeCapabilities())

    def can_find(self, write: PlannedWrite) -> bool:
        """Whether a search for the write identifier gives a trustworthy answer (an update is
        found by reading its target, which always is)."""
        if write.is_update:
            return True
        caps = self.of(write.resource_type)
        if not (caps.search and self.profile.identifier_search):
            return False
        name, _ = write.search_param
        # Undeclared parameters may silently match nothing: only trust declared ones; a
        # server that lists no parameters at all is trusted as far as the profile says.
        declared = caps.search_params is None or name in caps.search_params
        return declared and self.search_for(write) is not None

    def search_for(self, write: PlannedWrite) -> SearchParams | None:
        """The search that finds ``write``'s server copy with every parameter the app knows
        and the server allows (app/sync/search_values.py); None when none can be built."""
        caps = self.of(write.resource_type)
        return search_params(write, caps.search_params, caps.combinations)

    def can_reconcile(self, commit: ApprovedCommit) -> bool:
        return all(self.can_find(w) for w in commit.writes)


def capabilities_from(
    capability_statement: Mapping[str, Any] | ServerCapabilities, profile: VendorProfile
) -> WriteCapabilities:
    """Summarise a CapabilityStatement (JSON, or as app.domain.capabilities read it) for
    writing, within what ``profile`` allows.

    Search parameters declared for all types (``rest.searchParam``, e.g. ``_tag`` on the
    sandbox) count for every type that lists its own: without them a Provenance (matched by
    ``_tag``) could never be reconciled on a server that lists ``_tag`` only at system level.
    """
    server = (
        capability_statement
        if isinstance(capability_statement, ServerCapabilities)
        else parse_capabilities(capability_statement)
    )
    common = server.system_search_params
    types: dict[str, TypeCapabilities] = {}
    for name, declared in server.types.items():
        writable = profile.may_write(name)
        creates = declared.supports("create")
        params = declared.search_params
        types[name] = TypeCapabilities(
            create=writable and creates,
            update_create=writable
            and profile.client_assigned_ids
            and declared.supports("update")
            and declared.update_create,
            conditional_create=writable
            and profile.conditional_create
            and creates
            and declared.conditional_create,
            search=declared.supports("search-type"),
            search_params=params | common if params else None,
            combinations=declared.search_combinations,
            update=writable
            and profile.if_match_update
            and declared.supports("update")
            and declared.versioning != "no-version",
        )
    return WriteCapabilities(
        profile,
        transaction=profile.transaction and server.transaction,
        types=types,
        batch=server.batch,
    )


# ----------------------------------------------------------------------------- strategies


class WriteStrategy(Enum):
    """Strongest first. A commit is only as idempotent as its weakest write."""

    TRANSACTION_IF_NONE_EXIST = "transaction+ifNoneExist"  # atomic and idempotent
    TRANSACTION = "transaction"  # atomic; after a lost answer, reconcile before resending
    CONDITIONAL_CREATE = "conditional-create"  # idempotent per resource
    PUT_CLIENT_ID = "put-client-id"  # idempotent per resource (update-as-create)
    CREATE_THEN_READ_BACK = "create+read-back"  # neither: reconcile, and read back after success
    # A correction of a resource already in the chart: PUT with If-Match. Not a commit-level
    # strategy (a follow-up always creates its note too): the strategy of its requests.
    UPDATE_IF_MATCH = "update+if-match"


def write_strategy(resource_type: str, caps: WriteCapabilities) -> WriteStrategy:
    """Per-resource strategy when no transaction is used. Raises :class:`CannotSend`."""
    if not caps.profile.may_write(resource_type):
        raise CannotSend(
            f"The {caps.profile.display_name} profile does not allow writing {resource_type}."
        )
    t = caps.of(resource_type)
    if t.conditional_create:
        return WriteStrategy.CONDITIONAL_CREATE
    if t.update_create:
        return WriteStrategy.PUT_CLIENT_ID
    if t.create:
        return WriteStrategy.CREATE_THEN_READ_BACK
    raise CannotSend(f"The EHR does not declare that it accepts new {resource_type} resources.")


def choose_strategy(commit: ApprovedCommit, caps: WriteCapabilities) -> WriteStrategy:
    """The commit-level strategy (for display, audit and the benchmark report): that of its
    creates; its updates (corrections in place) need the version-aware update."""
    for t in sorted(commit.resource_types):
        if not caps.profile.may_write(t):
            raise CannotSend(f"The {caps.profile.display_name} profile does not allow writing {t}.")
    for t in sorted({w.resource_type for w in commit.writes if w.is_update}):
        if not caps.of(t).update:
            raise CannotSend(f"The EHR does not let this app correct {t} resources in place.")
    created = {w.resource_type for w in commit.writes if not w.is_update}
    if caps.transaction and all(caps.of(t).create for t in created):
        if all(caps.of(t).conditional_create for t in created):
            return WriteStrategy.TRANSACTION_IF_NONE_EXIST
        return WriteStrategy.TRANSACTION
    if not created:
        return WriteStrategy.UPDATE_IF_MATCH
    order = list(WriteStrategy)
    return max((write_strategy(t, caps) for t in created), key=order.index)


@dataclass(frozen=True)
class PlannedRequest:
    """One HTTP request of a send. ``url`` is relative to the FHIR base ("" = the base)."""

    method: str
    url: str
    body: str
    headers: tuple[tuple[str, str], ...]
    positions: tuple[int, ...]  # the commit's writes this request carries
    strategy: WriteStrategy
    # After a 2xx, search the identifier to confirm a plain create (and learn its id when the
    # answer had no Location).
    read_back: bool = False


@dataclass(frozen=True)
class SendPlan:
    strategy: WriteStrategy
    requests: tuple[PlannedRequest, ...]  # independent: may be sent concurrently
    remaining: tuple[int, ...]  # positions not yet on the server (including these requests)

    @property
    def complete(self) -> bool:
        """Nothing left to send: every write has a server id (apply ``SERVER_ACCEPTED``)."""
        return not self.remaining


PREFER_REPRESENTATION = ("Prefer", "return=representation")
PREFER_MINIMAL = ("Prefer", "return=minimal")


def _prefer(profile: VendorProfile) -> tuple[str, str]:
    """Ask for what the vendor answers a create with (``create_response``): a representation
    (its copy saves the read-back request) or the Location alone (then read back by id)."""
    if profile.create_response is CreateResponse.LOCATION_ONLY:
        return PREFER_MINIMAL
    return PREFER_REPRESENTATION


FHIR_JSON = ("Content-Type", "application/fhir+json")


def plan_send(
    commit: ApprovedCommit,
    caps: WriteCapabilities,
    resolved: Mapping[str, str] | None = None,
    versions: Mapping[str, str] | None = None,
    *,
    strategy: WriteStrategy | None = None,
) -> SendPlan:
    """The next requests for ``commit``. ``resolved`` maps fullUrls (``urn:uuid:...``) of writes
    the server already has — of this commit or of its base — to ``"Type/id"``; ``versions``
    maps ``"Type/id"`` of a base commit's writes to the version it recorded (the ``If-Match``
    of an update whose approval left it to the base: ``PlannedWrite.if_match`` None).

    Raises :class:`CannotSend` when the profile or server does not allow a write, or when a
    reference to another commit (an amendment's base) is not resolved yet. ``strategy``: what
    :func:`choose_strategy` said for this commit, when the caller asked it already.
    """
    known = dict(resolved or {})
    if strategy is None:
        strategy = choose_strategy(commit, caps)
    remaining = tuple(w.position for w in commit.writes if w.full_url not in known)
    own = {w.full_url for w in commit.writes}
    # position -> the payload with its known references resolved, each read once (issue 15);
    # None: nothing in it changes, its approved (canonical) text is sent as it is
    bodies: dict[int, dict[str, Any] | None] = {}
    for p in remaining:
        w = commit.writes[p]
        refs = w.local_references
        external = {r for r in refs if r not in known} - own
        if w.is_update and w.target is not None and w.target.startswith(URN_UUID_PREFIX):
            external |= {w.target} - known.keys()
        if external:
            raise CannotSend("It refers to a note that has not reached the EHR yet.")
        bodies[p] = None
        if w.is_update or any(r in known for r in refs):
            bodies[p] = w.payload()
            resolve_in_place(bodies[p], known)
    if not remaining:
        return SendPlan(strategy, (), ())
    targets = {p: update_target(commit.writes[p], known, versions) for p in remaining}
    if strategy in (WriteStrategy.TRANSACTION_IF_NONE_EXIST, WriteStrategy.TRANSACTION):
        return SendPlan(
            strategy, (_transaction(commit, caps, bodies, strategy, targets),), remaining
        )
    ready = [
        commit.writes[p]
        for p in remaining
        if all(commit.writes[d].full_url in known for d in commit.writes[p].depends_on)
    ]
    if any(w.is_update for w in ready):  # corrections first, on their own: see the docstring
        ready = [w for w in ready if w.is_update]
    requests = tuple(
        _single(w, caps, bodies[w.position] or w.payload(), targets[w.position]) for w in ready
    )
    return SendPlan(strategy, requests, remaining)


@dataclass(frozen=True)
class UpdateTarget:
    """Where an update goes and on which version: ``reference`` ``"Type/id"``, ``version``."""

    reference: str
    version: str

    @property
    def if_match(self) -> str:
        return f'W/"{self.version}"'

    @property
    def resource_id(self) -> str:
        return self.reference.partition("/")[2]


def update_target(
    write: PlannedWrite, known: Mapping[str, str], versions: Mapping[str, str] | None = None
) -> UpdateTarget | None:
    """The resolved target and version of an update (None for a create). Raises
    :class:`CannotSend` when the target is not in the chart yet or its version is unknown."""
    if not write.is_update or write.target is None:
        return None
    reference = known.get(write.target, write.target)
    if reference.startswith(URN_UUID_PREFIX):
        raise CannotSend("It corrects a record that has not reached the EHR yet.")
    version = write.if_match or (versions or {}).get(reference)
    if not version:
        raise CannotSend(
            f"The app does not know which version of the chart's {write.resource_type} was "
            "corrected, so it cannot correct it safely. Discard this and start again from the chart."
        )
    return UpdateTarget(reference, version)


def _transaction(
    commit: ApprovedCommit,
    caps: WriteCapabilities,
    bodies: Mapping[int, dict[str, Any] | None],
    strategy: WriteStrategy,
    targets: Mapping[int, UpdateTarget | None],
) -> PlannedRequest:
    """``bodies``: position -> resolved payload of each write still to send (in order), None
    for one sent as approved. The Bundle's text is canonical JSON, as ``canonical_json`` of
    the Bundle would write it; an unchanged payload's approved text (canonical already) is
    put in as it is, not read and written again (issue 15)."""
    entries = []
    for p, body in bodies.items():
        w = commit.writes[p]
        target = targets.get(p)
        request: dict[str, str]
        if target is not None:
            assert body is not None  # an update's body carries the target's id
            body["id"] = target.resource_id
            request = {"method": "PUT", "url": target.reference, "ifMatch": target.if_match}
        else:
            request = {"method": "POST", "url": w.resource_type}
            if caps.of(w.resource_type).conditional_create:
                request["ifNoneExist"] = w.if_none_exist
        resource = w.payload_json if body is None else canonical_json(body)
        # sorted keys: "fullUrl" < "request" < "resource", so the resource closes the entry
        entries.append(f'{entry_head(w.full_url, request)[:-1]},"resource":{resource}}}')
    return PlannedRequest(
        "POST",
        "",
        '{"entry":[' + ",".join(entries) + '],"resourceType":"Bundle","type":"transaction"}',
        (FHIR_JSON, _prefer(caps.profile)),
        tuple(bodies),
        strategy,
    )


def entry_head(full_url: str, request: Mapping[str, str]) -> str:
    """``canonical_json({"fullUrl": full_url, "request": request})``, written directly: every
    value is a string (issue 15: ``json.dumps`` with sorted keys cost twice as much, five
    times per commit)."""
    fields = ",".join(f"{_quoted(k)}:{_quoted(v)}" for k, v in sorted(request.items()))
    return f'{{"fullUrl":{_quoted(full_url)},"request":{{{fields}}}}}'


def _single(
    w: PlannedWrite,
    caps: WriteCapabilities,
    body: dict[str, Any],
    target: UpdateTarget | None = None,
) -> PlannedRequest:
    """``body``: the write's payload with its references resolved (this request's own)."""
    headers = [FHIR_JSON, _prefer(caps.profile)]
    if target is not None:
        body["id"] = target.resource_id
        return PlannedRequest(
            "PUT",
            target.reference,
            canonical_json(body),
            (*headers, ("If-Match", target.if_match)),
            (w.position,),
            WriteStrategy.UPDATE_IF_MATCH,
        )
    strategy = write_strategy(w.resource_type, caps)
    if strategy is WriteStrategy.PUT_CLIENT_ID:
        body["id"] = w.client_id
        return PlannedRequest(
            "PUT",
            f"{w.resource_type}/{w.client_id}",
            canonical_json(body),
            tuple(headers),
            (w.position,),
            strategy,
        )
    if strategy is WriteStrategy.CONDITIONAL_CREATE:
        headers.append(("If-None-Exist", w.if_none_exist))
    return PlannedRequest(
        "POST",
        w.resource_type,
        canonical_json(body),
        tuple(headers),
        (w.position,),
        strategy,
        read_back=strategy is WriteStrategy.CREATE_THEN_READ_BACK,
    )


# ----------------------------------------------------------------------------- next action


class ActionKind(Enum):
    SEND = "send"
    RECONCILE = "reconcile"
    WAIT = "wait"
    ASK_USER = "ask_user"
    NOTHING = "nothing"


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    reason: str  # plain words, no PHI
    until: datetime | None = None  # for WAIT


@dataclass(frozen=True)
class _Context:
    item: OutboxItem
    commit: ApprovedCommit
    caps: WriteCapabilities
    now: datetime
    policy: BackoffPolicy


def _due(ctx: _Context) -> datetime | None:
    """None when the item may act now (app.domain.retry.is_due); else the time to wait for."""
    at = ctx.item.next_attempt_at
    return None if is_due(at, ctx.now, ctx.policy) else at


def _queued(ctx: _Context) -> Action:
    return Action(ActionKind.SEND, "Queued.")


def _retry_wait(ctx: _Context) -> Action:
    until = _due(ctx)
    if until is not None:
        return Action(ActionKind.WAIT, "Waiting before the next attempt.", until)
    return Action(ActionKind.SEND, "Next attempt is due.")


def _unknown(ctx: _Context) -> Action:
    if not ctx.caps.can_reconcile(ctx.commit):
        return Action(
            ActionKind.ASK_USER,
            "The EHR cannot be searched for it. Look in the chart, then send again or discard.",
        )
    until = _due(ctx)
    if until is not None:
        return Action(ActionKind.WAIT, "Waiting before checking whether it arrived.", until)
    return Action(ActionKind.RECONCILE, "Checking whether it arrived.")


def _check_paused(ctx: _Context) -> Action:
    return Action(ActionKind.ASK_USER, "Sign in again so the app can check whether it arrived.")


def _parked(ctx: _Context) -> Action:
    return Action(
        ActionKind.ASK_USER,
        "The EHR refused the check. Look in the chart, then send again or discard.",
    )


def _ask(ctx: _Context) -> Action:
    return Action(ActionKind.ASK_USER, ctx.item.last_error or STATE_TEXT[ctx.item.state].meaning)


def _nothing(ctx: _Context) -> Action:
    return Action(ActionKind.NOTHING, STATE_TEXT[ctx.item.state].meaning)


def _sending(ctx: _Context) -> Action:
    # In flight in this process. After a restart the runner first applies recover_after_restart.
    return Action(ActionKind.NOTHING, "A request is in flight.")


ACTION_RULES: dict[OutboxState, Callable[[_Context], Action]] = {
    OutboxState.WAITING_FOR_BASE: _nothing,
    OutboxState.QUEUED: _queued,
    OutboxState.SENDING: _sending,
    OutboxState.RETRY_WAIT: _retry_wait,
    OutboxState.UNKNOWN_OUTCOME: _unknown,
    OutboxState.CHECK_PAUSED_FOR_SIGN_IN: _check_paused,
    OutboxState.PARKED: _parked,
    OutboxState.PAUSED_FOR_SIGN_IN: _ask,
    OutboxState.NEEDS_ATTENTION: _ask,
    OutboxState.CONFLICT: _ask,
    OutboxState.CONFIRMED: _nothing,
    OutboxState.DISCARDED: _nothing,
}


def next_action(
    item: OutboxItem,
    commit: ApprovedCommit,
    caps: WriteCapabilities,
    now: datetime,
    *,
    policy: BackoffPolicy = DEFAULT_BACKOFF,
) -> Action:
    """What the runner should do with ``item`` at ``now``."""
    if item.commit_id != commit.commit_id:
        raise ValueError("item and commit do not belong together")
    return ACTION_RULES[item.state](_Context(item, commit, caps, now, policy))
