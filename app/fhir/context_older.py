"""The older items of a section, after its first view: the EHR's ``next`` links followed one
page at a time, up to a limit per section (issue 15: load what the clinician looks at first,
page the rest in the background).

    async for history in older_items(client, context, SectionKind.LABS, limit=2000, turn=...):
        ...  # a SectionHistory after each page: LOADING, then COMPLETE / AT_LIMIT / FAILED

``turn`` is awaited before each page (the caller's priority: the clinician's requests first).
Each page is mapped in a worker thread (the same readers as the first view,
app.fhir.context_sections), never on the caller's loop. A page that fails ends the section's
paging with the EHR's words; what was loaded stays.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from app.domain.chart_history import HistoryState, SectionHistory
from app.domain.context import ContextSection, EncounterContext, SectionKind
from app.fhir.client import FhirClient, SearchResult
from app.fhir.context_sections import READERS
from app.fhir.errors import FhirError
from app.fhir.fhir_reading import References

log = logging.getLogger(__name__)


async def older_items(
    client: FhirClient,
    context: EncounterContext,
    kind: SectionKind,
    *,
    limit: int,
    turn: Callable[[], Awaitable[None]],
) -> AsyncIterator[SectionHistory]:
    """The section's history after each page (nothing when its first view is complete)."""
    section: ContextSection[Any] = context.section(kind)
    if not section.more:
        return
    history = SectionHistory(kind, section.items, HistoryState.LOADING, limit)
    yield history
    for continuation in section.more:
        reader = READERS[continuation.search]
        url: str | None = continuation.url
        seen: set[str] = set()
        while url is not None and url not in seen:
            if len(history.items) >= limit:
                yield _finished(history, HistoryState.AT_LIMIT)
                return
            seen.add(url)
            await turn()
            try:
                page = await client.page(url, what=f"reading older {kind.title.lower()}")
            except FhirError as exc:
                log.info("older %s: a page failed (%s)", kind.value, type(exc).__name__)
                yield _finished(history, HistoryState.FAILED, exc.user_message)
                return
            history = await asyncio.to_thread(
                _with_page, history, page, reader.read, continuation.search, context
            )
            url = page.next_url
            yield history
    yield _finished(history, HistoryState.COMPLETE)


def _with_page(
    history: SectionHistory,
    page: SearchResult,
    read: Callable[..., ContextSection[Any]],
    search: str,
    context: EncounterContext,
) -> SectionHistory:
    """The history with one more page, in the section's order, at most ``limit`` items
    (the newest: a server that does not sort may send a newer item late)."""
    fhir_base = context.source or ""
    mapped = read(search, page, context.patient.id, fhir_base, References(()))
    known = {_key(item) for item in history.items}
    fresh = [item for item in mapped.items if _key(item) not in known]  # paging shifted
    items = READERS[search].order([*history.items, *fresh])
    over = len(items) > history.limit
    return SectionHistory(
        history.kind,
        tuple(items[: history.limit]),
        HistoryState.AT_LIMIT if over else HistoryState.LOADING,
        history.limit,
        unreadable=history.unreadable + len(mapped.skipped),
    )


def _key(item: Any) -> tuple[str, str]:
    """One record of the EHR: an item read twice (the EHR's pages shifted under a new record)
    is shown once."""
    source = getattr(item, "source_type", None)
    return (str(getattr(source, "value", type(item).__name__)), str(getattr(item, "id", id(item))))


def _finished(
    history: SectionHistory, state: HistoryState, problem: str | None = None
) -> SectionHistory:
    if history.state is HistoryState.AT_LIMIT:
        state, problem = HistoryState.AT_LIMIT, None
    return SectionHistory(
        history.kind, history.items, state, history.limit, history.unreadable, problem
    )
