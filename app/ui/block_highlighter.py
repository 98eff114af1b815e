"""Marks the app-maintained block in a section editor: its marker lines in grey italics, its
item lines on a grey background, so the clinician sees which lines follow the table (and are
rewritten when it changes) and which are their own free text."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QSyntaxHighlighter, QTextCharFormat, QTextDocument

from app.domain.narrative_block import BLOCK_END, BLOCK_START

OUTSIDE, INSIDE = 0, 1


class BlockHighlighter(QSyntaxHighlighter):
    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)
        self.marker = QTextCharFormat()
        self.marker.setForeground(QColor("#5f6b7a"))
        self.marker.setFontItalic(True)
        self.line = QTextCharFormat()
        self.line.setBackground(QColor("#eef2f6"))
        self.line.setFontWeight(QFont.Weight.Normal)

    def highlightBlock(self, text: str) -> None:  # Qt override
        inside = self.previousBlockState() == INSIDE
        bare = text.rstrip()
        if bare == BLOCK_START:
            self.setFormat(0, len(text), self.marker)
            self.setCurrentBlockState(INSIDE)
        elif bare == BLOCK_END:
            self.setFormat(0, len(text), self.marker)
            self.setCurrentBlockState(OUTSIDE)
        elif inside:
            self.setFormat(0, len(text), self.line)
            self.setCurrentBlockState(INSIDE)
        else:
            self.setCurrentBlockState(OUTSIDE)
