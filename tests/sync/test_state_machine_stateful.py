"""Hypothesis stateful model of the sync engine's pure core against a simulated FHIR server.

The machine approves and amends commits, runs sync steps in which any request can fail in every
way a real network and EHR fail (refused, dropped before or after the server committed, read
timeout, truncated body, 500 after commit, 503/429 with Retry-After, 401, 400, 409/412), crashes
the "process" (in-memory state dropped, durable store kept — also in the middle of a send),
edits resources on the server behind the app's back, and jumps the wall clock.

The runner here is a reference implementation of the async runner's loop built only on the pure
core (app.domain.outbox, app.sync.planner); the real runner must behave the same way.

The clinician also corrects structured items of an earlier note (a follow-up commit whose
Observation write is an update with If-Match, of a base that is confirmed or still queued).

Invariants, after every step:
- no approved commit is lost: every one is in the durable store, and a CONFIRMED one has every
  write on the server with its server id recorded;
- none is written twice: the server never holds two resources with the same write identifier;
- no update is applied twice: the server applied each correction at most once, and never
  received it again once it had applied it (a lost answer is checked by reading the record);
- states only move along the transition table (every persisted change is checked).
At the end the faults stop, the clinician clears what asks for them, and everything that was
not discarded must reach CONFIRMED (liveness).
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from enum import Enum
from typing import Any
from uuid import UUID, uuid4

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from app.domain.commit import (
    IDENTIFIER_SYSTEM,
    ApprovedCommit,
    DraftWrite,
    WriteOperation,
    build_commit,
)
from app.domain.outbox import (
    SIGN_IN_STATES,
    TRANSITIONS,
    UNKNOWN_STATES,
    IllegalTransition,
    NetworkErrorKind,
    OutboxItem,
    OutboxState,
    SyncEvent,
    advance,
    allowed_events,
    classify_response,
    new_item,
    recover_after_restart,
)
from app.domain.retry import parse_retry_after
from app.fhir.profiles import load_profile
from app.sync.planner import (
    ActionKind,
    CannotSend,
    PlannedRequest,
    WriteCapabilities,
    capabilities_from,
    next_action,
    plan_send,
)
from app.sync.reconciliation import (
    SearchRequest,
    UpdateOutcome,
    plan_reconcile,
    reconcile_event,
    update_outcome,
)

S, E = OutboxState, SyncEvent
START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
WRITABLE = ("DocumentReference", "Observation", "Task", "Provenance")


class Fault(Enum):
    NONE = "none"
    REFUSED = "refused"  # connection refused: nothing sent
    DROP_BEFORE = "drop_before"  # sent, server never processed it, connection dropped
    DROP_AFTER = "drop_after"  # server committed, response lost
    READ_TIMEOUT = "read_timeout"  # server committed, no answer in time
    TRUNCATED = "truncated"  # server committed, 2xx status line, body cut off
    E500_AFTER = "500_after"  # server committed, then answered 500
    E503 = "503"  # with Retry-After seconds
    E503_DATE = "503_date"  # with Retry-After as an HTTP-date
    E503_ODD = "503_odd"  # with a Retry-After that is no HTTP value ("²": ignored, backoff)
    E429 = "429"
    E401 = "401"  # access token expired (a refresh fixes it)
    SIGNED_OUT = "signed_out"  # refresh token gone too: 401 until the clinician signs in
    E400 = "400"  # the server refuses this request
    E409 = "409"


COMMITTING = {Fault.DROP_AFTER, Fault.READ_TIMEOUT, Fault.TRUNCATED, Fault.E500_AFTER}
faults = st.sampled_from([f for f in Fault if f is not Fault.NONE] + [Fault.NONE])
fault_lists = st.lists(faults, min_size=1, max_size=6)


@dataclass
class Response:
    status: int | None
    network_error: NetworkErrorKind | None
    sent: bool
    locations: dict[int, str] = field(default_factory=dict)  # position -> "Type/id"
    retry_after: str | None = None
    versions: dict[int, str] = field(default_factory=dict)  # position -> versionId (ETag)


@dataclass
class SimServer:
    """A FHIR server good enough for the model: atomic transactions, conditional create,
    versions, search by identifier/_tag. Counts how often each write identifier was stored."""

    conditional: bool
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)  # "Type/id" -> resource
    versions: dict[str, int] = field(default_factory=dict)
    signed_out: bool = False
    clock: datetime = START
    next_id: int = 0
    # amendment write identifier token -> base version the clinician amended
    expected_base_version: dict[str, int] = field(default_factory=dict)
    # update write identifier token -> how often the server applied that update
    applied_updates: dict[str, int] = field(default_factory=dict)
    resent_updates: list[str] = field(default_factory=list)  # applied, then received again

    def keys_of(self, resource: dict[str, Any]) -> set[str]:
        tokens = {
            f"{i.get('system')}|{i.get('value')}" for i in _as_list(resource.get("identifier"))
        }
        tokens |= {
            f"{t.get('system')}|{t.get('code')}" for t in resource.get("meta", {}).get("tag", [])
        }
        return {t for t in tokens if t.startswith(IDENTIFIER_SYSTEM)}

    def find(self, token: str) -> list[str]:
        return [ref for ref, res in self.resources.items() if token in self.keys_of(res)]

    def copies(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for res in self.resources.values():
            for token in self.keys_of(res):
                counts[token] = counts.get(token, 0) + 1
        return counts

    def handle(
        self, request: PlannedRequest, fault: Fault, updates: set[str] | None = None
    ) -> Response:
        self.note_resent_updates(updates or set())
        if fault is Fault.REFUSED:
            return Response(None, NetworkErrorKind.CONNECT_FAILED, sent=False)
        if fault is Fault.DROP_BEFORE:
            return Response(None, NetworkErrorKind.CONNECTION_DROPPED, sent=True)
        if fault is Fault.SIGNED_OUT:
            self.signed_out = True
        if fault is Fault.E401 or self.signed_out:
            return Response(401, None, True)
        if fault in (Fault.E503, Fault.E503_DATE, Fault.E503_ODD, Fault.E429):
            after = {
                Fault.E503_DATE: _http_date(self.clock + timedelta(seconds=30)),
                Fault.E503_ODD: "²",
            }.get(fault, "7")
            return Response(503 if fault is not Fault.E429 else 429, None, True, retry_after=after)
        if fault is Fault.E400:
            return Response(400, None, True)
        if fault is Fault.E409:
            return Response(409, None, True)
        status, locations, versions = self.apply(request)
        if status >= 400 or fault is Fault.NONE:
            return Response(status, None, True, locations, versions=versions)
        if fault is Fault.TRUNCATED:
            return Response(status, NetworkErrorKind.TRUNCATED_BODY, True)
        if fault is Fault.E500_AFTER:
            return Response(500, None, True)
        kind = (
            NetworkErrorKind.CONNECTION_DROPPED
            if fault is Fault.DROP_AFTER
            else NetworkErrorKind.READ_TIMEOUT
        )
        return Response(None, kind, True)

    def note_resent_updates(self, updates: set[str]) -> None:
        """``updates``: the identifier tokens of the corrections a request carries."""
        self.resent_updates += sorted(t for t in updates if t in self.applied_updates)

    def apply(self, request: PlannedRequest) -> tuple[int, dict[int, str], dict[int, str]]:
        """Process a write atomically; (status, locations, versions)."""
        body = json.loads(request.body)
        if request.url == "":  # transaction
            entries = [
                (pos, e["resource"], e["request"], e["fullUrl"])
                for pos, e in zip(request.positions, body["entry"], strict=True)
            ]
        else:
            headers = dict(request.headers)
            entry_request = {"method": request.method, "url": request.url}
            if "If-None-Exist" in headers:
                entry_request["ifNoneExist"] = headers["If-None-Exist"]
            if "If-Match" in headers:
                entry_request["ifMatch"] = headers["If-Match"]
            entries = [(request.positions[0], body, entry_request, None)]
        if any(self.conflicts(res) for _, res, _, _ in entries):
            return 412, {}, {}
        for _, _, req, _ in entries:
            if "ifMatch" in req:
                ref = req["url"]
                wanted = req["ifMatch"].removeprefix("W/").strip('"')
                if ref not in self.resources or str(self.versions[ref]) != wanted:
                    return 412, {}, {}
        staged: dict[str, dict[str, Any]] = {}
        locations: dict[int, str] = {}
        by_full_url: dict[str, str] = {}
        for pos, res, req, full_url in entries:
            if_none_exist = req.get("ifNoneExist")
            existing = (
                self.find(if_none_exist.split("=", 1)[1])
                if (if_none_exist and self.conditional)
                else []
            )
            if existing:
                locations[pos] = existing[0]
            else:
                rtype = res["resourceType"]
                if req["method"] == "PUT":
                    ref = req["url"]
                else:
                    self.next_id += 1
                    ref = f"{rtype}/srv-{self.next_id}"
                if "ifMatch" in req:
                    for token in self.keys_of(res) - self.keys_of(self.resources[ref]):
                        self.applied_updates[token] = self.applied_updates.get(token, 0) + 1
                staged[ref] = res
                locations[pos] = ref
            if full_url:
                by_full_url[full_url] = locations[pos]
        for ref, res in staged.items():
            _rewrite(res, by_full_url)  # the server resolves urn:uuid references in a Bundle
            self.resources[ref] = res
            self.versions[ref] = self.versions.get(ref, 0) + 1
        versions = {pos: str(self.versions[ref]) for pos, ref in locations.items()}
        return 201, locations, versions

    def conflicts(self, resource: dict[str, Any]) -> bool:
        for token in self.keys_of(resource):
            expected = self.expected_base_version.get(token)
            if expected is None:
                continue
            target = resource["relatesTo"][0]["target"]["reference"]
            if self.versions.get(target) != expected:
                return True
        return False

    def search(self, token: str, fault: Fault) -> Response:
        if fault in (Fault.REFUSED,):
            return Response(None, NetworkErrorKind.CONNECT_FAILED, sent=False)
        if fault in (Fault.DROP_BEFORE, Fault.DROP_AFTER, Fault.READ_TIMEOUT, Fault.TRUNCATED):
            return Response(None, NetworkErrorKind.READ_TIMEOUT, sent=True)
        if fault is Fault.SIGNED_OUT:
            self.signed_out = True
        if fault is Fault.E401 or self.signed_out:
            return Response(401, None, True)
        if fault in (Fault.E503, Fault.E503_DATE, Fault.E429, Fault.E500_AFTER):
            return Response(503, None, True, retry_after="3")
        if fault in (Fault.E400, Fault.E409):
            return Response(400, None, True)
        found = self.find(token)
        return Response(
            200,
            None,
            True,
            {i: ref for i, ref in enumerate(found)},
            versions={i: str(self.versions[ref]) for i, ref in enumerate(found)},
        )

    def read(self, ref: str, fault: Fault) -> tuple[Response, dict[str, Any] | None]:
        """GET Type/id: (response, the resource with its version) — a lost update's check."""
        response = self.search("", fault)
        if response.status != 200:
            return response, None
        return Response(200, None, True), {
            **self.resources[ref],
            "meta": {"versionId": str(self.versions[ref])},
        }

    def edit(self, ref: str) -> None:
        """Someone else changes a resource (the app's identifiers stay, as in a real EHR)."""
        self.resources[ref] = {
            **self.resources[ref],
            "text": {"status": "generated", "div": "<div>edited</div>"},
        }
        self.versions[ref] += 1


