"""Fixtures shared by the window tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.bootstrap import build_workbench
from app.domain.site import Site
from app.paths import AppPaths
from app.services.workbench import Workbench
from tests.support.servers import RunningServer


def workbench_on(tmp_path: Path, server: RunningServer) -> Workbench:
    """The app's Workbench with one site, ``server`` (the sandbox or the peer EHR), and every
    folder of its own inside ``tmp_path``."""
    paths = AppPaths(
        tmp_path / "data", tmp_path / "log", tmp_path / "cfg", tmp_path / "site"
    ).ensure()
    site = Site(
        id=f"test-{server.name}",
        display_name=f"Test {server.name}",
        fhir_base=server.fhir_base,
        client_id=server.client_id,
    )
    return build_workbench(paths, [site])


@pytest.fixture
def sandbox_workbench(tmp_path: Path, sandbox_server: RunningServer) -> Workbench:
    """The app's Workbench with one site: the session's sandbox EHR."""
    return workbench_on(tmp_path, sandbox_server)
