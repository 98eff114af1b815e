"""Builds the running app: paths, logging, site configuration, sandbox, services, UI."""

from __future__ import annotations

import logging
from pathlib import Path

from app import __version__
from app.logging_setup import configure_logging
from app.paths import AppPaths
from app.sandbox.options import SandboxOptions
from app.sandbox.server import SandboxServer

log = logging.getLogger(__name__)


def start_embedded_sandbox(paths: AppPaths) -> SandboxServer:
    """The sandbox EHR in-process, persistent in the per-user data folder."""
    server = SandboxServer(SandboxOptions(db_path=paths.data_dir / "sandbox" / "sandbox.db"))
    server.start()
    return server


def run_gui(sites_file: Path | None = None, force_sandbox: bool = False,
            data_dir: Path | None = None) -> int:
    from app.ui.application import run_event_loop
    from app.ui.main_window import MainWindow

    paths = AppPaths.default(data_dir).ensure()
    configure_logging(paths.log_dir)
    log.info("fhir-writeback %s starting", __version__)

    sandbox = start_embedded_sandbox(paths)
    print(f"Sandbox EHR: FHIR base URL: {sandbox.fhir_base}", flush=True)

    def build() -> MainWindow:
        window = MainWindow()
        window.set_site(f"Sandbox EHR ({sandbox.fhir_base})")
        return window

    async def shutdown() -> None:
        sandbox.stop()

    return run_event_loop(build, shutdown)
