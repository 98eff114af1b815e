"""The app-maintained block: a note's structured items written into its narrative.

Every item of a draft renders as one plain line (its kind's ``render``) in the section that plays
its kind's role (vital signs in Objective or Findings, tasks and messages in Plan, medication
decisions in Medications, else Plan). The lines of one section sit in one clearly delimited
block that the app rewrites whenever the table changes; the clinician writes free text before
and after it::

    Examination unremarkable.

    [Recorded with this note]
    - Heart rate: 96 /min
    - Body temperature: 37.2 °C
    [End of recorded items]

The block is part of the section's text, so it is what the chart's note says about the items.
Text typed inside the block is replaced at the next change of the table; the consistency check
(:mod:`app.domain.consistency`) reports a block that no longer matches the table before then.

A block whose end marker was deleted still ends at the last "- " line after its start marker
(and one whose start marker was deleted starts at the first "- " line before its end marker),
so a damaged block is repaired rather than duplicated, and no other text is taken with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import accumulate

from app.domain.draft import Draft, FollowUpKind, NoteSection
from app.domain.items import ITEM_KINDS, StructuredItem, kind_of, render_item, role_of
from app.domain.validation_problems import without_unsafe

BLOCK_START = "[Recorded with this note]"
BLOCK_END = "[End of recorded items]"
ITEM_PREFIX = "- "


@dataclass(frozen=True)
class BlockSpan:
    """Where a section's block is: ``text[start:end]`` (its last line's line break included)."""

    start: int
    end: int


def section_for(item: StructuredItem, keys: Sequence[str]) -> str | None:
    """The key of the section an item's line goes to: the first of ``keys`` playing its role,
    else the last section (a one-section note such as an amendment); None without sections."""
    if not keys:
        return None
    return role_of(item).section_in(keys) or keys[-1]


def items_by_section(
    keys: Sequence[str], items: Sequence[StructuredItem]
) -> dict[str, list[StructuredItem]]:
    """``items`` grouped by the section (of ``keys``) their lines go to, in catalogue order,
    then in the draft's order."""
    grouped: dict[str, list[StructuredItem]] = {}
    for kind in ITEM_KINDS:
        for item in kind.select(items):
            if not entered(item):
                continue
            key = section_for(item, keys)
            if key is not None:
                grouped.setdefault(key, []).append(item)
    return grouped


def entered(item: StructuredItem) -> bool:
    """Whether anything was entered in ``item``: a row just added ("Add observation") records
    nothing yet, and the block does not list it ("- LOINC : no value")."""
    blank = kind_of(item).new_item
    return blank is None or render_item(item) != render_item(blank())


def block_items(draft: Draft) -> tuple[StructuredItem, ...]:
    """The items a draft's blocks list: all of them, except in an addendum, which lists only
    what it records itself (the earlier note's records, unchanged, belong to that note)."""
    follow_up = draft.amends
    if follow_up is None or follow_up.kind is not FollowUpKind.ADDENDUM:
        return draft.items
    before = {i.item_id: i for i in draft.baseline.items}
    return tuple(
        i
        for i in draft.items
        if follow_up.chart_item(i.item_id) is None or before.get(i.item_id) != i
    )


def sections_with_blocks(
    sections: Sequence[NoteSection], items: Sequence[StructuredItem]
) -> tuple[NoteSection, ...]:
    """``sections`` with each one's block rendered from ``items``."""
    grouped = items_by_section([s.key for s in sections], items)
    return tuple(
        replace(s, text=with_block(s.text, render_block(grouped.get(s.key, [])))) for s in sections
    )


def render_block(items: Sequence[StructuredItem]) -> str:
    """The block for ``items`` (its last line ends with a line break); "" without items."""
    if not items:
        return ""
    lines = [ITEM_PREFIX + " ".join(without_unsafe(render_item(i)).split()) for i in items]
    return "\n".join([BLOCK_START, *lines, BLOCK_END]) + "\n"


def find_block(text: str) -> BlockSpan | None:
    """The block in a section's text, or None."""
    if BLOCK_START not in text and BLOCK_END not in text:
        return None  # the usual case, kept cheap: this runs as the clinician types
    lines = text.splitlines(keepends=True)
    starts = [0, *accumulate(len(x) for x in lines)]
    bare = [line.rstrip() for line in lines]
    first = _index(bare, BLOCK_START)
    if first is not None:
        last = _index(bare, BLOCK_END, first + 1)
        if last is None:  # end marker deleted: the block ends with its last item line
            last = first
            while last + 1 < len(bare) and bare[last + 1].startswith(ITEM_PREFIX):
                last += 1
        return BlockSpan(starts[first], starts[last + 1])
    last = _index(bare, BLOCK_END)
    if last is None:
        return None
    first = last  # start marker deleted: the block starts with its first item line
    while first > 0 and bare[first - 1].startswith(ITEM_PREFIX):
        first -= 1
    return BlockSpan(starts[first], starts[last + 1])


def block_text(text: str) -> str:
    """The block of a section's text as it stands ("" when there is none)."""
    span = find_block(text)
    return "" if span is None else text[span.start : span.end]


def with_block(text: str, block: str) -> str:
    """``text`` with its block replaced by ``block`` (where it stands), added at the end after a
    blank line, or removed when ``block`` is empty. Text around the block is kept as it is."""
    span = find_block(text)
    if span is None:
        if not block:
            return text
        if not text.strip():
            return block
        return text.rstrip("\n") + "\n\n" + block
    before, after = text[: span.start], text[span.end :]
    if block:
        if not after and not text.endswith("\n"):
            block = block.rstrip("\n")  # the block was the last line without a line break
        return before + block + after
    if not after.strip():
        return before.rstrip("\n")  # the blank line before the block was the app's
    return before + after


def sync_blocks(draft: Draft) -> Draft:
    """``draft`` with every section's block rendered from its items (the draft itself when
    nothing changes). Only an editable draft is changed."""
    if not draft.is_editable:
        return draft
    result = draft
    blocks = sections_with_blocks(draft.sections, block_items(draft))
    for old, new in zip(draft.sections, blocks, strict=True):
        if new.text != old.text:
            result = result.with_section_text(new.key, new.text)
    return result


def out_of_step(draft: Draft) -> tuple[str, ...]:
    """Keys of the sections whose block does not say what the table says (edited inside,
    deleted, or written before the table last changed)."""
    grouped = items_by_section([s.key for s in draft.sections], block_items(draft))
    stale = []
    for section in draft.sections:
        expected = render_block(grouped.get(section.key, []))
        current = block_text(section.text)
        if expected.rstrip("\n") != current.rstrip("\n"):
            stale.append(section.key)
    return tuple(stale)


def _index(lines: list[str], wanted: str, start: int = 0) -> int | None:
    for i in range(start, len(lines)):
        if lines[i] == wanted:
            return i
    return None
