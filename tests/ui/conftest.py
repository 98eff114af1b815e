"""Fixtures shared by the window tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.bootstrap import build_workbench
from app.domain.site import Site
from app.paths import AppPaths
from app.services.workbench import Workbench
from tests.support.servers import RunningServer


@pytest.fixture
def sandbox_workbench(tmp_path: Path, sandbox_server: RunningServer) -> Iterator[Workbench]:
    """The app's Workbench with one site: the session's sandbox EHR."""
    paths = AppPaths(
        tmp_path / "data", tmp_path / "log", tmp_path / "cfg", tmp_path / "site"
    ).ensure()
    site = Site(
        id="test-sandbox",
        display_name="Test sandbox",
        fhir_base=sandbox_server.fhir_base,
        client_id=sandbox_server.client_id,
    )
    yield build_workbench(paths, [site])
