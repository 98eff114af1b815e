"""Runs the real app (``app.main.main``) and records what it had loaded when its main window
first painted: the modules, the time since the process started, CPU time and peak RSS.

    python tests/support/startup_probe.py REPORT.json KEYRING_FOLDER -- APP ARGUMENTS...

The report is written at the first paint event of the main window, which then closes (the app
shuts down as it would when the clinician closes it). It is written again with ``ready_seconds``
when a timer set for 20 ms after the paint fires: the first moment the window could answer
input (the rest of the window is built on the GUI thread right after the paint). Only two things are set up around the
app: a file keyring the app accepts as the OS keyring (this machine has none, and a real site's
store needs one), and an event filter on the QApplication that sees the paint. Used by
tests/ui/test_startup.py and benchmarks/bench_startup.py.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

# The launcher's clock and this process's start time: the benchmark measures from exec.
_STARTED = float(os.environ.get("STARTUP_PROBE_T0", time.time()))
WATCHED = (
    *("app", "flask", "werkzeug", "sqlalchemy", "alembic", "fhir", "cryptography", "httpx"),
    *("pyqtgraph", "numpy", "pydantic", "rapidfuzz", "dateparser", "rich", "click", "pygments"),
    *("authlib", "joserfc", "waitress", "msgspec"),
)


def _report(path: Path) -> dict[str, object]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report: dict[str, object] = {
        "seconds": time.time() - _STARTED,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "modules": sorted(m for m in sys.modules if m.split(".")[0] in WATCHED),
    }
    path.write_text(json.dumps(report), encoding="utf-8")
    return report


def _ready(path: Path, report: dict[str, object]) -> None:
    report["ready_seconds"] = time.time() - _STARTED
    path.write_text(json.dumps(report), encoding="utf-8")


def main(argv: list[str]) -> int:
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    report_path, keyring_folder = Path(argv[0]), Path(argv[1])
    app_args = argv[argv.index("--") + 1 :]

    class FirstPaint(QObject):
        seen = False

        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            painted = event.type() == QEvent.Type.Paint and isinstance(watched, QMainWindow)
            if painted and not self.seen:
                self.seen = True
                report = _report(report_path)
                QTimer.singleShot(20, lambda: _ready(report_path, report))
                QTimer.singleShot(300, watched.close)
            return False

    qt_app = QApplication(sys.argv[:1])
    probe = FirstPaint()
    qt_app.installEventFilter(probe)
    _accept_file_keyring(keyring_folder)
    from app.main import main as app_main

    return app_main(app_args)


def _accept_file_keyring(folder: Path) -> None:
    import keyring
    from keyrings.alt.file import PlaintextKeyring

    import app.keyring_policy as policy

    backend = PlaintextKeyring()
    backend.file_path = str(folder / "keyring_pass.cfg")  # type: ignore[misc]
    keyring.set_keyring(backend)
    policy.OS_KEYRINGS = frozenset({PlaintextKeyring})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
