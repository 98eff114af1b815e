"""An outbox with a commit in every state, driven through the store's own transitions.

Shared by the panel tests, the screenshot and benchmarks/bench_outbox_ui.py. Commits are built
with the domain constructors (tests/sync/commits.py); each carries a real review decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from app.domain.clinical import Reference
from app.domain.commit import ApprovedCommit
from app.domain.draft import DraftSource
from app.domain.outbox import OutboxState, SyncEvent
from app.domain.review import (
    AppIdentity,
    ReviewDecision,
    ReviewProvenance,
    ReviewStatus,
    RiskFlag,
    RiskKind,
)
from app.domain.review_codec import decision_to_json
from app.store.outbox import OutboxRepository
from app.store.outbox_records import ConflictDetail, ReadBack, WriteResult
from tests.sync.commits import clinical_commit, note

S, E = OutboxState, SyncEvent
APPROVER = Reference("Practitioner", "prac-1", "Dr. Alice Smith")
PATIENT = Reference("Patient", "pat-1", "Maria Elena Garcia")
ENCOUNTER = Reference("Encounter", "enc-1", "Office visit 2025-03-10")
APPROVED_AT = datetime(2025, 3, 10, 13, 55, tzinfo=UTC)
REFUSAL = "The EHR refused it (422): Observation.valueQuantity: the unit does not fit the code."


def decision_json(
    commit: ApprovedCommit, *, flags: tuple[RiskFlag, ...] = (), patient: Reference = PATIENT
) -> str:
    decision = ReviewDecision(
        decision_id=commit.commit_id,
        draft_id=commit.commit_id,
        status=ReviewStatus.APPROVED,
        approved_by=APPROVER,
        approved_at=APPROVED_AT,
        patient=patient,
        source_encounter=ENCOUNTER,
        destination_types=tuple(w.resource_type for w in commit.writes),
        risk_flags=flags,
        provenance=ReviewProvenance("clinician", True, DraftSource.PREFILLED),
        app=AppIdentity("fhir-writeback", "0.1.0", "exam-room-3"),
        content_sha256="0" * 64,
    )
    return decision_to_json(decision)


def enqueue(
    repo: OutboxRepository, commit: ApprovedCommit, *, flags: tuple[RiskFlag, ...] = ()
) -> ApprovedCommit:
    return repo.enqueue_approval(commit, decision_json(commit, flags=flags))


def confirm(repo: OutboxRepository, commit: ApprovedCommit, read_back: ReadBack) -> None:
    repo.apply(commit.commit_id, E.SEND_STARTED)
    repo.apply(
        commit.commit_id,
        E.SERVER_ACCEPTED,
        results=[
            WriteResult(w.position, f"srv-{w.position}-{commit.sequence}", "1")
            for w in commit.writes
        ],
    )
    note_text = "The EHR dropped the task's due date." if read_back is ReadBack.DIFFERS else None
    repo.record_read_back(commit.commit_id, read_back, note_text)


@dataclass
class EveryState:
    """The commit id for each kind of line the panel shows."""

    ids: dict[str, UUID]

    def __getitem__(self, key: str) -> UUID:
        return self.ids[key]


def fill_every_state(repo: OutboxRepository) -> EveryState:
    """Eleven commits: every state, plus an unknown outcome that waits for a person and a
    confirmed commit whose read-back differs. Returns their ids by name."""
    ids: dict[str, UUID] = {}

    def new(key: str, **kw: object) -> ApprovedCommit:
        flags = kw.pop("flags", ())
        commit = enqueue(repo, clinical_commit(**kw), flags=flags)  # type: ignore[arg-type]
        ids[key] = commit.commit_id
        return commit

    confirmed = new("confirmed")
    confirm(repo, confirmed, ReadBack.MATCHED)
    differs = new("differs")
    confirm(repo, differs, ReadBack.DIFFERS)

    discarded = new("discarded", observations=0)
    repo.discard(
        discarded.commit_id,
        "Duplicate of the note I wrote this morning.",
        "Dr. Alice Smith",
        confirmed=True,
    )

    attention = new(
        "needs_attention",
        flags=(RiskFlag(RiskKind.UNUSUAL_VALUES, "1 value is outside the usual range"),),
    )
    repo.apply(attention.commit_id, E.SEND_STARTED)
    repo.apply(attention.commit_id, E.PERMANENT_REJECTION, status=422, error=REFUSAL)

    base_doc = note("Knee pain for two weeks. Plan: physiotherapy.")
    base_doc["meta"] = {"versionId": "1"}
    chart_doc = note("Knee pain for two weeks. Plan: physiotherapy. MRI ordered by Dr. Lee.")
    chart_doc["meta"] = {"versionId": "2"}
    conflict = new("conflict", replaces="DocumentReference/doc-77", observations=0, task=False)
    repo.apply(conflict.commit_id, E.SEND_STARTED)
    repo.apply(
        conflict.commit_id,
        E.CONFLICT_DETECTED,
        status=412,
        error="Someone changed the chart's note after you started amending it.",
        conflict=ConflictDetail(
            "Someone changed the chart's DocumentReference after you started amending it (you "
            "amended version 1; the chart now has version 2). Nothing was written. Compare the "
            "chart with your version and decide.",
            resource="DocumentReference/doc-77",
            expected_version="1",
            chart_version="2",
            base=base_doc,
            chart=chart_doc,
            mine=conflict.writes[0].payload(),
        ),
    )

    paused = new("paused")
    repo.apply(paused.commit_id, E.SEND_STARTED)
    repo.apply(paused.commit_id, E.SIGN_IN_REQUIRED, status=401, error="Your sign-in has ended.")

    parked = new("parked")
    repo.apply(parked.commit_id, E.SEND_STARTED)
    repo.apply(parked.commit_id, E.OUTCOME_UNKNOWN, error="No answer came back from the EHR.")
    repo.apply(
        parked.commit_id,
        E.PERMANENT_REJECTION,
        status=403,
        error="The EHR refused the search that checks whether it arrived (403).",
    )

    unknown = new("unknown")
    repo.apply(unknown.commit_id, E.SEND_STARTED)
    repo.apply(
        unknown.commit_id,
        E.OUTCOME_UNKNOWN,
        status=502,
        error="The EHR answered 502 Bad Gateway; it may have stored the note.",
    )

    retry = new("retry_wait")
    for _ in range(2):
        repo.apply(retry.commit_id, E.SEND_STARTED)
        repo.apply(
            retry.commit_id, E.NOT_SENT, error="The EHR cannot be reached (connection refused)."
        )

    sending = new("sending")
    repo.apply(sending.commit_id, E.SEND_STARTED)

    queued = new("queued")
    new(
        "waiting_for_base",
        depends_on=[queued.commit_id],
        replaces=f"urn:uuid:{queued.writes[0].write_id}",
    )
    assert repo.item(ids["waiting_for_base"]).state is S.WAITING_FOR_BASE
    return EveryState(ids)