def _as_list(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    return value if isinstance(value, list) else []


def _rewrite(node: Any, mapping: dict[str, str]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "reference" and v in mapping:
                node[k] = mapping[v]
            else:
                _rewrite(v, mapping)
    elif isinstance(node, list):
        for v in node:
            _rewrite(v, mapping)


def _http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=True)


@dataclass
class Stored:
    """What the durable store keeps for one commit (survives crashes)."""

    commit: ApprovedCommit
    item: OutboxItem
    resolved: dict[str, str] = field(default_factory=dict)  # fullUrl -> "Type/id"
    versions: dict[str, str] = field(default_factory=dict)  # "Type/id" -> version recorded


CAPABILITY_VARIANTS = {
    # name: (profile, transaction declared, conditional create declared, writable types)
    "transaction+ifNoneExist": ("generic-r4", True, True, WRITABLE),
    "transaction": ("generic-r4", True, False, WRITABLE),
    "conditional-create": ("generic-r4", False, True, WRITABLE),
    "create+read-back": ("oracle-like", False, False, WRITABLE),
    "epic-like": ("epic-like", False, False, ("DocumentReference",)),
}


def capability_statement(transaction: bool, conditional: bool) -> dict[str, Any]:
    params = [{"name": n, "type": "token"} for n in ("_tag", "identifier")]
    resources = [
        {
            "type": t,
            "interaction": [{"code": c} for c in ("read", "create", "update", "search-type")],
            "versioning": "versioned-update",
            "conditionalCreate": conditional,
            "searchParam": params,
        }
        for t in WRITABLE
    ]
    interactions = [{"code": "transaction"}] if transaction else []
    return {
        "resourceType": "CapabilityStatement",
        "rest": [{"mode": "server", "resource": resources, "interaction": interactions}],
    }


class SyncModel(RuleBasedStateMachine):
    @initialize(variant=st.sampled_from(sorted(CAPABILITY_VARIANTS)), seed=st.integers(0, 2**16))
    def setup(self, variant: str, seed: int) -> None:
        profile, transaction, conditional, writable = CAPABILITY_VARIANTS[variant]
        self.caps: WriteCapabilities = capabilities_from(
            capability_statement(transaction, conditional), load_profile(profile)
        )
        self.writable = writable
        self.server = SimServer(conditional=conditional)
        self.store: dict[UUID, Stored] = {}  # durable
        self.approved: list[UUID] = []  # what the clinician approved (the test's own record)
        self.sequence = 0  # durable counter
        self.rng = random.Random(seed)
        self.now = START
        self.auth_refreshed = False  # in memory only
        self.transitions = 0
        self.updates: list[UUID] = []  # commits that correct an Observation in place

    # ------------------------------------------------------------------ durable store

    def persist(self, stored: Stored, event: SyncEvent, **kwargs: Any) -> None:
        before = stored.item
        after = advance(before, event, now=self.now, rng=self.rng, **kwargs)
        assert TRANSITIONS[(before.state, event)] is after.state
        if before.state is S.CONFIRMED:
            raise AssertionError("a confirmed commit changed state")
        stored.item = after
        self.transitions += 1

    def base_state(self, stored: Stored) -> OutboxState | None:
        states = [self.store[d].item.state for d in stored.commit.depends_on]
        if any(s is S.DISCARDED for s in states):
            return S.DISCARDED
        return S.CONFIRMED if all(s is S.CONFIRMED for s in states) else None

    def base_versions(self, stored: Stored) -> dict[str, str]:
        versions: dict[str, str] = {}
        for dep in stored.commit.depends_on:
            versions.update(self.store[dep].versions)
        return versions

    def release_dependants(self) -> None:
        for stored in self.store.values():
            if stored.item.state is not S.WAITING_FOR_BASE:
                continue
            base = self.base_state(stored)
            if base is S.CONFIRMED:
                for dep in stored.commit.depends_on:
                    stored.resolved.update(self.store[dep].resolved)
                self.persist(stored, E.BASE_CONFIRMED)
            elif base is S.DISCARDED:
                self.persist(stored, E.BASE_DISCARDED, error="The note it amends was discarded.")

    # ------------------------------------------------------------------ clinician

    def approve_commit(self, drafts: list[DraftWrite], depends_on: tuple[UUID, ...] = ()) -> Stored:
        self.sequence += 1
        commit = build_commit(drafts, sequence=self.sequence, depends_on=depends_on)
        pending = any(self.store[d].item.state is not S.CONFIRMED for d in depends_on)
        stored = Stored(commit, new_item(commit, base_pending=pending, now=self.now))
        for dep in depends_on:
            stored.resolved.update(self.store[dep].resolved)
        self.store[commit.commit_id] = stored
        self.approved.append(commit.commit_id)
        return stored

    @rule(observations=st.integers(0, 2), task=st.booleans(), provenance=st.booleans())
    def approve(self, observations: int, task: bool, provenance: bool) -> None:
        doc = uuid4()
        drafts = [DraftWrite({"resourceType": "DocumentReference", "status": "current"}, doc)]
        if "Observation" in self.writable:
            drafts += [
                DraftWrite({"resourceType": "Observation", "status": "final"})
                for _ in range(observations)
            ]
        if task and "Task" in self.writable:
            drafts.append(
                DraftWrite({"resourceType": "Task", "status": "requested", "intent": "order"})
            )
        if provenance and "Provenance" in self.writable:
            drafts.append(
                DraftWrite(
                    {"resourceType": "Provenance", "target": [{"reference": f"urn:uuid:{doc}"}]}
                )
            )
        self.approve_commit(drafts)

    def has_live_commits(self) -> bool:
        return any(self.store[c].item.state is not S.DISCARDED for c in self.approved)

    @precondition(lambda self: self.has_live_commits())
    @rule(index=st.integers(0, 10_000))
    def amend(self, index: int) -> None:
        candidates = [c for c in self.approved if self.store[c].item.state is not S.DISCARDED]
        if not candidates:
            return
        base = self.store[candidates[index % len(candidates)]]
        base_doc = base.commit.writes[0]
        known = base.resolved.get(base_doc.full_url)
        expected = self.server.versions[known] if known else 1
        stored = self.approve_commit(
            [
                DraftWrite(
                    {
                        "resourceType": "DocumentReference",
                        "status": "current",
                        "relatesTo": [
                            {"code": "replaces", "target": {"reference": base_doc.full_url}}
                        ],
                    }
                )
            ],
            depends_on=(base.commit.commit_id,),
        )
        self.server.expected_base_version[stored.commit.writes[0].identifier.token] = expected

    def correctable(self) -> list[tuple[Stored, int]]:
        return [
            (s, w.position)
            for c in self.approved
            if (s := self.store[c]).item.state is not S.DISCARDED
            for w in s.commit.writes
            if w.resource_type == "Observation" and not w.is_update
        ]

    @precondition(lambda self: bool(self.correctable()) and self.caps.of("Observation").update)
    @rule(index=st.integers(0, 10_000))
    def correct(self, index: int) -> None:
        """A follow-up note that corrects an Observation of an earlier note in place: PUT with
        If-Match on the version the clinician saw (the chart's, or — while the earlier note is
        still queued — the one its commit will record)."""
        options = self.correctable()
        base, position = options[index % len(options)]
        obs = base.commit.writes[position]
        known = base.resolved.get(obs.full_url)
        if known is not None:  # in the chart: the clinician saw its current version
            seen = {k: v for k, v in self.server.resources[known].items() if k != "id"}
            target, if_match = known, str(self.server.versions[known])
        else:
            seen, target, if_match = obs.payload(), obs.full_url, None
        seen["status"] = "corrected"
        seen["valueQuantity"] = {"value": index % 200}
        stored = self.approve_commit(
            [
                DraftWrite(
                    {
                        "resourceType": "DocumentReference",
                        "status": "current",
                        "relatesTo": [
                            {
                                "code": "appends",
                                "target": {"reference": base.commit.writes[0].full_url},
                            }
                        ],
                    }
                ),
                DraftWrite(seen, operation=WriteOperation.UPDATE, target=target, if_match=if_match),
            ],
            depends_on=(base.commit.commit_id,),
        )
        self.updates.append(stored.commit.commit_id)

    def ask_user_items(self) -> list[Stored]:
        return [
            s
            for s in self.store.values()
            if next_action(s.item, s.commit, self.caps, self.now).kind is ActionKind.ASK_USER
        ]

    @precondition(lambda self: bool(self.ask_user_items()))
    @rule(index=st.integers(0, 10_000))
    def user_retry(self, index: int) -> None:
        """The clinician presses "Retry" on something that asks for them (never on a conflict:
        resolving one means a new draft)."""
        items = [
            s
            for s in self.ask_user_items()
            if s.item.state is S.NEEDS_ATTENTION or s.item.state in UNKNOWN_STATES
        ]
        if items:
            self.persist(items[index % len(items)], E.USER_RETRY)

    @precondition(lambda self: any(s.item.state is S.CONFLICT for s in self.store.values()))
    @rule(index=st.integers(0, 10_000))
    def resolve_conflict(self, index: int) -> None:
        """The clinician looked at base / chart / mine and discards this version (a new draft
        would carry the merged text)."""
        items = [s for s in self.store.values() if s.item.state is S.CONFLICT]
        if items:
            self.persist(items[index % len(items)], E.USER_DISCARD)
            self.release_dependants()

    def discardable(self) -> list[Stored]:
        return [s for s in self.store.values() if E.USER_DISCARD in allowed_events(s.item.state)]

    @precondition(lambda self: bool(self.discardable()))
    @rule(index=st.integers(0, 10_000))
    def user_discard(self, index: int) -> None:
        """The clinician discards a commit that has not been confirmed (audited in the app)."""
        items = self.discardable()
        self.persist(items[index % len(items)], E.USER_DISCARD)
        self.release_dependants()

    def unverifiable(self) -> list[Stored]:
        return [s for s in self.ask_user_items() if s.item.state in UNKNOWN_STATES]

    @precondition(lambda self: bool(self.unverifiable()))
    @rule(index=st.integers(0, 10_000))
    def user_resend(self, index: int) -> None:
        """The app could not check; the clinician looks in the chart and, finding nothing of
        it there, chooses "Send again"."""
        items = self.unverifiable()
        stored = items[index % len(items)]
        if not any(self.server.find(w.identifier.token) for w in stored.commit.writes):
            self.persist(stored, E.USER_RESEND)

    @precondition(lambda self: self.server.signed_out)
    @rule()
    def sign_in(self) -> None:
        self.server.signed_out = False
        self.auth_refreshed = False
        for s in self.store.values():
            if s.item.state in SIGN_IN_STATES:
                self.persist(s, E.SIGNED_IN)

    # ------------------------------------------------------------------ the world

    @precondition(lambda self: bool(self.server.resources))
    @rule(index=st.integers(0, 10_000), observation=st.booleans())
    def server_side_edit(self, index: int, observation: bool) -> None:
        kind = "Observation/" if observation else "DocumentReference/"
        refs = sorted(r for r in self.server.resources if r.startswith(kind))
        if refs:
            self.server.edit(refs[index % len(refs)])

    @rule(seconds=st.integers(-2 * 86_400, 2 * 86_400))
    def clock_jump(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)
        self.server.clock = self.now

    @precondition(lambda self: bool(self.store))
    @rule()
    def crash(self) -> None:
        """The process dies between steps: memory is gone, the store is not."""
        self.restart()

    def restart(self) -> None:
        self.auth_refreshed = False
        for s in self.store.values():
            recovered = recover_after_restart(s.item, now=self.now, rng=self.rng)
            if recovered is not s.item:
                assert TRANSITIONS[(s.item.state, E.CRASH_RECOVERED)] is recovered.state
                s.item = recovered
        assert all(s.item.state is not S.SENDING for s in self.store.values())

    # ------------------------------------------------------------------ the runner

    def pick(self) -> tuple[Stored, ActionKind] | None:
        waits = []
        for s in sorted(self.store.values(), key=lambda s: s.commit.sequence):
            action = next_action(s.item, s.commit, self.caps, self.now)
            if action.kind is ActionKind.ASK_USER and s.item.state is S.UNKNOWN_OUTCOME:
                # as app.sync.send does: a check the app cannot make is parked for a person
                self.persist(s, E.PERMANENT_REJECTION, error=action.reason)
                continue
            if action.kind in (ActionKind.SEND, ActionKind.RECONCILE):
                return s, action.kind
            if action.kind is ActionKind.WAIT and action.until is not None:
                waits.append(action.until)
        if waits:  # nothing due: time passes until the earliest wait is over
            self.now = max(self.now, min(waits))
            self.server.clock = self.now
        return None

    @precondition(lambda self: bool(self.store))
    @rule(fault_plan=fault_lists, actions=st.integers(1, 6))
    def sync_step(self, fault_plan: list[Fault], actions: int) -> None:
        """Up to ``actions`` runner actions; their requests meet the faults in order."""
        self.sync(fault_plan, actions)

    @precondition(lambda self: bool(self.store))
    @rule(fault_plan=fault_lists, actions=st.integers(1, 6))
    def sync_step_again(self, fault_plan: list[Fault], actions: int) -> None:
        """Same as sync_step: a second rule doubles how often the runner gets to work."""
        self.sync(fault_plan, actions)

    def sync(self, fault_plan: list[Fault], actions: int) -> None:
        plan = list(fault_plan)
        for _ in range(actions):
            picked = self.pick()
            if picked is not None:
                self.run(picked[0], picked[1], plan)
            self.now += timedelta(seconds=1)

    @precondition(lambda self: bool(self.store))
    @rule(fault=faults)
    def crash_during_send(self, fault: Fault) -> None:
        """SENDING is persisted, the request reaches the server (which may commit it), and the
        process dies before it reads the answer."""
        picked = self.pick()
        if picked is None or picked[1] is not ActionKind.SEND:
            return
        stored = picked[0]
        try:
            plan = plan_send(stored.commit, self.caps, stored.resolved, self.base_versions(stored))
        except CannotSend:
            return
        self.persist(stored, E.SEND_STARTED)
        if plan.requests:
            request = plan.requests[0]
            self.server.handle(request, fault, self.updates_in(stored, request))
        self.restart()

    @staticmethod
    def updates_in(stored: Stored, request: PlannedRequest) -> set[str]:
        writes = [stored.commit.writes[p] for p in request.positions]
        return {w.identifier.token for w in writes if w.is_update}

    def fault(self, plan: list[Fault]) -> Fault:
        return plan.pop(0) if plan else Fault.NONE

    def run(self, stored: Stored, kind: ActionKind, plan: list[Fault]) -> None:
        if kind is ActionKind.RECONCILE:
            self.reconcile(stored, plan)
        else:
            self.send(stored, plan)
        if stored.item.state is S.CONFIRMED:
            self.release_dependants()

    def failure(self, stored: Stored, response: Response) -> bool:
        """Apply a failed response; True when the commit is done for this step."""
        event = classify_response(
            response.status,
            response.network_error,
            response.sent,
            auth_refreshed=self.auth_refreshed,
        )
        if event is E.SERVER_ACCEPTED:
            return False
        retry_after = (
            parse_retry_after(response.retry_after, self.now) if response.retry_after else None
        )
        if event is E.AUTH_REFRESH_NEEDED:
            # The runner refreshes the token once; with the refresh token gone it cannot.
            self.auth_refreshed = self.server.signed_out
        error = (
            f"HTTP {response.status}"
            if response.status
            else (response.network_error.value if response.network_error else None)
        )
        self.persist(stored, event, retry_after=retry_after, status=response.status, error=error)
        return True

    def send(self, stored: Stored, plan: list[Fault]) -> None:
        versions = self.base_versions(stored)
        try:
            send_plan = plan_send(stored.commit, self.caps, stored.resolved, versions)
        except CannotSend as exc:
            self.persist(stored, E.CANNOT_SEND, error=str(exc))
            return
        self.persist(stored, E.SEND_STARTED)
        while not send_plan.complete:
            for request in send_plan.requests:
                response = self.server.handle(
                    request, self.fault(plan), self.updates_in(stored, request)
                )
                if self.failure(stored, response):
                    return
                # Trust Location / entry.response: store each server id as it is learnt.
                for pos, ref in response.locations.items():
                    stored.resolved[stored.commit.writes[pos].full_url] = ref
                    if pos in response.versions:
                        stored.versions[ref] = response.versions[pos]
                if request.read_back:
                    (pos,) = request.positions
                    found = self.server.find(stored.commit.writes[pos].identifier.token)
                    assert len(found) == 1, "read-back found a duplicate"
            send_plan = plan_send(stored.commit, self.caps, stored.resolved, versions)
        self.persist(stored, E.SERVER_ACCEPTED, status=201)

    def reconcile(self, stored: Stored, plan: list[Fault]) -> None:
        matches: dict[int, int] = {}
        changed: set[int] = set()
        checks = plan_reconcile(
            stored.commit, self.caps, stored.resolved, self.base_versions(stored)
        )
        for check in checks:
            write = stored.commit.writes[check.position]
            if isinstance(check, SearchRequest):
                (_, token) = check.params[0]
                response = self.server.search(token, self.fault(plan))
                if self.failure(stored, response):
                    return
                matches[check.position] = len(response.locations)
                if len(response.locations) == 1:
                    stored.resolved[write.full_url] = response.locations[0]
                    stored.versions[response.locations[0]] = response.versions[0]
                continue
            response, current = self.server.read(check.target.reference, self.fault(plan))
            if self.failure(stored, response):
                return
            assert current is not None
            version = current["meta"]["versionId"]
            outcome = update_outcome(write, current, version, check.target.version)
            # the check's verdict must match the chart: "not applied" / "changed by someone
            # else" only when the correction is really not in it (else it would be resent or
            # reported as a conflict although it is in the chart)
            applied = self.server.applied_updates.get(write.identifier.token, 0) > 0
            assert applied is (outcome is UpdateOutcome.APPLIED), (outcome, applied)
            if outcome is UpdateOutcome.CHANGED_BY_OTHERS:
                changed.add(check.position)
            matches[check.position] = int(outcome is UpdateOutcome.APPLIED)
            if outcome is UpdateOutcome.APPLIED:
                stored.resolved[write.full_url] = check.target.reference
                stored.versions[check.target.reference] = version
        event = reconcile_event(stored.commit, matches, stored.resolved, frozenset(changed))
        self.persist(stored, event)

    # ------------------------------------------------------------------ invariants

    @invariant()
    def none_written_twice(self) -> None:
        duplicates = {token: n for token, n in self.server.copies().items() if n > 1}
        assert not duplicates, f"written twice: {duplicates}"

    @invariant()
    def no_update_applied_twice(self) -> None:
        twice = {token: n for token, n in self.server.applied_updates.items() if n > 1}
        assert not twice, f"an update was applied twice: {twice}"
        resent = self.server.resent_updates
        assert not resent, f"an update was sent again after it was applied: {resent}"

    @invariant()
    def no_approved_commit_lost(self) -> None:
        assert set(self.approved) == set(self.store)
        for cid in self.approved:
            stored = self.store[cid]
            assert stored.commit.verify()
            if stored.item.state is S.CONFIRMED:
                for w in stored.commit.writes:
                    ref = stored.resolved.get(w.full_url)
                    assert ref is not None, "confirmed without a server id"
                    assert w.identifier.token in self.server.keys_of(self.server.resources[ref])

    @invariant()
    def sequences_are_local_and_monotonic(self) -> None:
        sequences = [self.store[c].commit.sequence for c in self.approved]
        assert sequences == sorted(set(sequences))

    def teardown(self) -> None:
        """Liveness: once the network heals and the clinician has answered, everything lands."""
        if not hasattr(self, "store"):
            return
        self.sign_in()
        for _ in range(400):
            for s in list(self.store.values()):
                asking = s.item.state is S.NEEDS_ATTENTION or s.item.state in UNKNOWN_STATES
                if asking and self.ask(s):
                    discard = self.base_state(s) is S.DISCARDED
                    self.persist(s, E.USER_DISCARD if discard else E.USER_RETRY)
                elif s.item.state is S.CONFLICT:
                    self.persist(s, E.USER_DISCARD)
                self.release_dependants()
            if all(s.item.state in (S.CONFIRMED, S.DISCARDED) for s in self.store.values()):
                break
            picked = self.pick()
            if picked is not None:
                self.run(picked[0], picked[1], [])
        states = {cid: s.item.state for cid, s in self.store.items()}
        assert all(st in (S.CONFIRMED, S.DISCARDED) for st in states.values()), states
        self.none_written_twice()
        self.no_update_applied_twice()
        self.no_approved_commit_lost()

    def ask(self, stored: Stored) -> bool:
        return (
            next_action(stored.item, stored.commit, self.caps, self.now).kind is ActionKind.ASK_USER
        )


IN_CI = bool(os.environ.get("CI"))
SyncModel.TestCase.settings = settings(
    max_examples=150 if IN_CI else 100,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestSyncModel = SyncModel.TestCase


def test_illegal_transitions_are_refused_by_the_model_too() -> None:
    """The model's persist() goes through advance(): a wrong event cannot slip through."""
    item = OutboxItem(uuid4(), 1, S.CONFIRMED)
    try:
        advance(item, E.SEND_STARTED, now=START, rng=random.Random(0))
    except IllegalTransition:
        return
    raise AssertionError("expected IllegalTransition")
