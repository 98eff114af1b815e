"""The operating system's word on the network (Qt's ``QNetworkInformation``), where the
platform has a backend: Windows (Network List Manager), macOS, and on Linux NetworkManager,
ConnMan or GLib's network monitor. A change makes the signed-in site's sender probe the EHR
at once (app/sync/reachability.py), so the status follows a lost or regained network within
one probe; without a backend the probes' own schedule is all there is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtNetwork import QNetworkInformation

log = logging.getLogger(__name__)


class NetworkWatch(QObject):
    def __init__(self, on_change: Callable[[], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._on_change = on_change
        self.backend: str | None = None
        if not QNetworkInformation.loadBackendByFeatures(QNetworkInformation.Feature.Reachability):
            log.info("no network information backend here; the EHR is probed on schedule only")
            return
        info = QNetworkInformation.instance()
        if info is None:
            return
        self.backend = info.backendName()
        info.reachabilityChanged.connect(self.on_reachability_changed)
        log.info("network changes come from the %s backend", self.backend)

    def on_reachability_changed(self, reachability: QNetworkInformation.Reachability) -> None:
        log.info("the network changed: %s", reachability.name)
        self._on_change()
