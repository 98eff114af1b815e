"""Help › Keyboard shortcuts shows every key whole (issue 13 walk-through: the approve keys read
"Ctrl+Shift+R… or …" at 1366×768)."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from app.ui.shortcuts import ShortcutsDialog


def test_every_key_is_shown_whole_without_scrolling_sideways(qtbot: QtBot) -> None:
    dialog = ShortcutsDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    table = dialog.table
    metrics = table.fontMetrics()
    keys = [table.item(r, 2).text() for r in range(table.rowCount())]
    assert "Ctrl+Shift+Return or Ctrl+Shift+Enter" in keys
    widest = max(metrics.horizontalAdvance(text) for text in keys)
    assert table.columnWidth(2) > widest
    assert table.horizontalScrollBar().maximum() == 0
