"""Does the note's text say what its recorded values say? The check before approval.

The narrative may state values of known observations ("HR 78/min", "Heart rate: 78
beats/minute" prefilled from the chart, "BP 142/88"; :mod:`app.domain.narrative_values` finds
them). Each is compared

- with the items of the table of the same LOINC code (what will be written with the note), and
  where the table has none,
- with the latest value of that code in the chart (the encounter context),

and each disagreement is a :class:`Mismatch`, with words for the clinician and one-click fixes
(:func:`apply_fix`): change the text to the recorded value, or change the table to the written
one (or, when only the chart disagrees, record the written value in the table as a new
measurement). A section whose app-maintained block (:mod:`app.domain.narrative_block`) no
longer says what the table says is a mismatch too (fixed by rewriting the block).

A mismatch is a warning: validation lists each one (``ProblemKind.NARRATIVE_MISMATCH``), the
clinician acknowledges them in the approval dialog, and the review decision records them as a
risk flag. Pure and standard-library only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import Enum

from app.domain.clinical import Measurement
from app.domain.draft import Draft, ObservationItem
from app.domain.errors import DraftEditError
from app.domain.items import new_item_id
from app.domain.items.observation import OBSERVATION, ObservationComponent
from app.domain.items.parts import format_number
from app.domain.narrative_block import find_block, out_of_step, sync_blocks
from app.domain.narrative_values import (
    BLOOD_PRESSURE,
    PANEL,
    WRITTEN_UNITS,
    Mention,
    find_mentions,
    same_value,
)
from app.domain.terminology import known_observation, unit_display


class MismatchKind(Enum):
    TABLE = "table"  # the text's value differs from the table's
    CHART = "chart"  # the table has none; the text differs from the chart's latest value
    BLOCK = "block"  # the app-maintained block no longer says what the table says


class Fix(Enum):
    UPDATE_TEXT = "update_text"  # write the recorded value into the text (or rewrite the block)
    UPDATE_ITEM = "update_item"  # write the text's value into the table
    ADD_ITEM = "add_item"  # record the text's value in the table as a new measurement


@dataclass(frozen=True)
class FixOption:
    fix: Fix
    label: str  # the button: "Change the text to 96 /min"


@dataclass(frozen=True)
class ChartValue:
    """The latest value of one LOINC code in the chart (a blood pressure panel gives two)."""

    code: str
    value: Decimal
    unit: str | None  # UCUM where the EHR gave it
    effective: datetime | None


@dataclass(frozen=True)
class Mismatch:
    key: str  # stable while the text and the values stay as they are (acknowledgements)
    kind: MismatchKind
    section_key: str
    section_title: str
    message: str  # for the clinician: what disagrees with what
    fixes: tuple[FixOption, ...]
    mention: Mention | None = None  # None for BLOCK
    mention_text: str = ""  # the text of the mention when it was found (fixes check it)
    item_ids: tuple[str, ...] = ()  # the table's items it was compared with
    expected: tuple[Decimal | None, ...] = ()  # per code of the mention: the recorded value
    expected_unit: str | None = None
    expected_text: str = ""  # "96 /min", "150/90 mmHg"


def chart_values(measurements: Iterable[Measurement]) -> dict[str, ChartValue]:
    """The latest value per LOINC code (components of a panel by their own codes)."""
    latest: dict[str, ChartValue] = {}
    for m in measurements:
        parts = [(m.code.code if m.code else None, m.value, m.unit)]
        parts += [(c.code.code if c.code else None, c.value, c.unit) for c in m.components]
        for code, value, unit in parts:
            if code is None or value is None:
                continue
            seen = latest.get(code)
            if seen is None or _later(m.effective, seen.effective):
                latest[code] = ChartValue(code, value, _ucum(unit), m.effective)
    return latest


def check_consistency(
    draft: Draft, chart: Mapping[str, ChartValue] | None = None
) -> tuple[Mismatch, ...]:
    """Every disagreement between the draft's text, its table and the chart, in section order."""
    chart = chart or {}
    items = OBSERVATION.select(draft.items)
    found: list[Mismatch] = []
    in_blocks: set[str] = set()
    for section in draft.sections:
        block = find_block(section.text)
        for mention in find_mentions(section.key, section.text):
            mismatch = _compare(mention, section.title, items, chart)
            if mismatch is None:
                continue
            found.append(mismatch)
            if block is not None and block.start <= mention.start < block.end:
                in_blocks.add(section.key)
    for key in out_of_step(draft):
        # A follow-up of a note written elsewhere has no block until its table changes: its
        # text is the earlier note's, and a block would only repeat the earlier records.
        has_block = find_block(draft.section(key).text) is not None
        if key not in in_blocks and (draft.amends is None or has_block):
            found.append(_block_mismatch(draft, key))
    return tuple(found)


