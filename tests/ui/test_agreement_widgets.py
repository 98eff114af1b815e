"""The agreement panel (mismatches with their fixes, uncertain passages until looked at) and
the decline/discard dialog, as widgets: they render and forward, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

from pytestqt.qtbot import QtBot

from app.domain.consistency import Fix, check_consistency
from app.domain.draft import (
    CloseReason,
    DraftProvenance,
    DraftSource,
    FlagLook,
    FlagTarget,
    Generator,
    UncertaintyFlag,
)
from app.ui.agreement_panel import AgreementPanel
from app.ui.close_draft_dialog import CloseDraftDialog
from tests.support.drafts import make_draft, obs

T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def test_mismatches_offer_their_fixes(qtbot: QtBot) -> None:
    panel = AgreementPanel()
    qtbot.addWidget(panel)
    draft = make_draft((obs("hr", "8867-4", "96", "/min", "Heart rate"),), objective="HR 78/min.")
    (mismatch,) = check_consistency(draft)
    panel.show_state([mismatch], draft.provenance, {}, editable=True)
    assert not panel.isHidden()
    button = panel.fix_buttons[(mismatch.key, Fix.UPDATE_TEXT)]
    assert button.text() == "Change the text to 96 bpm"
    with qtbot.waitSignal(panel.fix_requested) as fired:
        button.click()
    assert fired.args == [mismatch, Fix.UPDATE_TEXT]
    panel.show_state([mismatch], draft.provenance, {}, editable=False)
    assert not panel.fix_buttons[(mismatch.key, Fix.UPDATE_ITEM)].isEnabled()
    panel.show_state([], draft.provenance, {}, editable=True)
    assert panel.isHidden()


def test_uncertain_passages_stay_listed_until_each_is_looked_at(qtbot: QtBot) -> None:
    panel = AgreementPanel()
    qtbot.addWidget(panel)
    flags = (
        UncertaintyFlag(FlagTarget.SECTION, "plan", "dose unclear", "20 mg"),
        UncertaintyFlag(FlagTarget.DRAFT, "", "speaker changed"),
    )
    prov = DraftProvenance(DraftSource.IMPORTED, Generator("Scribe", "2.4"), uncertainty=flags)
    panel.show_state([], prov, {"plan": "Plan"}, editable=True)
    assert set(panel.look_buttons) == {0, 1}
    with qtbot.waitSignal(panel.flag_looked_at) as fired:
        panel.look_buttons[1].click()
    assert fired.args == [1]
    looked = DraftProvenance(
        DraftSource.IMPORTED,
        Generator("Scribe", "2.4"),
        uncertainty=flags,
        looked_at=(FlagLook(1, "Practitioner/prac-1", T0),),
    )
    panel.show_state([], looked, {"plan": "Plan"}, editable=True)
    assert set(panel.look_buttons) == {0}
    assert not panel.isHidden()  # looked-at passages stay listed, marked


def test_the_dialog_needs_a_reason_and_words_for_another_reason(qtbot: QtBot) -> None:
    dialog = CloseDraftDialog(declining=True)
    qtbot.addWidget(dialog)
    assert dialog.windowTitle() == "Decline this draft"
    assert not dialog.confirm_button.isEnabled()
    dialog.buttons_by_reason[CloseReason.OTHER].setChecked(True)
    assert not dialog.confirm_button.isEnabled()
    dialog.note_edit.setPlainText("  dictated   for the wrong visit ")
    assert dialog.confirm_button.isEnabled()
    assert dialog.note() == "dictated for the wrong visit"
    dialog.note_edit.setPlainText("x" * 301)
    assert not dialog.confirm_button.isEnabled()
    dialog.buttons_by_reason[CloseReason.INACCURATE].setChecked(True)
    dialog.note_edit.setPlainText("")
    assert dialog.confirm_button.isEnabled() and dialog.reason() is CloseReason.INACCURATE
    own = CloseDraftDialog(declining=False)
    qtbot.addWidget(own)
    assert own.confirm_button.text() == "Discard draft"
    assert CloseReason.STARTED_OVER in own.buttons_by_reason


def test_the_block_is_marked_in_the_editor(qtbot: QtBot) -> None:
    from PySide6.QtWidgets import QPlainTextEdit

    from app.domain.narrative_block import render_block
    from app.ui.block_highlighter import INSIDE, OUTSIDE, BlockHighlighter

    edit = QPlainTextEdit()
    qtbot.addWidget(edit)
    highlighter = BlockHighlighter(edit.document())
    block = render_block([obs("hr", "8867-4", "96", "/min", "Heart rate")])
    edit.setPlainText("Free text.\n\n" + block + "More free text.")
    highlighter.rehighlight()
    states = []
    line = edit.document().firstBlock()
    while line.isValid():
        states.append((line.text(), line.userState()))
        line = line.next()
    assert states == [
        ("Free text.", OUTSIDE),
        ("", OUTSIDE),
        ("[Recorded with this note]", INSIDE),
        ("- Heart rate: 96 bpm", INSIDE),
        ("[End of recorded items]", OUTSIDE),
        ("More free text.", OUTSIDE),
    ]
