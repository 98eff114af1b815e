"""What the app measures about its own use, PHI-free by construction (issue 17).

The figures are counters and durations only. One row per note, under a random key (a keyed
hash of the draft id: nothing outside the store can tie it back to the draft), and one row of
counters per day. No names, no text, no patient, encounter, draft or commit id, no user.

    NoteFigures   one note: where it came from, what became of it, how long each step took,
                  how it was delivered, how much of a generated or imported draft was changed
    PartEdit      the share of one section's characters, or of one kind's items, that changed
    DayFigures    counters of one day that belong to no note (sign-ins, charts opened)
    ActiveTimeMeter  active editing time from focus and keystrokes (not wall time)

Definitions (docs/kpi.md repeats them for clinic IT and the product team):

- ``open_to_approve_ms``: from opening the encounter's chart for this note to approving it;
- ``approve_to_confirm_ms``: from approving to the EHR confirming the write-back;
- ``active_edit_ms``: time with the editor focused and a keystroke in the last
  ``IDLE_SECONDS`` (reading and pauses longer than that do not count);
- a duration whose end carries an earlier time than its start (the computer's clock went
  backwards) is left out and counted in ``clock_backwards`` instead;
- the edit rate of a part is ``changed / total``: for text, ``total`` is the length of the
  longer of the draft's starting text and the approved text, ``changed`` the characters of it
  not matched by unchanged text; for items, ``total`` counts the items of a kind in either
  version, ``changed`` those added, removed or changed.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum

from app.domain.diff import ChangeKind, DiffOp, diff_draft
from app.domain.draft import Draft
from app.domain.items import kind_of

IDLE_SECONDS = 30.0  # a keystroke keeps the editing "active" this long
_PART_KEY = re.compile(r"^[a-z0-9_-]{1,40}$")


class NoteOutcome(Enum):
    """What became of a note (its latest state)."""

    OPEN = "open"  # being written
    APPROVED = "approved"  # approved and queued, not yet confirmed by the EHR
    CONFIRMED = "confirmed"  # in the chart
    DISCARDED = "discarded"  # the clinician gave up their own draft
    DECLINED = "declined"  # the clinician would not approve an imported draft
    WITHDRAWN = "withdrawn"  # approved, then discarded before it reached the chart

    @property
    def approved(self) -> bool:
        return self in (NoteOutcome.APPROVED, NoteOutcome.CONFIRMED, NoteOutcome.WITHDRAWN)


class NoteSource(Enum):
    """Where a note's first text came from (the draft's source)."""

    PREFILLED = "prefilled"  # the template and the encounter
    IMPORTED = "imported"  # a generated draft from a file (a scribe service)
    AMENDMENT = "amendment"  # "Correct this note", after an earlier note was sent
    ADDENDUM = "addendum"  # "Add an addendum", after an earlier note was sent

    @classmethod
    def parse(cls, text: object) -> NoteSource:
        try:
            return cls(str(text))
        except ValueError:
            return cls.PREFILLED


class Delivery(Enum):
    """How an approved note reached the chart."""

    PENDING = "pending"  # not yet there, nothing stopped it
    FIRST_TIME = "first_time"  # one attempt, nobody had to act
    AFTER_RETRY = "after_retry"  # the app tried again by itself and got it there
    NEEDED_PERSON = "needed_person"  # it stopped for a person (refused, conflict, withdrawn)
    NOT_APPROVED = "not_approved"


class DayCounter(Enum):
    SIGN_INS = "sign_ins"
    CHARTS_OPENED = "charts_opened"


@dataclass(frozen=True)
class PartEdit:
    part: str  # "section:<template key>" or "items:<item kind key>"
    total: int
    changed: int


@dataclass(frozen=True)
class NoteFigures:
    note: str  # the random per-note key
    day: date  # the local day of its outcome (approval, closing), else of its start
    source: NoteSource
    outcome: NoteOutcome
    open_to_approve_ms: int | None = None
    approve_to_confirm_ms: int | None = None
    active_edit_ms: int = 0
    send_attempts: int = 0
    person_needed: int = 0  # times the write-back stopped for a person
    conflicts: int = 0
    duplicates_prevented: int = 0  # the EHR already held it: not written again
    clock_backwards: int = 0  # durations left out because the clock went backwards
    parts: tuple[PartEdit, ...] = ()  # empty until measured (after approval)
    revision: int = 1  # grows with every change: the newest copy of a note wins in a merge

    @property
    def delivery(self) -> Delivery:
        if not self.outcome.approved:
            return Delivery.NOT_APPROVED
        if self.person_needed or self.outcome is NoteOutcome.WITHDRAWN:
            return Delivery.NEEDED_PERSON
        if self.outcome is not NoteOutcome.CONFIRMED:
            return Delivery.PENDING
        return Delivery.AFTER_RETRY if self.send_attempts > 1 else Delivery.FIRST_TIME

    def chars(self) -> tuple[int, int]:
        """(changed, total) characters over every section."""
        return _sum_parts(p for p in self.parts if p.part.startswith("section:"))

    def items(self) -> tuple[int, int]:
        """(changed, total) structured items over every kind."""
        return _sum_parts(p for p in self.parts if p.part.startswith("items:"))


@dataclass(frozen=True)
class DayFigures:
    day: date
    sign_ins: int = 0
    charts_opened: int = 0


def _sum_parts(parts: Iterable[PartEdit]) -> tuple[int, int]:
    changed = total = 0
    for p in parts:
        changed += p.changed
        total += p.total
    return changed, total


# ---------------------------------------------------------------- measuring


def duration_ms(start: datetime, end: datetime) -> int | None:
    """Milliseconds from ``start`` to ``end``; None when the clock went backwards."""
    delta = end - start
    if delta < timedelta(0):
        return None
    return delta // timedelta(milliseconds=1)


def part_name(prefix: str, key: str) -> str:
    """``prefix:key`` for a template section or item kind key; anything that does not look
    like such a key (it could carry text) is counted as ``prefix:other``."""
    return f"{prefix}:{key if _PART_KEY.match(key) else 'other'}"


def measure_edits(draft: Draft) -> tuple[PartEdit, ...]:
    """How much of the draft's starting content (prefilled, imported, or the earlier note) the
    clinician changed, per section and per item kind."""
    diff = diff_draft(draft)
    parts: list[PartEdit] = []
    for section in diff.sections:
        text = section.text
        total = max(len(text.baseline), len(text.current))
        if total:
            equal = sum(len(s.text) for s in text.spans if s.op is DiffOp.EQUAL)
            parts.append(PartEdit(part_name("section", section.key), total, total - equal))
    by_kind: dict[str, list[int]] = {}
    for change in diff.items:
        item = change.after if change.after is not None else change.before
        counts = by_kind.setdefault(part_name("items", kind_of(item).key), [0, 0])
        counts[0] += 1
        counts[1] += change.kind is not ChangeKind.UNCHANGED
    parts += [PartEdit(name, total, changed) for name, (total, changed) in by_kind.items()]
    return tuple(parts)


class ActiveTimeMeter:
    """Active editing time: while the editor has focus, each keystroke makes the next
    ``idle_seconds`` active (a pause longer than that stops counting until the next key).

    Times are a monotonic clock's seconds (``time.monotonic``): wall-clock changes cannot
    stretch or shrink it. ``take`` hands out what was counted since the last ``take``.
    """

    def __init__(self, idle_seconds: float = IDLE_SECONDS) -> None:
        self._idle = idle_seconds
        self._focused = False
        self._active_until: float | None = None
        self._counted_to: float | None = None
        self._pending = 0.0

    def focus(self, focused: bool, at: float) -> None:
        self._advance(at)
        self._focused = focused
        if not focused:
            self._active_until = None

    def keystroke(self, at: float) -> None:
        self._advance(at)
        if self._focused:
            self._active_until = at + self._idle

    def take(self, at: float) -> int:
        """Milliseconds counted and not yet taken."""
        self._advance(at)
        whole = int(self._pending * 1000)
        self._pending -= whole / 1000
        return whole

    def _advance(self, at: float) -> None:
        start = self._counted_to
        if start is not None and self._active_until is not None and at > start:
            self._pending += max(0.0, min(at, self._active_until) - start)
        self._counted_to = at


# ---------------------------------------------------------------- statistics


def median(values: Sequence[int]) -> float | None:
    """The middle value (the mean of the two middle ones for an even count); None if empty."""
    return float(statistics.median(values)) if values else None


def p90(values: Sequence[int]) -> int | None:
    """The 90th percentile, nearest rank: the smallest value at or above 90% of the values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def share(part: int, whole: int) -> float | None:
    return None if whole <= 0 else part / whole
