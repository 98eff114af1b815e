"""Diffs between a draft's baseline and the clinician's current text and items.

Text is compared with the standard library's ``difflib.SequenceMatcher``, hierarchically so long
notes stay fast (a 100 KB note with edits spread through it diffs in a few milliseconds):

1. lines (each with any blank lines after it attached, so blank lines do not act as anchors);
2. inside a changed block of lines that is large, content-defined chunks of about ten words
   (boundaries chosen by a hash of the word, so an insertion only disturbs its own chunk);
3. words (a run of non-space characters with the spaces after it) inside changed chunks.

A changed region that is still very large after that (text rewritten from scratch) is shown as
one deletion plus one insertion instead of being refined word by word, which keeps the work
bounded. Whatever the input, joining the EQUAL and DELETE spans gives back the baseline exactly
and joining the EQUAL and INSERT spans gives back the current text (tested with Hypothesis).

Structured items are compared by their stable ``item_id``: added, removed, changed (with the
fields that changed) or unchanged.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from difflib import SequenceMatcher
from enum import Enum
from itertools import zip_longest

from app.domain.clinical import Reference
from app.domain.draft import Draft, NoteSection, StructuredItem

# A replaced block with more words than this on both sides together is refined through chunks.
_DIRECT_WORDS = 600
# A replaced run of chunks with more words than this is shown as delete + insert, unrefined.
_MAX_REFINE_WORDS = 4000
_CHUNK_MODULUS = 10  # about one chunk boundary every ten words

_LINE_UNIT = re.compile(r"[^\n]*\n(?:[ \t\r\f\v]*\n)*|[^\n]+")
_WORD = re.compile(r"\s+|\S+\s*")
_LINE = re.compile(r"[^\n]*\n|[^\n]+")


class DiffOp(Enum):
    EQUAL = "equal"
    DELETE = "delete"  # only in the baseline
    INSERT = "insert"  # only in the current text


@dataclass(frozen=True, slots=True)
class Span:
    op: DiffOp
    text: str


class RowKind(Enum):
    EQUAL = "equal"
    CHANGED = "changed"
    ADDED = "added"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class SideBySideRow:
    """One line pair of the side-by-side view. ``left`` holds EQUAL/DELETE spans of the baseline
    line, ``right`` EQUAL/INSERT spans of the current line; line texts keep their newline."""

    kind: RowKind
    left_no: int | None  # 1-based line number in the baseline
    right_no: int | None  # 1-based line number in the current text
    left: tuple[Span, ...]
    right: tuple[Span, ...]

    @property
    def left_text(self) -> str:
        return "".join(s.text for s in self.left)

    @property
    def right_text(self) -> str:
        return "".join(s.text for s in self.right)


@dataclass(frozen=True)
class TextDiff:
    """The inline diff (``spans``) and the side-by-side diff (``rows``) of one text."""

    spans: tuple[Span, ...]
    rows: tuple[SideBySideRow, ...]

    @property
    def baseline(self) -> str:
        return "".join(s.text for s in self.spans if s.op is not DiffOp.INSERT)

    @property
    def current(self) -> str:
        return "".join(s.text for s in self.spans if s.op is not DiffOp.DELETE)

    @property
    def changed(self) -> bool:
        return any(s.op is not DiffOp.EQUAL for s in self.spans)

    @property
    def words_added(self) -> int:
        return sum(_count_words(s.text) for s in self.spans if s.op is DiffOp.INSERT)

    @property
    def words_removed(self) -> int:
        return sum(_count_words(s.text) for s in self.spans if s.op is DiffOp.DELETE)


def diff_text(baseline: str, current: str) -> TextDiff:
    """Word-level inline and side-by-side diff of two texts."""
    spans: list[Span] = []
    rows: list[SideBySideRow] = []
    left_no, right_no = 1, 1
    if baseline == current:
        blocks: list[tuple[str, str, str, list[Span]]] = [("equal", baseline, current, [])]
    else:
        blocks = _line_blocks(baseline, current)
    for tag, a_text, b_text, refined in blocks:
        if tag == "equal":
            if a_text:
                spans.append(Span(DiffOp.EQUAL, a_text))
            for line in _LINE.findall(a_text):
                span = (Span(DiffOp.EQUAL, line),)
                rows.append(SideBySideRow(RowKind.EQUAL, left_no, right_no, span, span))
                left_no, right_no = left_no + 1, right_no + 1
            continue
        block_spans = refined if tag == "replace" else _one_sided(tag, a_text, b_text)
        spans.extend(block_spans)
        left_lines = _split_lines([s for s in block_spans if s.op is not DiffOp.INSERT])
        right_lines = _split_lines([s for s in block_spans if s.op is not DiffOp.DELETE])
        for left, right in zip_longest(left_lines, right_lines):
            kind = _row_kind(left, right)
            rows.append(
                SideBySideRow(
                    kind,
                    left_no if left is not None else None,
                    right_no if right is not None else None,
                    tuple(left or ()),
                    tuple(right or ()),
                )
            )
            left_no += left is not None
            right_no += right is not None
    return TextDiff(spans=tuple(_merge(spans)), rows=tuple(rows))


def _one_sided(tag: str, a_text: str, b_text: str) -> list[Span]:
    return [Span(DiffOp.DELETE, a_text)] if tag == "delete" else [Span(DiffOp.INSERT, b_text)]


def _row_kind(left: list[Span] | None, right: list[Span] | None) -> RowKind:
    if left is None:
        return RowKind.ADDED
    if right is None:
        return RowKind.REMOVED
    if all(s.op is DiffOp.EQUAL for s in (*left, *right)):
        return RowKind.EQUAL
    return RowKind.CHANGED


def _line_blocks(a: str, b: str) -> list[tuple[str, str, str, list[Span]]]:
    """(tag, baseline text, current text, refined spans for 'replace') per block of lines."""
    a_units = _LINE_UNIT.findall(a)
    b_units = _LINE_UNIT.findall(b)
    matcher = SequenceMatcher(None, a_units, b_units, autojunk=_needs_autojunk(b_units))
    blocks: list[tuple[str, str, str, list[Span]]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        a_text, b_text = "".join(a_units[i1:i2]), "".join(b_units[j1:j2])
        refined = _refine(a_text, b_text) if tag == "replace" else []
        blocks.append((tag, a_text, b_text, refined))
    return blocks


def _needs_autojunk(units: Sequence[str]) -> bool:
    """Autojunk only where the lines repeat so much that exact matching would go quadratic
    (difflib's own criterion: a line making up more than 1% of 200+ lines)."""
    if len(units) < 200:
        return False
    most = Counter(units).most_common(1)[0][1]
    return most > 1 + len(units) // 100


def _refine(a: str, b: str) -> list[Span]:
    """Word-level spans for one replaced block of lines."""
    a_words, b_words = _WORD.findall(a), _WORD.findall(b)
    if len(a_words) + len(b_words) <= _DIRECT_WORDS:
        return _diff_words(a_words, b_words)
    a_chunks, b_chunks = _chunks(a_words), _chunks(b_words)
    matcher = SequenceMatcher(None, a_chunks, b_chunks, autojunk=False)
    spans: list[Span] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        a_text, b_text = "".join(a_chunks[i1:i2]), "".join(b_chunks[j1:j2])
        if tag == "equal":
            spans.append(Span(DiffOp.EQUAL, a_text))
        elif tag in ("delete", "insert"):
            spans.extend(_one_sided(tag, a_text, b_text))
        else:
            sub_a, sub_b = _WORD.findall(a_text), _WORD.findall(b_text)
            if len(sub_a) + len(sub_b) <= _MAX_REFINE_WORDS:
                spans.extend(_diff_words(sub_a, sub_b))
            else:
                spans += [Span(DiffOp.DELETE, a_text), Span(DiffOp.INSERT, b_text)]
    return spans


def _diff_words(a_words: list[str], b_words: list[str]) -> list[Span]:
    matcher = SequenceMatcher(None, a_words, b_words, autojunk=False)
    spans: list[Span] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            spans.append(Span(DiffOp.EQUAL, "".join(a_words[i1:i2])))
            continue
        if tag in ("delete", "replace"):
            spans.append(Span(DiffOp.DELETE, "".join(a_words[i1:i2])))
        if tag in ("insert", "replace"):
            spans.append(Span(DiffOp.INSERT, "".join(b_words[j1:j2])))
    return spans


def _chunks(words: list[str]) -> list[str]:
    """Content-defined chunks: a chunk ends after a word pair whose hash hits the modulus (a
    pair rather than one word, so a small vocabulary still gives varied chunks). crc32 is
    stable across runs (``hash()`` is salted per process); it is memoised per distinct word."""
    memo: dict[str, int] = {}
    chunks: list[str] = []
    start = 0
    previous = 0
    for i, word in enumerate(words):
        h = memo.get(word)
        if h is None:
            h = memo[word] = zlib.crc32(word.encode("utf-8", "surrogatepass"))
        if (previous * 31 + h) % _CHUNK_MODULUS == 0:
            chunks.append("".join(words[start : i + 1]))
            start = i + 1
        previous = h
    if start < len(words):
        chunks.append("".join(words[start:]))
    return chunks


def _split_lines(spans: list[Span]) -> list[list[Span]]:
    """Cut a run of spans into lines (each line's last span ends with its newline)."""
    lines: list[list[Span]] = []
    current: list[Span] = []
    for span in spans:
        parts = span.text.split("\n")
        for k, part in enumerate(parts):
            text = part + "\n" if k < len(parts) - 1 else part
            if text:
                current.append(Span(span.op, text))
            if k < len(parts) - 1:
                lines.append(current)
                current = []
    if current:
        lines.append(current)
    return lines


def _merge(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for span in spans:
        if not span.text:
            continue
        if merged and merged[-1].op is span.op:
            merged[-1] = Span(span.op, merged[-1].text + span.text)
        else:
            merged.append(span)
    return merged


def _count_words(text: str) -> int:
    return len(text.split())


# ---------------------------------------------------------------- structured items


class ChangeKind(Enum):
    UNCHANGED = "unchanged"
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: str
    after: str


@dataclass(frozen=True)
class ItemChange:
    kind: ChangeKind
    item_id: str
    before: StructuredItem | None
    after: StructuredItem | None
    fields: tuple[FieldChange, ...] = ()


def diff_items(
    baseline: Sequence[StructuredItem], current: Sequence[StructuredItem]
) -> tuple[ItemChange, ...]:
    """One row per item: current items in their order, then removed ones in baseline order."""
    before_by_id = {i.item_id: i for i in baseline}
    current_ids = {i.item_id for i in current}
    rows: list[ItemChange] = []
    for item in current:
        old = before_by_id.get(item.item_id)
        if old is None:
            rows.append(ItemChange(ChangeKind.ADDED, item.item_id, None, item))
            continue
        fields = _field_changes(old, item)
        kind = ChangeKind.CHANGED if fields else ChangeKind.UNCHANGED
        rows.append(ItemChange(kind, item.item_id, old, item, fields))
    for old in baseline:
        if old.item_id not in current_ids:
            rows.append(ItemChange(ChangeKind.REMOVED, old.item_id, old, None))
    return tuple(rows)


def _field_changes(old: StructuredItem, new: StructuredItem) -> tuple[FieldChange, ...]:
    if type(old) is not type(new):
        return (FieldChange("kind", type(old).__name__, type(new).__name__),)
    changes = []
    for f in dataclasses.fields(old):
        a, b = getattr(old, f.name), getattr(new, f.name)
        if a != b:
            changes.append(FieldChange(f.name, _show(a), _show(b)))
    return tuple(changes)


def _show(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Reference):
        return value.display or value.relative
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


# ---------------------------------------------------------------- whole draft


@dataclass(frozen=True)
class SectionDiff:
    key: str
    title: str
    kind: ChangeKind
    text: TextDiff


@dataclass(frozen=True)
class DraftDiff:
    sections: tuple[SectionDiff, ...]
    items: tuple[ItemChange, ...]

    @property
    def has_changes(self) -> bool:
        return any(s.kind is not ChangeKind.UNCHANGED for s in self.sections) or any(
            i.kind is not ChangeKind.UNCHANGED for i in self.items
        )


def diff_sections(
    baseline: Sequence[NoteSection], current: Sequence[NoteSection]
) -> tuple[SectionDiff, ...]:
    before = {s.key: s for s in baseline}
    now_keys = {s.key for s in current}
    out: list[SectionDiff] = []
    for section in current:
        old = before.get(section.key)
        text = diff_text(old.text if old else "", section.text)
        if old is None:
            kind = ChangeKind.ADDED
        else:
            kind = (
                ChangeKind.CHANGED
                if text.changed or old.title != section.title
                else ChangeKind.UNCHANGED
            )
        out.append(SectionDiff(section.key, section.title, kind, text))
    for old in baseline:
        if old.key not in now_keys:
            out.append(SectionDiff(old.key, old.title, ChangeKind.REMOVED, diff_text(old.text, "")))
    return tuple(out)


def diff_draft(draft: Draft) -> DraftDiff:
    """Everything the clinician changed since the draft's baseline."""
    return DraftDiff(
        sections=diff_sections(draft.baseline.sections, draft.sections),
        items=diff_items(draft.baseline.items, draft.items),
    )