def apply_fix(draft: Draft, mismatch: Mismatch, fix: Fix, *, item_id: str | None = None) -> Draft:
    """``draft`` with the fix applied, and its blocks rendered again from the table.
    DraftEditError when the text changed since the check (check again) or the fix is not one
    of the mismatch's."""
    if fix not in {f.fix for f in mismatch.fixes}:
        raise DraftEditError("That fix does not apply here; check the note again.")
    if mismatch.kind is MismatchKind.BLOCK:
        return sync_blocks(draft)
    mention = mismatch.mention
    assert mention is not None
    text = draft.section(mention.section_key).text
    if text[mention.start : mention.end] != mismatch.mention_text:
        raise DraftEditError("The text changed since it was checked; check the note again.")
    if fix is Fix.UPDATE_TEXT:
        new_text = text[: mention.value_start] + mismatch.expected_text + text[mention.value_end :]
        return sync_blocks(draft.with_section_text(mention.section_key, new_text))
    if fix is Fix.UPDATE_ITEM:
        for code, value in zip(mention.codes, mention.values, strict=True):
            for item in OBSERVATION.select(draft.items):
                if item.item_id in mismatch.item_ids:
                    draft = draft.with_item(_with_value(item, code, value, mention.unit))
        return sync_blocks(draft)
    return sync_blocks(draft.with_item(_new_item(mention, item_id)))


def _with_value(
    item: ObservationItem, code: str, value: Decimal, unit: str | None
) -> ObservationItem:
    """``item`` recording ``value`` for ``code``: its own value, or its component's (a blood
    pressure panel's systolic or diastolic part)."""
    if item.loinc_code == code:
        return replace(item, value=value, unit=unit or item.unit)
    parts = tuple(
        replace(c, value=value, unit=unit or c.unit) if c.loinc_code == code else c
        for c in item.components
    )
    return replace(item, components=parts)


def _new_item(mention: Mention, item_id: str | None) -> ObservationItem:
    """The measurement a mention states, as a new item of the table (a blood pressure as the
    panel with its two parts, as the table records one)."""
    new_id = item_id or new_item_id()
    if mention.codes == BLOOD_PRESSURE:
        panel = known_observation(PANEL)
        assert panel is not None  # bundled with the app
        unit = mention.unit or panel.default_unit
        parts = tuple(
            ObservationComponent(code, _name(code), value, unit)
            for code, value in zip(mention.codes, mention.values, strict=True)
        )
        return ObservationItem(new_id, PANEL, panel.name, None, unit, components=parts)
    known = known_observation(mention.codes[0])
    assert known is not None  # mentions are of known observations only
    unit = mention.unit or known.default_unit
    return ObservationItem(new_id, known.code, known.name, mention.values[0], unit)


def _name(code: str) -> str:
    known = known_observation(code)
    return known.name if known else code


# ---------------------------------------------------------------- comparing one mention


def _compare(
    mention: Mention,
    title: str,
    items: list[ObservationItem],
    chart: Mapping[str, ChartValue],
) -> Mismatch | None:
    table = [_items_of(items, code) for code in mention.codes]
    if any(table):
        expected: list[Decimal | None] = []
        disagrees = False
        unit: str | None = None
        for code, value, recorded in zip(mention.codes, mention.values, table, strict=True):
            verdicts = [same_value(value, mention.unit, v, u, code) for _, v, u in recorded]
            if recorded and False in verdicts and True not in verdicts:
                disagrees = True
            chosen = recorded[-1] if recorded else None
            expected.append(chosen[1] if chosen else value)
            unit = unit or (chosen[2] if chosen else None)
        if not disagrees:
            return None
        ids = tuple(dict.fromkeys(i.item_id for group in table for i, _, _ in group))
        return _mismatch(MismatchKind.TABLE, mention, title, tuple(expected), unit, ids)
    recorded_chart = [chart.get(code) for code in mention.codes]
    if not all(recorded_chart):
        return None
    verdicts = [
        same_value(value, mention.unit, cv.value, cv.unit, code)
        for code, value, cv in zip(mention.codes, mention.values, recorded_chart, strict=True)
        if cv is not None
    ]
    if False not in verdicts:
        return None
    first = recorded_chart[0]
    assert first is not None
    return _mismatch(
        MismatchKind.CHART,
        mention,
        title,
        tuple(cv.value if cv else None for cv in recorded_chart),
        first.unit,
        (),
        when=first.effective,
    )


