"""File › Quit: in the menu bar from the sign-in window's first paint (Ctrl+Q and Alt+F work at
once), apart from app.ui.menus, whose menus are built after that paint."""

from __future__ import annotations

from PySide6.QtGui import QAction

from app.ui.main_window import MainWindow
from app.ui.shortcuts import make_action


class FileMenu:
    """File › Quit (Ctrl+Q): closes the window, as its close button does (the unsent-notes
    question included), and the app ends after the shutdown."""

    def __init__(self, window: MainWindow) -> None:
        menu = window.menu("&File")
        self.quit_action = make_action(window, "quit", window.close)
        self.quit_action.setText("&Quit")  # Alt+F, Q
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        menu.addAction(self.quit_action)
