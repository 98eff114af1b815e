"""``fhir-writeback outbox list | show ID | sync``: the outbox as support staff see it.

Plain functions returning ``(text, exit_status)`` so app/cli.py only parses arguments and
prints. The states, labels and meanings are the ones the clinician sees in the outbox panel
(``app.domain.outbox.STATE_TEXT``), except that a commit stored as sending is "sending or
waiting": the command line reads the store without the sending app's in-flight list, so it says
only what the store knows (claimed by the sender; how many of its records the EHR already
holds). Nothing clinical is printed: ids, states, resource types,
server references and the class of the last error (``ErrorClass``) — never note text or
values. The EHR's own words for the last error (which may echo a patient's name; they are
stored sealed) are shown by ``show`` only, for the one commit asked about.

Exit status: 0 fine; 1 something needs a person (needs attention, conflict, sign-in, a
difference after read-back, or still waiting after ``sync``); 2 wrong usage (unknown or
ambiguous id).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID

from app.cli_errors import UsageError
from app.domain.errors import words_for
from app.domain.outbox import OutboxState, discard_words, state_text_from_the_store
from app.domain.retry import DEFAULT_BACKOFF, RandomSource
from app.fhir.errors import FhirError, FhirHttpError, FhirTlsError, FhirTransportError
from app.smart.errors import CertificateError, NetworkError, SmartError
from app.store.outbox_errors import OutboxItemNotFound
from app.store.outbox_records import (
    OutboxEntry,
    OutboxRow,
    OutboxSummary,
    ReadBack,
    WriteRecord,
)
from app.store.store import Store
from app.sync.errors import SyncError
from app.sync.runner import SyncRunner

log = logging.getLogger(__name__)

EXIT_OK, EXIT_ATTENTION, EXIT_USAGE = 0, 1, 2
S = OutboxState
# every state, most urgent first (complete: tests/test_outbox_tables.py)
ORDER = (
    S.NEEDS_ATTENTION,
    S.CONFLICT,
    S.PARKED,
    S.PAUSED_FOR_SIGN_IN,
    S.CHECK_PAUSED_FOR_SIGN_IN,
    S.UNKNOWN_OUTCOME,
    S.RETRY_WAIT,
    S.SENDING,
    S.QUEUED,
    S.WAITING_FOR_BASE,
    S.CONFIRMED,
    S.DISCARDED,
)


def outbox_list(store: Store, *, only_open: bool = False) -> tuple[str, int]:
    """Every commit with its state, attempts, next attempt and last error; newest last."""
    rows = store.outbox.list_items()
    if only_open:
        rows = [r for r in rows if r.state not in (S.CONFIRMED, S.DISCARDED)]
    summary = store.outbox.summary()
    lines = [summary_line(summary), ""]
    if not rows:
        lines.append("The outbox is empty." if not only_open else "Nothing is waiting.")
    else:
        header = f"{'SEQ':>5}  {'COMMIT':36}  {'STATE':18}  {'TRIES':>5}  {'NEXT ATTEMPT':20}  WHAT"
        lines.append(header)
        for row in rows:
            lines.append(_list_line(row))
            problem = _problem(row)
            if problem:
                lines.append(f"{'':7}{problem}")
            if row.read_back is ReadBack.DIFFERS:
                lines.append(f"{'':7}Read-back: {row.read_back_note}")
    return "\n".join(lines) + "\n", _status(summary)


def outbox_show(store: Store, commit_id: str) -> tuple[str, int]:
    """One commit in detail (``commit_id`` may be a unique prefix of at least 8 characters)."""
    try:
        key = _resolve(store, commit_id)
        entry = store.outbox.get(key)
    except (UsageError, OutboxItemNotFound) as exc:
        words = words_for(exc, "no such commit")
        return f"fhir-writeback outbox show: {words}\n", EXIT_USAGE
    return _detail(entry), EXIT_ATTENTION if _needs_person(entry.row) else EXIT_OK


T = TypeVar("T")
SETUP_ATTEMPTS = 4  # the kept sign-in and the server's capabilities, before the first send


def transient_wait(exc: BaseException, attempt: int, rng: RandomSource) -> float | None:
    """Seconds to wait before trying ``exc``'s step again, None when retrying cannot help:
    the EHR's ``Retry-After`` when it gave one, else the outbox's own backoff."""
    if isinstance(exc, CertificateError | FhirTlsError):
        return None
    busy = isinstance(exc, FhirHttpError) and exc.retryable
    if not (busy or isinstance(exc, FhirTransportError | NetworkError)):
        return None
    retry_after: float | None = getattr(exc, "retry_after", None)
    if retry_after is not None:
        return min(retry_after, DEFAULT_BACKOFF.max_retry_after.total_seconds())
    return DEFAULT_BACKOFF.delay(attempt, rng).total_seconds()


async def retry_transient(
    step: Callable[[], Awaitable[T]],
    *,
    deadline: float,
    attempts: int = SETUP_ATTEMPTS,
    rng: RandomSource | None = None,
) -> T:
    """``step()``, tried again after transient failures (a busy or briefly unreachable EHR or
    sign-in service) a few times while the wait ends before ``deadline`` (the loop's clock);
    the last failure is raised. The one-shot command line has no later pass to rely on."""
    loop = asyncio.get_running_loop()
    rng = rng or random.Random()
    for attempt in range(1, attempts + 1):
        try:
            return await step()
        except (FhirError, SmartError) as exc:
            wait = transient_wait(exc, attempt, rng)
            if wait is None or attempt == attempts or loop.time() + wait > deadline:
                raise
            log.info("transient failure (%s); trying again in %.1f s", type(exc).__name__, wait)
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


async def outbox_sync(
    runner: SyncRunner, store: Store, *, timeout: float = 120.0
) -> tuple[str, int]:
    """Send what is due now (the same engine as the app; refuses while the app is sending)."""
    try:
        await runner.start()
    except SyncError as exc:
        return f"fhir-writeback outbox sync: {exc.user_message}\n", EXIT_ATTENTION
    try:
        runner.sync_now()
        summary = await runner.drain(timeout=timeout)
    finally:
        await runner.aclose()
    lines = [summary_line(summary)]
    if runner.status.paused_for_sign_in:
        lines.append(
            "The EHR session has ended: run 'fhir-writeback outbox sync' again (it signs you in "
            "through the browser). Nothing is lost."
        )
    elif runner.status.problem:
        lines.append(runner.status.problem)
    if summary.pending:
        lines.append(f"{summary.pending} commit(s) are still waiting; the app keeps trying.")
    return "\n".join(lines) + "\n", _status(summary)


def summary_line(summary: OutboxSummary) -> str:
    counts = Counter({s: n for s, n in summary.counts.items() if n})
    parts = [
        f"{counts[s]} {state_text_from_the_store(s).label.lower()}" for s in ORDER if counts[s]
    ]
    last = _when(summary.last_success_at) if summary.last_success_at is not None else "never"
    text = f"Outbox: {summary.total} commit(s)"
    if parts:
        text += " - " + ", ".join(parts)
    text += f". Last successful sync: {last}."
    if summary.read_back_differs:
        text += f" {summary.read_back_differs} stored differently than approved (see show)."
    return text


def _problem(row: OutboxRow) -> str:
    """The class of the last error, while it still matters (no PHI: safe for any listing)."""
    if row.error_class is None or row.state in (S.CONFIRMED, S.DISCARDED):
        return ""
    status = row.item.last_status
    return f"Last problem: {row.error_class.words}" + (f" (HTTP {status})." if status else ".")


def _list_line(row: OutboxRow) -> str:
    item = row.item
    label = state_text_from_the_store(item.state).label
    what = f"{row.write_count} resource(s): {', '.join(row.resource_types)}"
    nxt = _when(item.next_attempt_at) if item.next_attempt_at is not None else "-"
    return f"{item.sequence:>5}  {item.commit_id!s:36}  {label:18}  {item.attempts:>5}  {nxt:20}  {what}"


def _detail(entry: OutboxEntry) -> str:
    row, item = entry.row, entry.item
    lines = [f"Commit {item.commit_id} (sequence {item.sequence})", *_state_lines(entry)]
    if row.confirmed_at is not None:
        lines.append(f"Confirmed: {_when(row.confirmed_at)}")
    lines += [without_words(r) for r in entry.writes if r.not_written]
    lines.append(f"Attempts: {item.attempts}")
    if item.next_attempt_at is not None:
        lines.append(f"Next attempt: {_when(item.next_attempt_at)}")
    if item.last_status is not None:
        lines.append(f"Last HTTP status: {item.last_status}")
    problem = _problem(row)
    if problem:
        lines.append(problem)
        if item.last_error:
            lines.append(f"In words: {item.last_error}")
    if row.strategy:
        lines.append(f"Written as: {row.strategy}")
    if entry.commit.depends_on:
        bases = ", ".join(str(b) for b in entry.commit.depends_on)
        lines.append(f"Amends (waits for): {bases}")
    if row.read_back is not ReadBack.PENDING:
        note = f" - {row.read_back_note}" if row.read_back_note else ""
        lines.append(f"Read-back: {row.read_back.value}{note}")
    if entry.conflict is not None:
        c = entry.conflict
        lines.append(f"Conflict: {c.message}")
        if c.resource:
            lines.append(
                f"  chart record {c.resource}: amended version {c.expected_version}, "
                f"chart now {c.chart_version or 'gone'}"
            )
    if row.discarded_by:
        lines.append(f"Discarded by {row.discarded_by}: {row.discard_reason}")
    lines.append("Resources:")
    for planned, record in zip(entry.commit.writes, entry.writes, strict=True):
        where = record.reference or ("not written" if record.not_written else "not in the EHR yet")
        version = f" version {record.version_id}" if record.version_id else ""
        status = f" ({record.response_status})" if record.response_status else ""
        corrects = (
            f"\n     corrects {planned.target} (If-Match {planned.if_match or 'as recorded'})"
            if planned.is_update
            else ""
        )
        lines.append(
            f"  {planned.position}. {planned.resource_type:18} {planned.identifier.token}"
            f"{corrects}\n     -> {where}{version}{status}"
        )
    return "\n".join(lines) + "\n"


def _state_lines(entry: OutboxEntry) -> list[str]:
    """The state in words, true to what the store knows (reached the EHR, claimed when)."""
    row, item = entry.row, entry.item
    text = state_text_from_the_store(item.state)
    meaning = text.meaning
    in_the_ehr = [r.reference for r in entry.writes if r.reference]
    if item.state is S.DISCARDED:  # true to what reached the EHR
        meaning = discard_words(in_the_ehr)
    elif item.state is S.SENDING and in_the_ehr:  # its requests started: the store says so
        meaning = (
            f"Being sent: {len(in_the_ehr)} of its {len(entry.writes)} records are in the EHR "
            "already; the app that sends this outbox sends the rest. Nothing to do."
        )
    lines = [f"State: {text.label} - {meaning}", f"Approved: {_when(row.created_at)}"]
    if item.state is S.SENDING and item.updated_at is not None:
        lines.append(f"Claimed for sending: {_when(item.updated_at)}")
    return lines


def without_words(record: WriteRecord) -> str:
    """``Confirmed without Provenance: ...`` for a companion the EHR refused."""
    because = (record.response_status or "").partition(": ")[2] or "refused by the EHR"
    return (
        f"Confirmed without {record.resource_type}: the EHR refused it"
        f"{because.removeprefix('refused by the EHR')}. The note is in the chart; the "
        f"{record.resource_type} stays in this app's outbox and the approval in its audit trail."
    )


def _resolve(store: Store, given: str) -> UUID:
    text = given.strip().lower()
    try:
        return UUID(text)
    except ValueError:
        pass
    if len(text) < 8:
        raise UsageError(f"'{given}' is not a commit id (give at least its first 8 characters)")
    matches = [r.commit_id for r in store.outbox.list_items() if str(r.commit_id).startswith(text)]
    if not matches:
        raise UsageError(f"no commit in the outbox starts with '{given}'")
    if len(matches) > 1:
        raise UsageError(f"'{given}' matches {len(matches)} commits; give more characters")
    return matches[0]


# States in which nothing happens until a person acts (a parked check included: issue 14).
NEEDS_PERSON = (
    S.NEEDS_ATTENTION,
    S.CONFLICT,
    S.PARKED,
    S.PAUSED_FOR_SIGN_IN,
    S.CHECK_PAUSED_FOR_SIGN_IN,
)


def _needs_person(row: OutboxRow) -> bool:
    return row.state in NEEDS_PERSON or row.read_back is ReadBack.DIFFERS


def _status(summary: OutboxSummary) -> int:
    """1 whenever anything needs a person (a parked check included), else 0."""
    waiting_for_person = summary.count(*NEEDS_PERSON)
    return EXIT_ATTENTION if waiting_for_person or summary.read_back_differs else EXIT_OK


def _when(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
