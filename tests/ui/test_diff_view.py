"""The diff pane (issue 12 item 4): no false word changes, invisible characters and white-space
changes drawn with their names, "ignore white space", next/previous change, collapsed
unchanged text that opens on a click."""

from __future__ import annotations

import re

from PySide6.QtCore import QUrl
from pytestqt.qtbot import QtBot

from app.domain.diff import diff_draft
from app.domain.draft import Draft, NoteSection
from app.ui.diff_html import DEL, DiffOptions, inline_html, side_by_side_html
from app.ui.diff_view import DiffView
from tests.support.drafts import make_draft

LONG = "".join(f"Line {i} of the history.\n" for i in range(30))


def draft(**texts: str) -> Draft:
    base = make_draft(edited=False)
    baseline = dict(
        subjective="Pulses: 2+ radial, arterial",
        objective="HR 96\t/min. Abdomen soft,\nnon-tender.",
        assessment=LONG + "Stable.",
        plan="Unchanged plan.",
    )
    current = {**baseline, **texts}
    sections = tuple(NoteSection(s.key, s.title, current[s.key]) for s in base.sections)
    old = tuple(NoteSection(s.key, s.title, baseline[s.key]) for s in base.sections)
    return Draft(**{**base.__dict__, "sections": sections, "baseline": type(base.baseline)(old)})


def edited() -> Draft:
    return draft(
        subjective="Pulses: 2+ radial, arterial\nFemoral pulses normal.",
        objective="HR 96 /min. Abdomen soft, non-tender.",
        assessment=LONG + "Improving.",
    )


def deleted_texts(html: str) -> list[str]:
    return re.findall(rf'<span style="{re.escape(DEL)}">(.*?)</span>', html)


def test_appending_a_line_does_not_strike_the_word_before_it() -> None:
    html = inline_html(diff_draft(edited()))
    assert "arterial" not in "".join(deleted_texts(html))
    assert "Femoral pulses normal." in html


def test_whitespace_changes_are_drawn_with_words_and_can_be_hidden() -> None:
    diff = diff_draft(edited())
    html = inline_html(diff)
    assert 'title="tab replaced by a space"' in html  # the tab before /min became a space
    assert 'title="line break replaced by a space"' in html  # the re-wrapped line
    assert "→" in html and "↵" in html
    hidden = inline_html(diff, DiffOptions(ignore_whitespace=True))
    assert 'title="tab replaced' not in hidden and "line break replaced" not in hidden
    assert "Objective <small>(white space only)</small></h3>" in hidden  # collapsed
    assert 'href="show:objective"' in hidden


def test_invisible_characters_are_made_visible() -> None:
    html = inline_html(diff_draft(draft(plan="Unchanged\u00a0plan.\u200b")))
    assert 'title="non-breaking space">⍽</span>' in html
    assert 'title="zero-width space">ZWSP</span>' in html
    side = side_by_side_html(diff_draft(draft(plan="Unchanged\u00a0plan.\u200b")))
    assert 'title="non-breaking space"' in side


def test_unchanged_sections_and_stretches_collapse_until_shown() -> None:
    diff = diff_draft(edited())
    html = inline_html(diff)
    assert "Plan</h3>" in html and "unchanged, 1 line (show)" in html
    assert "Unchanged plan." not in html
    assert "unchanged lines (show)" in html and "Line 10 of the history." not in html
    full = inline_html(diff, DiffOptions(expanded={"assessment", "plan"}))
    assert "Line 10 of the history." in full and "Unchanged plan." in full


def test_the_view_walks_the_changes(qtbot: QtBot) -> None:
    view = DiffView()
    qtbot.addWidget(view)
    view.tabs.setCurrentIndex(1)  # inline
    view.show_diff(diff_draft(edited()))
    count = view.change_count
    assert count >= 4
    assert view.position.text() == f"{count} changes"
    with qtbot.waitSignal(view.change_shown) as shown:
        view.next_change()
    assert shown.args == [0, count]
    assert view.position.text() == f"Change 1 of {count}"
    assert not view.previous_button.isEnabled()
    view.next_change()
    view.previous_change()
    assert view.position.text() == f"Change 1 of {count}"
    view.ignore_whitespace.setChecked(True)
    assert view.change_count < count  # the tab and the re-wrap are hidden
    html_before = view.inline.toHtml()
    view.inline.anchorClicked.emit(QUrl("show:assessment"))  # "(show)" of the long history
    assert "Line 10 of the history." in view.inline.toPlainText()
    assert view.inline.toHtml() != html_before


def test_side_by_side_counts_and_anchors(qtbot: QtBot) -> None:
    view = DiffView()
    qtbot.addWidget(view)
    view.show_diff(diff_draft(edited()))
    assert view.tabs.currentIndex() == 0 and view.change_count >= 3
    view.next_change()
    assert view.position.text().startswith("Change 1 of")
