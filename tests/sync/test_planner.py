"""The pure outbox planner: strategies, requests, reconciliation and next actions (app.sync.planner)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.commit import (
    ApprovedCommit,
    DraftWrite,
    WriteOperation,
    build_commit,
    canonical_json,
)
from app.domain.outbox import OutboxItem, OutboxState, SyncEvent
from app.domain.retry import BackoffPolicy
from app.fhir.profiles import VendorProfile, load_profile
from app.sync.planner import (
    ActionKind,
    CannotSend,
    WriteCapabilities,
    WriteStrategy,
    capabilities_from,
    choose_strategy,
    entry_head,
    next_action,
    plan_send,
)
from app.sync.reconciliation import (
    UpdateOutcome,
    VersionCheck,
    plan_reconcile,
    reconcile_event,
    update_outcome,
)

S, E = OutboxState, SyncEvent
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TYPES = ("DocumentReference", "Observation", "Task", "Provenance", "Communication", "Composition")
ALL_PARAMS = [{"name": n, "type": "token"} for n in ("_id", "_tag", "identifier")]


def capability_statement(
    *,
    transaction: bool = True,
    conditional: tuple[str, ...] = TYPES,
    update_create: bool = False,
    update: bool = True,
    params: list[dict[str, str]] | None = ALL_PARAMS,
    software: str = "test server",
) -> dict[str, Any]:
    resources = []
    for t in TYPES:
        r: dict[str, Any] = {
            "type": t,
            "interaction": [
                {"code": c} for c in ("read", "create", "search-type") + (("update",) * update)
            ],
            "conditionalCreate": t in conditional,
            "updateCreate": update_create,
        }
        if params is not None:
            r["searchParam"] = params
        resources.append(r)
    return {
        "resourceType": "CapabilityStatement",
        "software": {"name": software},
        "rest": [
            {
                "mode": "server",
                "resource": resources,
                "interaction": [{"code": "transaction"}] if transaction else [{"code": "batch"}],
            }
        ],
    }


def caps(profile: str | VendorProfile = "generic-r4", **cs: Any) -> WriteCapabilities:
    p = load_profile(profile) if isinstance(profile, str) else profile
    return capabilities_from(capability_statement(**cs), p)


def note_commit(*, with_provenance: bool = True) -> ApprovedCommit:
    doc = uuid4()
    writes = [
        DraftWrite({"resourceType": "DocumentReference", "status": "current"}, doc),
        DraftWrite({"resourceType": "Observation", "status": "final"}),
    ]
    if with_provenance:
        writes.append(
            DraftWrite({"resourceType": "Provenance", "target": [{"reference": f"urn:uuid:{doc}"}]})
        )
    return build_commit(writes, sequence=1)


def only_note() -> ApprovedCommit:
    return build_commit(
        [DraftWrite({"resourceType": "DocumentReference", "status": "current"})], sequence=1
    )


# ------------------------------------------------------------------ capabilities and strategy


def test_profile_narrows_what_the_server_declares() -> None:
    generic, epic = caps(), caps("epic-like")
    assert generic.transaction and generic.of("Task").conditional_create
    assert not epic.transaction and not epic.of("DocumentReference").conditional_create
    assert not epic.of("Task").create  # declared by the server, forbidden by the profile
    assert epic.of("Task").search  # reading is still fine


def test_server_without_transaction_or_rest() -> None:
    assert not caps(transaction=False).transaction
    empty = capabilities_from({"resourceType": "CapabilityStatement"}, load_profile("generic-r4"))
    assert not empty.transaction and not empty.of("DocumentReference").create
    with pytest.raises(CannotSend, match="does not declare"):
        choose_strategy(only_note(), empty)


@pytest.mark.parametrize(
    ("profile", "kwargs", "commit", "strategy"),
    [
        ("generic-r4", {}, note_commit, WriteStrategy.TRANSACTION_IF_NONE_EXIST),
        (
            "generic-r4",
            {"conditional": ("DocumentReference",)},
            note_commit,
            WriteStrategy.TRANSACTION,
        ),
        ("generic-r4", {"transaction": False}, note_commit, WriteStrategy.CONDITIONAL_CREATE),
        (
            "generic-r4",
            {"transaction": False, "conditional": ()},
            note_commit,
            WriteStrategy.CREATE_THEN_READ_BACK,
        ),
        ("epic-like", {}, only_note, WriteStrategy.CREATE_THEN_READ_BACK),
        ("oracle-like", {}, note_commit, WriteStrategy.CREATE_THEN_READ_BACK),
    ],
)
def test_strongest_strategy_allowed(
    profile: str, kwargs: dict[str, Any], commit: Any, strategy: WriteStrategy
) -> None:
    assert choose_strategy(commit(), caps(profile, **kwargs)) is strategy


def test_put_to_client_id_only_where_the_profile_allows() -> None:
    commit = only_note()
    no_conditional: dict[str, Any] = {
        "transaction": False,
        "conditional": (),
        "update_create": True,
    }
    assert choose_strategy(commit, caps(**no_conditional)) is WriteStrategy.CREATE_THEN_READ_BACK
    permissive = dataclasses.replace(load_profile("generic-r4"), client_assigned_ids=True)
    c = caps(permissive, **no_conditional)
    assert choose_strategy(commit, c) is WriteStrategy.PUT_CLIENT_ID
    (request,) = plan_send(commit, c).requests
    write = commit.writes[0]
    assert (request.method, request.url) == ("PUT", f"DocumentReference/{write.client_id}")
    assert json.loads(request.body)["id"] == write.client_id


def test_epic_like_refuses_provenance_and_tasks() -> None:
    with pytest.raises(CannotSend, match="does not allow writing Observation"):
        plan_send(note_commit(), caps("epic-like"))


# ------------------------------------------------------------------ send plans


def test_transaction_bundle_with_if_none_exist_per_entry() -> None:
    commit = note_commit()
    plan = plan_send(commit, caps())
    assert plan.strategy is WriteStrategy.TRANSACTION_IF_NONE_EXIST and not plan.complete
    (request,) = plan.requests
    assert (request.method, request.url, request.positions) == ("POST", "", (0, 1, 2))
    bundle = json.loads(request.body)
    assert bundle["type"] == "transaction"
    for entry, write in zip(bundle["entry"], commit.writes, strict=True):
        assert entry["fullUrl"] == write.full_url
        assert entry["request"] == {
            "method": "POST",
            "url": write.resource_type,
            "ifNoneExist": write.if_none_exist,
        }
        assert entry["resource"] == write.payload()
    # the Provenance keeps pointing at the note's fullUrl: the server resolves it in the Bundle
    assert bundle["entry"][2]["resource"]["target"] == [{"reference": commit.writes[0].full_url}]


def test_transaction_marks_only_declared_types_conditional() -> None:
    (request,) = plan_send(note_commit(), caps(conditional=("DocumentReference",))).requests
    entries = json.loads(request.body)["entry"]
    assert ["ifNoneExist" in e["request"] for e in entries] == [True, False, False]


def test_transaction_after_partial_success_sends_only_the_rest() -> None:
    commit = note_commit()
    resolved = {commit.writes[0].full_url: "DocumentReference/srv-1"}
    plan = plan_send(commit, caps(), resolved)
    assert plan.remaining == (1, 2)
    entries = json.loads(plan.requests[0].body)["entry"]
    assert [e["fullUrl"] for e in entries] == [commit.writes[1].full_url, commit.writes[2].full_url]
    assert entries[1]["resource"]["target"] == [{"reference": "DocumentReference/srv-1"}]


def test_per_resource_sends_in_dependency_order() -> None:
    commit = note_commit()
    c = caps(transaction=False)
    first = plan_send(commit, c)
    assert [r.positions for r in first.requests] == [(0,), (1,)]  # Provenance waits for the note
    assert all(
        ("If-None-Exist", commit.writes[r.positions[0]].if_none_exist) in r.headers
        for r in first.requests
    )
    resolved = {
        commit.writes[0].full_url: "DocumentReference/d1",
        commit.writes[1].full_url: "Observation/o1",
    }
    second = plan_send(commit, c, resolved)
    (prov,) = second.requests
    assert prov.positions == (2,) and prov.url == "Provenance"
    assert json.loads(prov.body)["target"] == [{"reference": "DocumentReference/d1"}]
    resolved[commit.writes[2].full_url] = "Provenance/p1"
    assert plan_send(commit, c, resolved).complete


def test_plain_create_is_read_back() -> None:
    (request,) = plan_send(only_note(), caps("epic-like")).requests
    assert request.read_back and request.strategy is WriteStrategy.CREATE_THEN_READ_BACK
    assert not any(name == "If-None-Exist" for name, _ in request.headers)


def test_amendment_needs_its_base_resolved() -> None:
    base = only_note()
    amendment = build_commit(
        [
            DraftWrite(
                {
                    "resourceType": "DocumentReference",
                    "relatesTo": [
                        {"code": "replaces", "target": {"reference": base.writes[0].full_url}}
                    ],
                }
            )
        ],
        sequence=2,
        depends_on=[base.commit_id],
    )
    with pytest.raises(CannotSend, match="not reached the EHR"):
        plan_send(amendment, caps())
    plan = plan_send(amendment, caps(), {base.writes[0].full_url: "DocumentReference/base-1"})
    entry = json.loads(plan.requests[0].body)["entry"][0]
    assert entry["resource"]["relatesTo"][0]["target"]["reference"] == "DocumentReference/base-1"


def test_plans_are_deterministic() -> None:
    commit = note_commit()
    assert plan_send(commit, caps()) == plan_send(commit, caps())


# ------------------------------------------------------------------ reconciliation


def test_reconcile_searches_each_unknown_write_by_its_identifier() -> None:
    commit = note_commit()
    searches = plan_reconcile(commit, caps(), {commit.writes[1].full_url: "Observation/o1"})
    assert [(s.resource_type, s.position) for s in searches] == [
        ("DocumentReference", 0),
        ("Provenance", 2),
    ]
    assert searches[0].params == (commit.writes[0].search_param,)
    assert searches[1].params[0][0] == "_tag"


def test_undeclared_search_parameter_is_not_trusted() -> None:
    """The peer EHR answers an unknown parameter with zero results: that must not read as 'absent'."""
    c = caps(params=[{"name": "_id", "type": "token"}, {"name": "identifier", "type": "token"}])
    assert not c.can_reconcile(note_commit())  # Provenance needs _tag
    with pytest.raises(CannotSend, match="cannot be searched for Provenance"):
        plan_reconcile(note_commit(), c)
    assert c.can_reconcile(only_note())
    assert caps(params=None).can_reconcile(note_commit())  # nothing listed: the profile decides


def test_system_level_search_params_count_for_every_type() -> None:
    cs = capability_statement(params=[{"name": "identifier", "type": "token"}])
    cs["rest"][0]["searchParam"] = [{"name": "_tag", "type": "token"}]
    c = capabilities_from(cs, load_profile("generic-r4"))
    assert c.of("Provenance").search_params == {"identifier", "_tag"}
    assert c.can_reconcile(note_commit())


@pytest.mark.parametrize(
    ("matches", "event"),
    [
        ({0: 1, 1: 1, 2: 1}, E.RECONCILED_PRESENT),
        ({0: 0, 1: 0, 2: 0}, E.RECONCILED_ABSENT),
        ({0: 1, 1: 0, 2: 0}, E.RECONCILED_PARTIAL),
        ({0: 2, 1: 1, 2: 1}, E.DUPLICATES_FOUND),
    ],
)
def test_reconcile_event(matches: dict[int, int], event: SyncEvent) -> None:
    assert reconcile_event(note_commit(), matches) is event


def test_reconcile_event_counts_resolved_writes_and_needs_all_results() -> None:
    commit = note_commit()
    resolved = {commit.writes[0].full_url: "DocumentReference/d"}
    assert reconcile_event(commit, {1: 1, 2: 1}, resolved) is E.RECONCILED_PRESENT
    assert reconcile_event(commit, {1: 0, 2: 0}, resolved) is E.RECONCILED_PARTIAL
    with pytest.raises(ValueError):
        reconcile_event(commit, {1: 1}, resolved)


# ------------------------------------------------------------------ next action


def action(
    state: OutboxState,
    commit: ApprovedCommit | None = None,
    c: WriteCapabilities | None = None,
    now: datetime = NOW,
    **kwargs: Any,
) -> Any:
    commit = commit or note_commit()
    item = OutboxItem(commit.commit_id, commit.sequence, state, **kwargs)
    return next_action(item, commit, c or caps(), now)


@pytest.mark.parametrize(
    ("state", "kind"),
    [
        (S.WAITING_FOR_BASE, ActionKind.NOTHING),
        (S.QUEUED, ActionKind.SEND),
        (S.SENDING, ActionKind.NOTHING),
        (S.RETRY_WAIT, ActionKind.SEND),
        (S.UNKNOWN_OUTCOME, ActionKind.RECONCILE),
        (S.PAUSED_FOR_SIGN_IN, ActionKind.ASK_USER),
        (S.NEEDS_ATTENTION, ActionKind.ASK_USER),
        (S.CONFLICT, ActionKind.ASK_USER),
        (S.CONFIRMED, ActionKind.NOTHING),
        (S.DISCARDED, ActionKind.NOTHING),
    ],
)
def test_next_action_per_state(state: OutboxState, kind: ActionKind) -> None:
    result = action(state)
    assert result.kind is kind and result.reason


def test_wait_until_the_next_attempt() -> None:
    later = NOW + timedelta(seconds=40)
    assert action(S.RETRY_WAIT, next_attempt_at=later).until == later
    assert action(S.RETRY_WAIT, next_attempt_at=later).kind is ActionKind.WAIT
    assert action(S.UNKNOWN_OUTCOME, next_attempt_at=later).kind is ActionKind.WAIT
    assert action(S.RETRY_WAIT, next_attempt_at=later, now=later).kind is ActionKind.SEND


def test_a_wall_clock_jumped_backwards_does_not_park_the_commit() -> None:
    policy = BackoffPolicy()
    far = NOW + policy.max_retry_after + timedelta(days=2)
    assert action(S.RETRY_WAIT, next_attempt_at=far).kind is ActionKind.SEND


def test_unknown_outcome_asks_the_clinician_when_it_cannot_be_checked() -> None:
    assert action(S.PARKED, last_event=E.PERMANENT_REJECTION).kind is ActionKind.ASK_USER
    assert action(S.CHECK_PAUSED_FOR_SIGN_IN).kind is ActionKind.ASK_USER
    assert "Sign in" in action(S.CHECK_PAUSED_FOR_SIGN_IN).reason
    assert action(S.UNKNOWN_OUTCOME, last_event=E.USER_RETRY).kind is ActionKind.RECONCILE
    no_search = caps(params=[{"name": "_id", "type": "token"}])
    assert action(S.UNKNOWN_OUTCOME, c=no_search).kind is ActionKind.ASK_USER


def test_needs_attention_shows_the_server_reason() -> None:
    assert (
        action(S.NEEDS_ATTENTION, last_error="Observation.code: LOINC required").reason
        == "Observation.code: LOINC required"
    )


def test_item_and_commit_must_match() -> None:
    commit = note_commit()
    with pytest.raises(ValueError):
        next_action(OutboxItem(uuid4(), 1, S.QUEUED), commit, caps(), NOW)


# ------------------------------------------------------------------ corrections in place


def correction_commit(
    target: str = "Observation/o-1", if_match: str | None = "4"
) -> ApprovedCommit:
    return build_commit(
        [
            DraftWrite({"resourceType": "DocumentReference", "status": "current"}),
            DraftWrite(
                {"resourceType": "Observation", "status": "corrected"},
                operation=WriteOperation.UPDATE,
                target=target,
                if_match=if_match,
            ),
        ],
        sequence=1,
    )


def test_a_correction_is_a_put_with_if_match_inside_the_transaction() -> None:
    commit = correction_commit()
    (request,) = plan_send(commit, caps()).requests
    entries = json.loads(request.body)["entry"]
    assert entries[0]["request"]["method"] == "POST"
    assert entries[1]["request"] == {
        "method": "PUT",
        "url": "Observation/o-1",
        "ifMatch": 'W/"4"',
    }
    assert entries[1]["resource"]["id"] == "o-1"  # the planner adds the target's id


def test_without_a_transaction_the_correction_goes_first_and_alone() -> None:
    commit = correction_commit()
    first = plan_send(commit, caps(transaction=False))
    (put,) = first.requests
    assert (put.method, put.url, dict(put.headers)["If-Match"]) == (
        "PUT",
        "Observation/o-1",
        'W/"4"',
    )
    assert put.strategy is WriteStrategy.UPDATE_IF_MATCH
    second = plan_send(
        commit, caps(transaction=False), {commit.writes[1].full_url: "Observation/o-1"}
    )
    assert [r.method for r in second.requests] == ["POST"]


def test_a_correction_needs_the_version_aware_update() -> None:
    with pytest.raises(CannotSend, match="correct Observation"):
        choose_strategy(correction_commit(), caps("generic-r4", transaction=False, update=False))
    profile = dataclasses.replace(load_profile("generic-r4"), if_match_update=False)
    with pytest.raises(CannotSend, match="correct Observation"):
        plan_send(correction_commit(), caps(profile))


def test_a_correction_of_a_queued_record_waits_for_its_id_and_takes_its_recorded_version() -> None:
    base_url = f"urn:uuid:{uuid4()}"
    commit = correction_commit(target=base_url, if_match=None)
    with pytest.raises(CannotSend, match="not reached the EHR"):
        plan_send(commit, caps())
    with pytest.raises(CannotSend, match="which version"):
        plan_send(commit, caps(), {base_url: "Observation/o-9"})
    (request,) = plan_send(
        commit, caps(), {base_url: "Observation/o-9"}, {"Observation/o-9": "2"}
    ).requests
    entry = json.loads(request.body)["entry"][1]
    assert entry["request"]["url"] == "Observation/o-9" and entry["request"]["ifMatch"] == 'W/"2"'


def test_a_lost_correction_is_checked_by_reading_its_target() -> None:
    commit = correction_commit()
    checks = plan_reconcile(commit, caps())
    assert isinstance(checks[1], VersionCheck) and checks[1].target.reference == "Observation/o-1"
    write = commit.writes[1]
    mine = {"resourceType": "Observation", "identifier": [dataclasses.asdict(write.identifier)]}
    other = {"resourceType": "Observation", "identifier": []}
    assert update_outcome(write, mine, "5", "4") is UpdateOutcome.APPLIED
    assert update_outcome(write, other, "4", "4") is UpdateOutcome.NOT_APPLIED
    assert update_outcome(write, other, "5", "4") is UpdateOutcome.CHANGED_BY_OTHERS
    assert reconcile_event(commit, {0: 1, 1: 1}) is E.RECONCILED_PRESENT
    assert reconcile_event(commit, {0: 1, 1: 0}) is E.RECONCILED_PARTIAL
    assert reconcile_event(commit, {0: 1}, changed=frozenset({1})) is E.CHANGED_BY_OTHERS


def test_the_transaction_text_is_canonical_json_with_the_approved_payloads_in_it() -> None:
    """The Bundle is written as text around the approved payloads (issue 15): it must be the
    same text ``canonical_json`` makes of the Bundle, whether a payload went in as approved,
    with references resolved, or with a correction's target id."""
    base = only_note()
    amendment = build_commit(
        [
            DraftWrite(
                {
                    "resourceType": "DocumentReference",
                    "description": "Größe «ü» \u2028",
                    "relatesTo": [
                        {"code": "replaces", "target": {"reference": base.writes[0].full_url}}
                    ],
                }
            ),
            DraftWrite({"resourceType": "Observation", "valueQuantity": {"value": 1.5}}),
        ],
        sequence=2,
        depends_on=[base.commit_id],
    )
    commit = note_commit()
    plans = [
        plan_send(commit, caps()),
        plan_send(commit, caps(conditional=("Observation",))),
        plan_send(commit, caps(), {commit.writes[0].full_url: "DocumentReference/srv-1"}),
        plan_send(correction_commit(), caps()),
        plan_send(amendment, caps(), {base.writes[0].full_url: "DocumentReference/base-1"}),
    ]
    for plan in plans:
        (request,) = plan.requests
        assert request.body == canonical_json(json.loads(request.body))
    untouched = json.loads(plans[0].requests[0].body)["entry"]
    assert [canonical_json(e["resource"]) for e in untouched] == [
        w.payload_json for w in commit.writes
    ]


@given(
    st.text(),
    st.dictionaries(st.sampled_from(["method", "url", "ifNoneExist", "ifMatch"]), st.text()),
)
def test_an_entrys_head_is_its_canonical_json(full_url: str, request: dict[str, str]) -> None:
    """Issue 15: the head of a transaction entry is written without ``json.dumps``; it must
    be the same text, whatever the strings hold (quotes, controls, non-ASCII, U+2028)."""
    assert entry_head(full_url, request) == canonical_json(
        {"fullUrl": full_url, "request": request}
    )
