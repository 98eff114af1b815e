"""The PyInstaller one-folder bundle builds, reports its version and passes its self-test."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_bundle_builds_and_passes_its_self_test_offscreen() -> None:
    """packaging/test_bundle.sh: build (35-130 s here), --version, --self-test offscreen."""
    proc = subprocess.run(
        ["bash", "packaging/test_bundle.sh"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=880,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-6000:]
    assert "ok    --version: fhir-writeback " in proc.stdout
    assert "self-test: healthy" in proc.stdout
    assert "ok    sites validate: a good file 0, an http:// one 3" in proc.stdout
    assert "PASS  sign-in" in proc.stdout, "the bundled app must sign in to the bundled sandbox"
