"""The OS's word on the network reaches the sender (app/ui/network.py): a change asks for a
probe at once (the runner's side: tests/sync/test_reachability.py)."""

from __future__ import annotations

from PySide6.QtNetwork import QNetworkInformation
from pytestqt.qtbot import QtBot

from app.ui.network import NetworkWatch


def test_a_network_change_is_passed_on(qtbot: QtBot) -> None:
    changes: list[bool] = []
    watch = NetworkWatch(lambda: changes.append(True))
    info = QNetworkInformation.instance()
    if watch.backend is not None:  # a platform backend (Linux: GLib, NetworkManager, ConnMan)
        assert info is not None and info.backendName() == watch.backend
    watch.on_reachability_changed(
        QNetworkInformation.Reachability.Disconnected
    )  # as the backend signals it
    watch.on_reachability_changed(QNetworkInformation.Reachability.Online)
    assert changes == [True, True]
