"""Diffs between a draft's baseline and the clinician's current text and items.

Text is compared over *words* (runs of non-space characters) with a shortest edit script
(:mod:`app.domain.sequence_match`: Myers' algorithm, bounded, falling back to ``difflib``), so
inserting words never shows a word as deleted. Words alone are matched; the white space between them is compared
afterwards. So a word is never shown as changed because the space, tab or line break after it
changed ("arterial" at the end of a line is the same word as "arterial" followed by a new line),
re-wrapped lines show no word changes, and between two runs of matched words a change reads as
one deletion and one insertion. Long notes (a 100 KB note with edits spread through it diffs in
a few milliseconds) are first matched in content-defined chunks of about ten words (boundaries
chosen by a hash of the words, so an insertion only disturbs its own chunk; white space does not
count, so a re-wrapped paragraph still matches), then refined word by word where they differ.

A changed region that is still very large after that (text rewritten from scratch) is shown as
one deletion plus one insertion instead of being refined word by word, which keeps the work
bounded. Whatever the input, joining the EQUAL and DELETE spans gives back the baseline exactly
and joining the EQUAL and INSERT spans gives back the current text (tested with Hypothesis).

A *hunk* is one run of changes between unchanged text; a hunk whose both sides are white space
only (a re-wrapped line, a tab that became a space, a trailing line break) is a white-space
change: :meth:`TextDiff.ignoring_whitespace` shows those as unchanged ("ignore white space").

Structured items are compared by their stable ``item_id``: added, removed, changed (with the
fields that changed) or unchanged.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from difflib import SequenceMatcher
from enum import Enum
from itertools import zip_longest

from app.domain.clinical import Reference
from app.domain.draft import Draft, NoteSection, StructuredItem
from app.domain.sequence_match import matching_blocks

# Texts longer than this (both sides together, about 1,000 words) are matched chunk by chunk
# first, then word by word inside the chunks that differ.
_DIRECT_CHARS = 6000
# A replaced run of more chunks than this (about 4,000 words) is shown as delete + insert.
_MAX_REFINE_CHUNKS = 400
_CHUNK_MODULUS = 10  # about one chunk boundary every ten words

_WORD = re.compile(r"\S+")
_SPLIT = re.compile(r"(\s+)")


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


@dataclass(frozen=True, slots=True)
class Hunk:
    """One run of changes between unchanged text: what was deleted and what was inserted there,
    and where it starts in each text (character offsets)."""

    index: int
    baseline_at: int
    current_at: int
    deleted: str
    inserted: str

    @property
    def whitespace_only(self) -> bool:
        """Both sides are white space (or nothing): re-wrapping, tabs, trailing line breaks."""
        return not self.deleted.strip() and not self.inserted.strip()


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

    @property
    def hunks(self) -> tuple[Hunk, ...]:
        """Each run of changes, in order (the next/previous change keys walk these)."""
        return tuple(_hunks(self.spans))

    @property
    def whitespace_only(self) -> bool:
        """Changed, and every change is white space only."""
        hunks = self.hunks
        return bool(hunks) and all(h.whitespace_only for h in hunks)

    def ignoring_whitespace(self) -> TextDiff:
        """The same diff with white-space-only changes shown as unchanged text (the current
        text's white space). A view for people: its ``baseline`` is not the baseline."""
        if not any(h.whitespace_only for h in self.hunks):
            return self
        return _assemble(list(_hide_whitespace(self.spans)))


def diff_text(baseline: str, current: str) -> TextDiff:
    """Word-level inline and side-by-side diff of two texts."""
    if baseline == current:
        return _assemble([Span(DiffOp.EQUAL, baseline)])
    if len(baseline) + len(current) <= _DIRECT_CHARS:
        return _assemble(_diff_words(baseline, current))
    return _assemble(_diff_chunks(baseline, current))


def _assemble(spans: list[Span]) -> TextDiff:
    merged = _merge(spans)
    return TextDiff(spans=tuple(merged), rows=tuple(_rows(merged)))


def _rows(spans: Sequence[Span]) -> Iterator[SideBySideRow]:
    """Side-by-side rows. A line break in unchanged text ends the current line on both sides
    at once: the lines completed on each side since the previous such break are paired, the
    two last ones together (they share that break), the ones before from the top."""
    left_no = right_no = 1
    done_left: list[list[Span]] = []
    done_right: list[list[Span]] = []
    left: list[Span] = []
    right: list[Span] = []

    def rows(lefts: list[list[Span]], rights: list[list[Span]]) -> Iterator[SideBySideRow]:
        nonlocal left_no, right_no
        for l_line, r_line in zip_longest(lefts, rights):
            yield SideBySideRow(
                _row_kind(l_line, r_line),
                left_no if l_line is not None else None,
                right_no if r_line is not None else None,
                tuple(l_line or ()),
                tuple(r_line or ()),
            )
            left_no += l_line is not None
            right_no += r_line is not None

    for span in spans:
        pieces = span.text.split("\n")
        for k, piece in enumerate(pieces):
            text = piece + "\n" if k < len(pieces) - 1 else piece
            if text and span.op is not DiffOp.INSERT:
                left.append(Span(span.op, text))
            if text and span.op is not DiffOp.DELETE:
                right.append(Span(span.op, text))
            if k == len(pieces) - 1:
                continue
            if span.op is not DiffOp.INSERT:
                done_left.append(left)
                left = []
            if span.op is not DiffOp.DELETE:
                done_right.append(right)
                right = []
            if span.op is DiffOp.EQUAL:
                last_left, last_right = done_left.pop(), done_right.pop()
                yield from rows(done_left, done_right)
                yield from rows([last_left], [last_right])
                done_left, done_right = [], []
    yield from rows(done_left + ([left] if left else []), done_right + ([right] if right else []))


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


def _needs_autojunk(units: Sequence[str]) -> bool:
    """Autojunk only where the chunks repeat so much that exact matching would go quadratic
    (difflib's own criterion: an element making up more than 1% of 200+ elements)."""
    if len(units) < 200:
        return False
    most = Counter(units).most_common(1)[0][1]
    return most > 1 + len(units) // 100


def _diff_chunks(a: str, b: str) -> list[Span]:
    """Long texts: content-defined chunks of about ten words are matched first by their words
    (white space does not count, so re-wrapped text still matches), then refined word by word
    where they differ."""
    a_chunks, b_chunks = _chunks(a), _chunks(b)
    a_keys = [" ".join(c.split()) for c in a_chunks]
    b_keys = [" ".join(c.split()) for c in b_chunks]
    # Chunks of ten words seldom repeat, so difflib's longest-block-first matching is as good
    # as a shortest script here, and faster; the words inside changed chunks get the latter.
    matcher = SequenceMatcher(None, a_keys, b_keys, autojunk=_needs_autojunk(b_keys))
    spans: list[Span] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        a_text, b_text = "".join(a_chunks[i1:i2]), "".join(b_chunks[j1:j2])
        if a_text == b_text:
            spans.append(Span(DiffOp.EQUAL, a_text))
        elif tag in ("delete", "insert"):
            spans.extend(_one_sided(tag, a_text, b_text))
        elif tag == "equal" or (i2 - i1) + (j2 - j1) <= _MAX_REFINE_CHUNKS:
            spans.extend(_diff_words(a_text, b_text))
        else:
            spans += [Span(DiffOp.DELETE, a_text), Span(DiffOp.INSERT, b_text)]
    return spans


def _diff_words(a: str, b: str) -> list[Span]:
    """Words are matched (a shortest edit script over the words alone); the white space between
    them is compared afterwards. Between two runs of matched words, what differs is one deletion
    and one insertion, less the white space both sides share at its edges."""
    a_at = [(m.start(), m.end()) for m in _WORD.finditer(a)]
    b_at = [(m.start(), m.end()) for m in _WORD.finditer(b)]
    blocks = matching_blocks([a[s:e] for s, e in a_at], [b[s:e] for s, e in b_at])
    spans: list[Span] = []
    pos_a = pos_b = 0
    for i, j, size in blocks:
        spans += _region(a[pos_a : a_at[i][0]], b[pos_b : b_at[j][0]])
        end_a, end_b = a_at[i + size - 1][1], b_at[j + size - 1][1]
        run = a[a_at[i][0] : end_a]
        if run == b[b_at[j][0] : end_b]:  # the usual case: the white space is the same too
            spans.append(Span(DiffOp.EQUAL, run))
        else:
            for k in range(size):
                sa, ea = a_at[i + k]
                spans.append(Span(DiffOp.EQUAL, a[sa:ea]))
                if k + 1 < size:  # the white space between two matched words
                    eb = b_at[j + k][1]
                    spans += _region(a[ea : a_at[i + k + 1][0]], b[eb : b_at[j + k + 1][0]])
        pos_a, pos_b = end_a, end_b
    spans += _region(a[pos_a:], b[pos_b:])
    return _merge(spans)


def _region(x: str, y: str) -> list[Span]:
    """One stretch between matched words: equal, or a deletion and an insertion with the white
    space the two sides share at either end kept as unchanged text."""
    if x == y:
        return [Span(DiffOp.EQUAL, x)]
    head = 0
    while head < min(len(x), len(y)) and x[head] == y[head] and x[head].isspace():
        head += 1
    tail = 0
    while (
        tail < min(len(x), len(y)) - head
        and x[-1 - tail] == y[-1 - tail]
        and x[-1 - tail].isspace()
    ):
        tail += 1
    end_x, end_y = len(x) - tail, len(y) - tail
    return [
        Span(DiffOp.EQUAL, x[:head]),
        Span(DiffOp.DELETE, x[head:end_x]),
        Span(DiffOp.INSERT, y[head:end_y]),
        Span(DiffOp.EQUAL, x[end_x:]),
    ]


def _hunks(spans: Sequence[Span]) -> Iterator[Hunk]:
    at_a = at_b = 0
    index = 0
    deleted: list[str] = []
    inserted: list[str] = []
    start_a = start_b = 0
    for span in (*spans, Span(DiffOp.EQUAL, "")):
        if span.op is DiffOp.EQUAL:
            if deleted or inserted:
                yield Hunk(index, start_a, start_b, "".join(deleted), "".join(inserted))
                index += 1
                deleted, inserted = [], []
            at_a += len(span.text)
            at_b += len(span.text)
            start_a, start_b = at_a, at_b
        elif span.op is DiffOp.DELETE:
            deleted.append(span.text)
            at_a += len(span.text)
        else:
            inserted.append(span.text)
            at_b += len(span.text)


def _hide_whitespace(spans: Sequence[Span]) -> Iterator[Span]:
    """White-space-only runs of changes as unchanged current text."""
    run: list[Span] = []
    for span in (*spans, Span(DiffOp.EQUAL, "")):
        if span.op is not DiffOp.EQUAL:
            run.append(span)
            continue
        if run and all(not s.text.strip() for s in run):
            inserted = "".join(s.text for s in run if s.op is DiffOp.INSERT)
            if inserted:
                yield Span(DiffOp.EQUAL, inserted)
        else:
            yield from run
        run = []
        if span.text:
            yield span


def _chunks(text: str) -> list[str]:
    """Content-defined chunks: a chunk ends at the white space after a word pair whose hash hits
    the modulus (a pair rather than one word, so a small vocabulary still gives varied chunks).
    crc32 is stable across runs (``hash()`` is salted per process); memoised per distinct word."""
    tokens = _SPLIT.split(text)  # word, space, word, space, ..., word (words may be "")
    memo: dict[str, int] = {}
    chunks: list[str] = []
    start = 0
    previous = 0
    for i in range(0, len(tokens), 2):
        word = tokens[i]
        h = memo.get(word)
        if h is None:
            h = memo[word] = zlib.crc32(word.encode("utf-8", "surrogatepass"))
        if (previous * 31 + h) % _CHUNK_MODULUS == 0:
            chunks.append("".join(tokens[start : i + 2]))
            start = i + 2
        previous = h
    if start < len(tokens):
        chunks.append("".join(tokens[start:]))
    return [c for c in chunks if c]


def _merge(spans: list[Span]) -> list[Span]:
    """Neighbouring spans of the same kind joined (each text joined once: no quadratic
    concatenation over thousands of words)."""
    merged: list[Span] = []
    run: list[Span] = []
    for span in spans:
        if not span.text:
            continue
        if run and span.op is not run[0].op:
            merged.append(_joined(run))
            run = []
        run.append(span)
    if run:
        merged.append(_joined(run))
    return merged


def _joined(run: list[Span]) -> Span:
    return run[0] if len(run) == 1 else Span(run[0].op, "".join(s.text for s in run))


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
