"""Sending one commit: the I/O half of a sync step, driven by the pure planner.

:class:`CommitSender` does, for one outbox entry, what ``app.sync.planner.next_action`` says:

- SEND: mark SENDING (persisted *before* any request), check the preconditions (the chart
  record an amendment replaces, and every record a correction updates, still has the version
  the clinician saw, else CONFLICT with base / chart / mine kept), then send the planner's
  requests round by round (a 409/412 to a correction keeps the same three copies). Server ids come
  from Location, ETag and ``entry.response`` first, bodies second, an identifier search last.
  Ids learned in a round are stored at once; the last round's ids are stored in the same
  transaction that marks the commit CONFIRMED.
- RECONCILE (after an unknown outcome): search every write identifier, and read the target of
  every correction (it carries the write's identifier: applied; it still has the version the
  app expected: not applied; neither: changed by someone else -> CONFLICT). Present ->
  CONFIRMED with the ids found; absent or partial -> QUEUED and sent again at once (only what
  is missing); duplicates -> NEEDS_ATTENTION. Nothing is ever re-sent before this check, so a
  correction is never applied twice.
- After CONFIRMED: read back what the EHR stored and compare it with what was sent
  (app.sync.verify); a difference is flagged on the commit, never silently accepted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from app.domain.commit import ApprovedCommit, PlannedWrite
from app.domain.outbox import OutboxItem, OutboxState, SyncEvent
from app.fhir.errors import FhirError
from app.smart.errors import SmartError
from app.smart.http_log import prefix, tagged
from app.store.outbox_records import (
    NOT_WRITTEN,
    ConflictDetail,
    OutboxEntry,
    ReadBack,
    WriteRecord,
    WriteResult,
)
from app.store.site_refusals import SiteRefusals
from app.sync.chart_basis import ChartBasisCheck
from app.sync.companions import Companions
from app.sync.conflicts import ConflictChecks
from app.sync.due_queue import SendSlot
from app.sync.planner import (
    ActionKind,
    CannotSend,
    PlannedRequest,
    WriteCapabilities,
    choose_strategy,
    next_action,
    plan_send,
)
from app.sync.reconciliation import (
    SearchRequest,
    UpdateOutcome,
    VersionCheck,
    carries_identifier,
    plan_reconcile,
    reconcile_event,
    refused_check_words,
    update_outcome,
)
from app.sync.store_thread import StoreThread
from app.sync.verify import differences
from app.sync.writer import (
    Failure,
    FhirWriter,
    body_identity,
    classify_error,
    etag_version,
    parse_location,
    unreadable_answer,
    worst,
)

if TYPE_CHECKING:
    from app.store.outbox import OutboxRepository

log = logging.getLogger(__name__)

S, E = OutboxState, SyncEvent


@dataclass
class _Round:
    """What one round of requests brought back."""

    results: list[WriteResult] = field(default_factory=list)
    copies: dict[int, dict[str, Any]] = field(default_factory=dict)  # position -> stored copy
    failures: list[Failure] = field(default_factory=list)


ContactListener = Callable[[bool], None]  # True: the EHR answered; False: it could not be reached


class CommitSender:
    def __init__(
        self,
        store: OutboxRepository,
        writer: FhirWriter,
        caps: WriteCapabilities,
        *,
        clock: Callable[[], datetime],
        on_contact: ContactListener | None = None,
        read_back: bool = True,
        db: StoreThread | None = None,
        refusals: SiteRefusals | None = None,
    ) -> None:
        self._store = store
        self._db = db or StoreThread()
        self._writer = writer
        self._caps = caps
        self._clock = clock
        self._on_contact = on_contact or (lambda _ok: None)
        self._read_back = read_back
        self._conflicts = ConflictChecks(store, writer, self._db, self._on_contact)
        self._companions = Companions(refusals, clock)
        self._basis = ChartBasisCheck(store, writer, caps, self._db, self._on_contact)

    @tagged(lambda _self, entry, _slot=None: f"commit {entry.commit_id}")
    async def process(self, entry: OutboxEntry, slot: SendSlot | None = None) -> OutboxItem:
        """One sync step for ``entry``; returns where the commit stands afterwards. ``slot``
        (the runner's): given back once no request is left, before the outcome is stored."""
        action = next_action(
            entry.item, entry.commit, self._caps, self._clock(), policy=self._store.policy
        )
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s%s: next step %s", prefix(), entry.item.state.value, action.kind.value)
        if action.kind is ActionKind.RECONCILE:
            if slot is not None and not await slot.enter():
                return entry.item  # the pass stopped before its turn: checked next time
            item = await self.reconcile(entry)
            if item.state is not S.QUEUED:
                return item
            entry = await self._db.run(self._store.get, entry.commit_id)
            return await self.send(entry, slot)
        if action.kind is ActionKind.SEND:
            return await self.send(entry, slot)
        if action.kind is ActionKind.ASK_USER and entry.item.state is S.UNKNOWN_OUTCOME:
            # e.g. the EHR cannot be searched for it: PARKED with the reason until a person
            # decides (check again / send again / discard); the runner no longer picks it up.
            return await self._db.run(
                self._store.apply, entry.commit_id, E.PERMANENT_REJECTION, error=action.reason
            )
        return entry.item

    # ------------------------------------------------------------------ send
    async def send(self, entry: OutboxEntry, slot: SendSlot | None = None) -> OutboxItem:
        commit = entry.commit
        cid = commit.commit_id
        # only an amendment has base writes to read (a store call less for every other commit)
        bases = await self._db.run(self._store.base_writes, entry) if commit.depends_on else {}
        resolved = {ref: rec.reference for ref, rec in bases.items() if rec.reference}
        resolved.update(entry.resolved())
        versions = _base_versions(bases)
        try:
            strategy = choose_strategy(commit, self._caps)
        except CannotSend as exc:
            return await self._db.run(
                self._store.apply, cid, E.CANNOT_SEND, expect=entry.item.state, error=str(exc)
            )
        await self._db.run(
            self._store.apply, cid, E.SEND_STARTED, expect=entry.item.state, strategy=strategy.value
        )
        if slot is not None and not await slot.enter():  # nothing was sent: back in the queue
            return await self._db.run(self._store.apply, cid, E.SEND_WITHHELD)
        checked = await self._preconditions(entry, resolved, bases, versions)
        if isinstance(checked, Failure):
            return await self._fail(cid, checked, [])
        if isinstance(checked, ConflictDetail):
            return await self._db.run(
                self._store.apply, cid, E.CONFLICT_DETECTED, error=checked.message, conflict=checked
            )
        copies: dict[int, dict[str, Any]] = {}
        skipped = []
        if self._companions.remembers:
            skipped = await self._db.run(self._companions.skip_known, commit, resolved)
        if skipped:  # refused here before: not sent again
            await self._db.run(self._store.record_writes, cid, skipped)
        while True:
            try:
                plan = plan_send(commit, self._caps, resolved, versions, strategy=strategy)
            except CannotSend as exc:
                return await self._db.run(self._store.apply, cid, E.CANNOT_SEND, error=str(exc))
            if plan.complete:
                item = await self._db.run(self._store.apply, cid, E.SERVER_ACCEPTED)
                break
            if not plan.requests:  # the planner found nothing it may send yet: a bug
                raise RuntimeError(f"commit {cid}: writes remain but none can be sent")
            outcome = await self._round(commit, plan.requests, resolved)
            copies.update(outcome.copies)
            if outcome.failures:
                context = (resolved, versions, bases)
                return await self._round_failed(entry, plan.requests, outcome, context)
            if all(w.full_url in resolved for w in commit.writes):
                # The copies the transaction returned are compared now, and the verdict is
                # stored in the transaction that confirms (one store call less per commit).
                verdict = self._verdict_from(commit, resolved, copies)
                if verdict is not None and slot is not None:
                    slot.release()  # nothing left to ask the EHR: the next commit may start
                item = await self._db.run(
                    self._store.apply,
                    cid,
                    E.SERVER_ACCEPTED,
                    results=outcome.results,
                    read_back=verdict,
                )
                if verdict is not None:
                    return item
                break
            await self._db.run(self._store.record_writes, cid, outcome.results)
        await self._verify(commit, resolved, copies)
        return item

    async def _round(
        self, commit: ApprovedCommit, requests: Sequence[PlannedRequest], resolved: dict[str, str]
    ) -> _Round:
        """Send one round's requests together; the ids learned go into ``resolved``."""
        outcome = _Round()
        if len(requests) == 1:  # the usual transaction: no task to gather (issue 15)
            rounds = [await self._perform(commit, requests[0])]
        else:
            rounds = await asyncio.gather(*(self._perform(commit, r) for r in requests))
        for done in rounds:
            outcome.results += done.results
            outcome.copies.update(done.copies)
            outcome.failures += done.failures
        for r in outcome.results:
            resolved[commit.writes[r.position].full_url] = _reference(commit, r)
        if outcome.failures:
            not_written = await self._db.run(
                self._companions.accept_refusals, commit, requests, rounds, resolved
            )
            if not_written is not None:  # only optional companions refused, the note is in
                outcome.results += not_written
                outcome.failures = []
        return outcome

    async def _round_failed(
        self,
        entry: OutboxEntry,
        requests: tuple[PlannedRequest, ...],
        outcome: _Round,
        context: tuple[dict[str, str], dict[str, str], dict[str, WriteRecord]],
    ) -> OutboxItem:
        """A round with failures: a refused correction is a conflict, anything else a failed
        attempt (the ids learned in the round are stored either way)."""
        cid = entry.commit_id
        failure = worst(outcome.failures)
        refused = await self._conflicts.refused_correction(entry, requests, failure, context)
        if refused is None:
            return await self._fail(cid, failure, outcome.results)
        return await self._db.run(
            self._store.apply,
            cid,
            E.CONFLICT_DETECTED,
            status=failure.status,
            error=refused.message,
            conflict=refused,
            results=outcome.results,
        )

    async def _preconditions(
        self,
        entry: OutboxEntry,
        resolved: dict[str, str],
        bases: dict[str, WriteRecord],
        versions: dict[str, str],
    ) -> Failure | ConflictDetail | None:
        """Before anything is written: the chart an offline approval was based on, then the
        versions the corrections of an earlier note expect (If-Match)."""
        checked = await self._basis.check(entry)
        if checked is None:
            checked = await self._conflicts.check_preconditions(entry, resolved, bases, versions)
        return checked

    async def _perform(self, commit: ApprovedCommit, request: PlannedRequest) -> _Round:
        body = request.body.encode("utf-8")  # the planner's JSON text, sent as it is
        headers = {k: v for k, v in request.headers if k.lower() != "content-type"}
        transaction = request.url == ""
        what = (
            f"a transaction of {len(request.positions)} resources"
            if transaction
            else f"writing a {commit.writes[request.positions[0]].resource_type}"
        )
        try:
            response = await self._writer.request(
                request.method, request.url, content=body, headers=headers, what=what
            )
        except (FhirError, SmartError) as exc:
            failure = classify_error(exc)
            self._on_contact(failure.reached_server)
            return _Round(failures=[failure])
        self._on_contact(True)
        if transaction:
            return _read_transaction(commit, request, response.body, what)
        write = commit.writes[request.positions[0]]
        found = parse_location(response.location, write.resource_type)
        body_id, body_version = body_identity(response.body, write.resource_type)
        if write.is_update:  # the id is the target's, whatever the answer holds
            found = (request.url.partition("/")[2], found[1] if found else None)
        rid = (
            found[0] if found else (body_id or (write.client_id if request.method == "PUT" else ""))
        )
        version = (found[1] if found else None) or etag_version(response.etag) or body_version
        copy = response.body if body_id and body_id == rid else None
        if not rid:
            # 2xx without Location or body: find what the server stored by its identifier.
            located = await self._find_one(write)
            if isinstance(located, Failure):
                return _Round(failures=[located])
            if located is None:
                return _Round(failures=[unreadable_answer(what)])
            rid, version, copy = located
        result = WriteResult(
            write.position,
            rid,
            version,
            etag=response.etag,
            location=response.location,
            response_status=str(response.status),
        )
        return _Round(results=[result], copies={write.position: copy} if copy else {})

    async def _find_one(
        self, write: PlannedWrite
    ) -> tuple[str, str | None, dict[str, Any]] | Failure | None:
        matches = await self._search(write, self._caps.search_for(write) or (write.search_param,))
        if isinstance(matches, Failure) or len(matches) != 1:
            return matches if isinstance(matches, Failure) else None
        rid, version = body_identity(matches[0], write.resource_type)
        return (rid, version, matches[0]) if rid else None

    # ------------------------------------------------------------------ reconcile
    async def reconcile(self, entry: OutboxEntry) -> OutboxItem:
        commit = entry.commit
        cid = commit.commit_id
        bases = await self._db.run(self._store.base_writes, entry)
        resolved = {ref: rec.reference for ref, rec in bases.items() if rec.reference}
        resolved.update(entry.resolved())
        try:
            checks = plan_reconcile(commit, self._caps, resolved, _base_versions(bases))
        except CannotSend:
            return entry.item  # next_action asks the clinician in that case
        found = await asyncio.gather(*(self._check(commit, c) for c in checks))
        failures = [f for f in found if isinstance(f, Failure)]
        if failures:
            failure = worst(failures)
            if failure.event is E.PERMANENT_REJECTION:  # parked: a person looks in the chart
                words = refused_check_words(commit, failure.status, failure.ehr_text)
                failure = replace(failure, error=words)
            return await self._fail(cid, failure, [])
        counts: dict[int, int] = {}
        changed: set[int] = set()
        results: list[WriteResult] = []
        copies: dict[int, dict[str, Any]] = {}
        for check, matches in zip(checks, found, strict=True):
            assert not isinstance(matches, Failure)
            if matches is UpdateOutcome.CHANGED_BY_OTHERS:
                changed.add(check.position)
                continue
            assert isinstance(matches, list)
            counts[check.position] = len(matches)
            if len(matches) == 1:
                write = commit.writes[check.position]
                rid, version = body_identity(matches[0], write.resource_type)
                if rid:
                    results.append(WriteResult(check.position, rid, version))
                    copies[check.position] = matches[0]
                    resolved[write.full_url] = f"{write.resource_type}/{rid}"
        event = reconcile_event(commit, counts, resolved, frozenset(changed))
        error = None
        if event is E.CHANGED_BY_OTHERS:
            error = (
                "Someone changed a chart record this note corrects, and the app cannot tell "
                "whether its correction arrived. Nothing more was sent. Compare the chart with "
                "your version and decide."
            )
            results = []
        if event is E.DUPLICATES_FOUND:
            extra = sorted(commit.writes[p].resource_type for p, n in counts.items() if n > 1)
            error = (
                f"The EHR holds more than one copy of this commit's {', '.join(extra)}. Nothing "
                "more was sent. Look in the chart and remove the extra copy, then discard or "
                "retry."
            )
            results = []  # which copy is "the" one is the clinician's call
        item = await self._db.run(self._store.apply, cid, event, results=results, error=error)
        if item.state is S.CONFIRMED:
            await self._verify(commit, resolved, copies)
        return item

    async def _check(
        self, commit: ApprovedCommit, check: SearchRequest | VersionCheck
    ) -> list[dict[str, Any]] | UpdateOutcome | Failure:
        """A search for a created write (its copies), or a read of a corrected record: [the
        record] when the correction is in it, [] when not, CHANGED_BY_OTHERS."""
        write = commit.writes[check.position]
        if isinstance(check, SearchRequest):
            return await self._search(write, check.params)
        rtype, _, rid = check.target.reference.partition("/")
        try:
            current = await self._writer.read_response(rtype, rid)
        except (FhirError, SmartError) as exc:
            failure = classify_error(exc)
            self._on_contact(failure.reached_server)
            return failure
        self._on_contact(True)
        body = current.body if isinstance(current.body, dict) else {}
        outcome = update_outcome(write, body, current.version_id, check.target.version)
        if outcome is UpdateOutcome.APPLIED:
            return [body]
        return [] if outcome is UpdateOutcome.NOT_APPLIED else outcome

    async def _search(
        self, write: PlannedWrite, params: tuple[tuple[str, str], ...]
    ) -> list[dict[str, Any]] | Failure:
        """The server copies of ``write``: resources that really carry its identifier (a server
        that ignored the search parameter must not make unrelated resources count)."""
        try:
            result = await self._writer.search(write.resource_type, list(params))
        except (FhirError, SmartError) as exc:
            failure = classify_error(exc)
            self._on_contact(failure.reached_server)
            return failure
        self._on_contact(True)
        if result.truncated:
            return Failure(
                SyncEvent.OUTCOME_UNKNOWN,
                "The EHR's answer to the check was too long to be sure; the app will check again.",
            )
        return [r for r in result.resources if carries_identifier(r, write)]

    # ------------------------------------------------------------------ read-back
    async def _verify(
        self,
        commit: ApprovedCommit,
        resolved: Mapping[str, str],
        copies: Mapping[int, dict[str, Any]],
    ) -> None:
        if not self._read_back:
            return

        async def stored(write: PlannedWrite) -> dict[str, Any] | None:
            if write.position in copies:
                return copies[write.position]
            rtype, _, rid = resolved[write.full_url].partition("/")
            try:
                response = await self._writer.read_response(rtype, rid)
            except (FhirError, SmartError):
                return None
            return response.body

        written = [w for w in commit.writes if resolved.get(w.full_url) != NOT_WRITTEN]
        copies_now = await asyncio.gather(*(stored(w) for w in written))
        result, note = _compare(commit, written, copies_now, resolved)
        await self._db.run(self._store.record_read_back, commit.commit_id, result, note)

    def _verdict_from(
        self,
        commit: ApprovedCommit,
        resolved: Mapping[str, str],
        copies: Mapping[int, dict[str, Any]],
    ) -> tuple[ReadBack, str | None] | None:
        """The read-back verdict when the answers already hold a copy of every write (a
        transaction Bundle's usually do); None when something is still to be read."""
        if not self._read_back:
            return None
        written = [w for w in commit.writes if resolved.get(w.full_url) != NOT_WRITTEN]
        if not all(w.position in copies for w in written):
            return None
        return _compare(commit, written, [copies[w.position] for w in written], resolved)

    # ------------------------------------------------------------------ helpers
    async def _fail(self, cid: Any, failure: Failure, results: list[WriteResult]) -> OutboxItem:
        after = failure.retry_after
        wait = "none" if after is None else f"{after.total_seconds():.0f} s"
        log.debug(
            "%sfailed: %s, HTTP %s, Retry-After: %s",
            prefix(),
            failure.event.value,
            failure.status,
            wait,
        )
        return await self._db.run(
            self._store.apply,
            cid,
            failure.event,
            status=failure.status,
            error=failure.error,
            retry_after=failure.retry_after,
            results=results,
        )


def _read_transaction(
    commit: ApprovedCommit, request: PlannedRequest, body: Mapping[str, Any] | None, what: str
) -> _Round:
    entries = body.get("entry") if isinstance(body, Mapping) else None
    if (
        not isinstance(body, Mapping)
        or body.get("resourceType") != "Bundle"
        or not isinstance(entries, list)
        or len(entries) != len(request.positions)
    ):
        return _Round(failures=[unreadable_answer(what)])
    out = _Round()
    for position, entry in zip(request.positions, entries, strict=True):
        write = commit.writes[position]
        response = entry.get("response") if isinstance(entry, Mapping) else None
        if not isinstance(response, Mapping) or not str(response.get("status", "")).startswith("2"):
            return _Round(failures=[unreadable_answer(what)])
        location = response.get("location")
        location = location if isinstance(location, str) else None
        etag = response.get("etag")
        etag = etag if isinstance(etag, str) else None
        found = parse_location(location, write.resource_type)
        resource = entry.get("resource")
        body_id, body_version = body_identity(resource, write.resource_type)
        rid = found[0] if found else body_id
        if not rid:
            return _Round(failures=[unreadable_answer(what)])
        version = (found[1] if found else None) or etag_version(etag) or body_version
        out.results.append(
            WriteResult(position, rid, version, etag, location, str(response.get("status")))
        )
        if body_id == rid and isinstance(resource, dict):
            out.copies[position] = resource
    return out


def _compare(
    commit: ApprovedCommit,
    written: Sequence[PlannedWrite],
    copies: Sequence[dict[str, Any] | None],
    resolved: Mapping[str, str],
) -> tuple[ReadBack, str | None]:
    """What was sent against the EHR's copies (None: could not be read): the verdict and its
    note (element paths only, never values)."""
    problems: list[str] = []
    unread = 0
    for write, copy in zip(written, copies, strict=True):
        if copy is None:
            unread += 1
            continue
        diff = differences(write.parsed, copy, references=resolved)
        if diff:
            problems.append(f"{write.resource_type} {resolved[write.full_url]}: {'; '.join(diff)}")
    if problems:
        log.warning(
            "read-back differs for commit %s (%d resources)", commit.commit_id, len(problems)
        )
        note = (
            "The EHR stored something other than what was approved: "
            + " | ".join(problems)
            + ". Check the chart."
        )
        return ReadBack.DIFFERS, note[:2000]
    if unread:
        return (
            ReadBack.NOT_CHECKED,
            f"{unread} resource(s) could not be read back from the EHR to compare.",
        )
    return ReadBack.MATCHED, None


def _base_versions(bases: Mapping[str, WriteRecord]) -> dict[str, str]:
    """``"Type/id"`` -> the version a base commit recorded for it (the ``If-Match`` of a
    correction approved while the base was still in the outbox)."""
    return {r.reference: r.version_id for r in bases.values() if r.reference and r.version_id}


def _reference(commit: ApprovedCommit, result: WriteResult) -> str:
    return f"{commit.writes[result.position].resource_type}/{result.server_id}"
