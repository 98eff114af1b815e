"""Small shared look-and-feel helpers: labels for headings, hints and errors."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

APP_STYLESHEET = """
QLabel#heading { font-size: 18px; font-weight: 600; }
QLabel#hint { color: #444; }
QLabel#errorText { color: #8a1111; background: #fdecea; border: 1px solid #f5c2c0;
                   border-radius: 4px; padding: 8px; }
QLabel#warningText { color: #6b4e00; background: #fff8e1; border: 1px solid #f3d98b;
                     border-radius: 4px; padding: 8px; }
QLabel#okText { color: #1b5e20; background: #e8f5e9; border: 1px solid #a5d6a7;
                border-radius: 4px; padding: 8px; }
QFrame#signInCard { background: white; border-radius: 8px; padding: 16px; }
QFrame#patientBanner { background: #0b3d5c; color: white; }
QFrame#patientBanner QLabel { color: white; }
QLabel#bannerName { font-size: 18px; font-weight: 700; }
QFrame#patientBanner QLabel#bannerWarning { color: #3d2c00; background: #ffd54f;
                                            border-radius: 4px; padding: 4px 8px; }
QLabel#sectionTitle { font-weight: 600; }
QLabel#entryHint { color: #1f3b57; background: #eef4fb; border-radius: 4px; padding: 4px 8px; }
QLabel#entryHint[refused="true"] { color: #8a1111; background: #fdecea;
                                   border: 1px solid #f5c2c0; }
/* A clear focus ring: where the keyboard is, at a glance (issue 13) */
QPlainTextEdit, QLineEdit, QTextBrowser, QTableWidget, QTableView, QListWidget, QComboBox {
    border: 1px solid #9aa5b1; border-radius: 3px; }
QPlainTextEdit:focus, QLineEdit:focus, QTextBrowser:focus, QTableWidget:focus,
QTableView:focus, QListWidget:focus, QComboBox:focus {
    border: 2px solid #1565c0; }
QPushButton:focus, QCheckBox:focus, QRadioButton:focus {
    outline: 2px solid #1565c0; border: 2px solid #1565c0; border-radius: 3px; padding: 3px 8px; }
QTabBar::tab:focus { border: 2px solid #1565c0; }
"""


def _label(text: str, name: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)  # never interpret server text as rich text
    return label


def heading_label(text: str) -> QLabel:
    return _label(text, "heading")


def hint_label(text: str) -> QLabel:
    return _label(text, "hint")


def error_label(text: str) -> QLabel:
    label = _label(text, "errorText")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label
