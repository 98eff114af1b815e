"""What approving a draft will write, item by item, and in words: the write plan.

One pure function, :func:`plan_writes`, decides it for every draft; the validation (which
types are written, which need permission), the FHIR mapping (which resources a commit holds)
and the approval dialog (its "What will be written" and "Changes" tabs) all read the same
plan, so what the clinician is shown is what is sent.

A new note writes each of its items as a new record. A follow-up of an earlier note (an
amendment or an addendum, ``Draft.amends``) never writes the earlier note's items again:

===================  ====================================================================
``UNCHANGED``        still as in the chart: not sent
``CORRECT``          changed: corrected in place (PUT with If-Match on the version seen,
                     status amended/corrected)
``RETRACT``          removed from the follow-up and confirmed by the clinician: the chart
                     record is marked entered in error
``KEEP``             removed without that confirmation: the chart keeps it as it is
``CORRECT_IN_NOTE``  changed, but the site cannot correct that record in place (the vendor
                     profile, the server or the granted scopes): the note states the
                     correction instead, and nothing else is written for it
``RETRACT_IN_NOTE``  the same for a confirmed removal
``CREATE``           an item the follow-up adds: a new record
===================  ====================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import Enum

from app.domain.clock import utc_now
from app.domain.diff import ChangeKind, DraftDiff, ItemChange, diff_items, diff_sections
from app.domain.draft import AmendmentRef, ChartItem, Draft, FollowUpKind, NoteSection
from app.domain.items import StructuredItem, kind_of, render_item
from app.domain.render import render_plain_text

UpdateAllowed = Callable[[str], bool]  # resource type -> may this site correct it in place


class ItemFate(Enum):
    CREATE = "create"
    UNCHANGED = "unchanged"
    CORRECT = "correct"
    RETRACT = "retract"
    KEEP = "keep"
    CORRECT_IN_NOTE = "correct_in_note"
    RETRACT_IN_NOTE = "retract_in_note"

    @property
    def writes(self) -> bool:
        """A record is written for it (created, or updated in place)."""
        return self in (ItemFate.CREATE, ItemFate.CORRECT, ItemFate.RETRACT)

    @property
    def updates(self) -> bool:
        return self in (ItemFate.CORRECT, ItemFate.RETRACT)


@dataclass(frozen=True)
class ItemPlan:
    """What happens to one item. ``item`` is the draft's item, or — for a removed one — the
    chart's; ``before`` the chart's version of a chart item; ``words`` one line for the
    dialog ("corrects Heart rate 96 bpm → 92 bpm")."""

    fate: ItemFate
    item: StructuredItem
    words: str
    chart: ChartItem | None = None
    before: StructuredItem | None = None

    @property
    def resource_type(self) -> str:
        return kind_of(self.item).resource_type


@dataclass(frozen=True)
class WritePlan:
    """Everything approving the draft will do (see the module docstring)."""

    note_words: str  # "A new note." / "Replaces the note of 16 Nov 09:12 …"
    items: tuple[ItemPlan, ...]
    follow_up: AmendmentRef | None = None

    @property
    def written(self) -> tuple[ItemPlan, ...]:
        return tuple(p for p in self.items if p.fate.writes)

    @property
    def created_types(self) -> frozenset[str]:
        return frozenset(p.resource_type for p in self.items if p.fate is ItemFate.CREATE)

    @property
    def updated_types(self) -> frozenset[str]:
        return frozenset(p.resource_type for p in self.items if p.fate.updates)

    @property
    def stated_in_note(self) -> tuple[str, ...]:
        """Corrections the note states because the site cannot make them in place."""
        return tuple(
            _stated(p)
            for p in self.items
            if p.fate in (ItemFate.CORRECT_IN_NOTE, ItemFate.RETRACT_IN_NOTE)
        )

    @property
    def lines(self) -> tuple[str, ...]:
        """The plan in words: the note, then each item."""
        return (self.note_words, *(p.words for p in self.items))


STATED_HEADING = (
    "Corrections to the structured data of the earlier note (the EHR does not let this app "
    "change those records in place):"
)


def note_addition(plan: WritePlan) -> str:
    """The text appended to the note for corrections it states ("" when there are none)."""
    stated = plan.stated_in_note
    if not stated:
        return ""
    return STATED_HEADING + "\n" + "\n".join(f"- {line}" for line in stated) + "\n"


def written_text(draft: Draft, plan: WritePlan) -> str:
    """The note's plain text as it is written: its sections, and the corrections it states."""
    text = render_plain_text(draft)
    addition = note_addition(plan)
    return text.rstrip("\n") + "\n\n" + addition if addition else text