def _mismatch(
    kind: MismatchKind,
    mention: Mention,
    title: str,
    expected: tuple[Decimal | None, ...],
    unit: str | None,
    item_ids: tuple[str, ...],
    *,
    when: datetime | None = None,
) -> Mismatch:
    what = _label(mention.codes)
    expected_text = "/".join(format_number(v) for v in expected if v is not None)
    if unit:
        expected_text += f" {unit_display(unit, mention.codes[0])}"
    written = mention.written
    if kind is MismatchKind.TABLE:
        message = f"{title} says {what} {written}; the table records {expected_text}."
        fixes = (
            FixOption(Fix.UPDATE_TEXT, f"Change the text to {expected_text}"),
            FixOption(Fix.UPDATE_ITEM, f"Change the table to {written}"),
        )
    else:
        dated = f" ({when.date().isoformat()})" if when else ""
        message = (
            f"{title} says {what} {written}, but the latest {what} in the chart is "
            f"{expected_text}{dated} and the table records none. If it was measured now, "
            "record it in the table; otherwise correct the text."
        )
        fixes = (
            FixOption(Fix.UPDATE_TEXT, f"Change the text to {expected_text}"),
            FixOption(Fix.ADD_ITEM, f"Record {written} in the table"),
        )
    identity = f"{kind.value}|{mention.section_key}|{mention.start}|{written}|{expected_text}"
    return Mismatch(
        key=hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:16],
        kind=kind,
        section_key=mention.section_key,
        section_title=title,
        message=message,
        fixes=fixes,
        mention=mention,
        mention_text=mention.text,
        item_ids=item_ids,
        expected=expected,
        expected_unit=unit,
        expected_text=expected_text,
    )


def _block_mismatch(draft: Draft, key: str) -> Mismatch:
    section = draft.section(key)
    return Mismatch(
        key=hashlib.sha256(
            f"block|{key}|{section.text}".encode("utf-8", "surrogatepass")
        ).hexdigest()[:16],
        kind=MismatchKind.BLOCK,
        section_key=key,
        section_title=section.title,
        message=(
            f"The recorded items in {section.title} do not match the table (the block was "
            "edited by hand, deleted, or is older than the table). The table is what will be "
            "recorded."
        ),
        fixes=(FixOption(Fix.UPDATE_TEXT, "Rewrite the block from the table"),),
    )


def _items_of(
    items: list[ObservationItem], code: str
) -> list[tuple[ObservationItem, Decimal, str | None]]:
    """The items recording a value for ``code``, each with that value and its unit: items of
    the code, and panels with a component of it (a blood pressure's systolic part)."""
    found: list[tuple[ObservationItem, Decimal, str | None]] = []
    for item in items:
        if item.loinc_code == code and item.value is not None:
            found.append((item, item.value, item.unit))
        found += [
            (item, c.value, c.unit)
            for c in item.components
            if c.loinc_code == code and c.value is not None
        ]
    return found


def _label(codes: tuple[str, ...]) -> str:
    if codes == BLOOD_PRESSURE:
        return "blood pressure"
    known = known_observation(codes[0])
    return known.in_sentence if known else codes[0]


def _ucum(unit: str | None) -> str | None:
    """A chart unit as UCUM: UCUM already, or a unit text the app knows ("beats/minute")."""
    if unit is None:
        return None
    return WRITTEN_UNITS.get(" ".join(unit.lower().split()), unit)


def _later(a: datetime | None, b: datetime | None) -> bool:
    return a is not None and (b is None or a > b)