def plan_writes(
    draft: Draft, may_update: UpdateAllowed = lambda _t: False, *, tz: tzinfo | None = None
) -> WritePlan:
    """The write plan of ``draft``. ``may_update`` says whether this site lets the app correct
    a record of a type in place; ``tz`` is the zone dates are said in (default: local)."""
    follow_up = draft.amends
    if follow_up is None:
        items = tuple(ItemPlan(ItemFate.CREATE, i, f"New: {render_item(i)}") for i in draft.items)
        return WritePlan("A new note.", items)
    before = {i.item_id: i for i in draft.baseline.items}
    plans: list[ItemPlan] = []
    for item in draft.items:
        chart = follow_up.chart_item(item.item_id)
        old = before.get(item.item_id)
        if chart is None or old is None:
            plans.append(ItemPlan(ItemFate.CREATE, item, f"New: {render_item(item)}"))
        elif item == old:
            plans.append(
                ItemPlan(
                    ItemFate.UNCHANGED,
                    item,
                    f"{render_item(item)} — not sent: already in the chart",
                    chart,
                    old,
                )
            )
        else:
            can = may_update(kind_of(item).resource_type)
            fate = ItemFate.CORRECT if can else ItemFate.CORRECT_IN_NOTE
            words = f"Corrects {_change(old, item)}"
            if not can:
                words += " — stated in the note: the EHR does not let this app correct it in place"
            plans.append(ItemPlan(fate, item, words, chart, old))
    kept = {i.item_id for i in draft.items}
    for chart in follow_up.chart_items:
        old = before.get(chart.item_id)
        if chart.item_id in kept or old is None:
            continue
        plans.append(_removed(chart, old, chart.item_id in follow_up.retract, may_update))
    return WritePlan(_note_words(follow_up, tz), tuple(plans), follow_up)


def _removed(
    chart: ChartItem, old: StructuredItem, confirmed: bool, may_update: UpdateAllowed
) -> ItemPlan:
    line = render_item(old)
    if not confirmed:
        return ItemPlan(
            ItemFate.KEEP,
            old,
            f"{line} — stays in the chart as it is (removed from this note only)",
            chart,
            old,
        )
    if may_update(chart.resource_type):
        return ItemPlan(ItemFate.RETRACT, old, f"Marks {line} as entered in error", chart, old)
    return ItemPlan(
        ItemFate.RETRACT_IN_NOTE,
        old,
        f"{line} — stated in the note as entered in error: the EHR does not let this app "
        "change it in place",
        chart,
        old,
    )


def _change(old: StructuredItem, new: StructuredItem) -> str:
    """``Heart rate 96 bpm → 92 bpm`` (the shared name said once)."""
    before, after = render_item(old), render_item(new)
    head_old, sep_old, rest_old = before.partition(": ")
    head_new, sep_new, rest_new = after.partition(": ")
    if sep_old and sep_new and head_old == head_new:
        return f"{head_old} {rest_old} → {rest_new}"
    return f"{before} → {after}"


def _stated(plan: ItemPlan) -> str:
    if plan.fate is ItemFate.RETRACT_IN_NOTE:
        return f"{render_item(plan.item)}: entered in error"
    assert plan.before is not None
    return _change(plan.before, plan.item)


def note_date_words(when: datetime | None, tz: tzinfo | None = None) -> str:
    """``16 Nov 09:12`` (the year too when it is not this year's), or ``unknown date``."""
    if when is None:
        return "unknown date"
    local = when.astimezone(tz)
    now = utc_now().astimezone(local.tzinfo)
    return local.strftime("%d %b %H:%M" if local.year == now.year else "%d %b %Y %H:%M")


def _note_words(follow_up: AmendmentRef, tz: tzinfo | None) -> str:
    when = note_date_words(follow_up.note_date, tz)
    waits = (
        " It is sent after that note, which is still in the outbox."
        if follow_up.pending_commit is not None
        else ""
    )
    if follow_up.kind is FollowUpKind.AMENDMENT:
        return f"Replaces the note of {when}: the earlier note is marked as replaced.{waits}"
    return f"Adds an addendum to the note of {when}; that note stays as it is.{waits}"


_CHANGE_OF_FATE = {
    ItemFate.CREATE: ChangeKind.ADDED,
    ItemFate.CORRECT: ChangeKind.CHANGED,
    ItemFate.CORRECT_IN_NOTE: ChangeKind.CHANGED,
    ItemFate.RETRACT: ChangeKind.REMOVED,
    ItemFate.RETRACT_IN_NOTE: ChangeKind.REMOVED,
    ItemFate.UNCHANGED: ChangeKind.UNCHANGED,
    ItemFate.KEEP: ChangeKind.UNCHANGED,
}


def written_changes(draft: Draft, plan: WritePlan) -> DraftDiff:
    """The approval dialog's "Changes", from what will be written rather than from the draft:
    the note's text as it is written (with the corrections it states) against the baseline,
    and one row per item as the plan writes it — a new record is added, a correction changed,
    a record marked entered in error removed; what is not sent is unchanged."""
    sections = [*draft.sections]
    addition = note_addition(plan)
    if addition:
        sections.append(NoteSection("corrections", "Corrections", addition))
    rows: list[ItemChange] = []
    for p in plan.items:
        kind = _CHANGE_OF_FATE[p.fate]
        if kind is ChangeKind.ADDED:
            rows.append(ItemChange(kind, p.item.item_id, None, p.item))
        elif kind is ChangeKind.REMOVED:
            rows.append(ItemChange(kind, p.item.item_id, p.item, None))
        elif kind is ChangeKind.CHANGED and p.before is not None:
            (row,) = diff_items((p.before,), (p.item,))
            rows.append(row)
        else:
            rows.append(ItemChange(ChangeKind.UNCHANGED, p.item.item_id, p.item, p.item))
    return DraftDiff(diff_sections(draft.baseline.sections, sections), tuple(rows))
