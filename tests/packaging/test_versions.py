"""packaging/versions.py: the version strings the Windows packages derive from pyproject."""

from __future__ import annotations

import importlib.util
import itertools
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from packaging.version import Version as Pep440

REPO = Path(__file__).resolve().parents[2]
ORDERED = [
    "0.1.0.dev1",
    "0.1.0a1.dev1",
    "0.1.0a1",
    "0.1.0a1.post1",
    "0.1.0a2",
    "0.1.0b1",
    "0.1.0rc1",
    "0.1.0rc2",
    "0.1.0",
    "0.1.0.post1.dev1",
    "0.1.0.post1",
    "0.1.1",
    "0.2.0",
    "0.10.0",
    "1.0.0.1",
    "10.0",
]


def versions_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("versions", REPO / "packaging" / "versions.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["versions"] = module
    spec.loader.exec_module(module)
    return module


versions = versions_module()


def test_the_sort_key_orders_versions_as_pep_440_does() -> None:
    for a, b in itertools.product(ORDERED, repeat=2):
        key_a, key_b = (versions.Version.parse(v).sort_key() for v in (a, b))
        assert (key_a < key_b) == (Pep440(a) < Pep440(b)), (a, b)
        assert (key_a == key_b) == (Pep440(a) == Pep440(b)), (a, b)
    assert versions.Version.parse("1.0").sort_key() == versions.Version.parse("1.0.0").sort_key()


@pytest.mark.parametrize(
    ("version", "file_version", "msi_version"),
    [("0.1.0", "0.1.0.0", "0.1.0"), ("1.2.3rc1", "1.2.3.0", "1.2.3"), ("2.0", "2.0.0.0", "2.0.0")],
)
def test_windows_version_numbers(version: str, file_version: str, msi_version: str) -> None:
    parsed = versions.Version.parse(version)
    assert (parsed.file_version(), parsed.msi_version()) == (file_version, msi_version)


@pytest.mark.parametrize("text", ["1.0-rc1", "v1.0", "1!1.0", "1.0+local", "1.2.3.4.5", "1.0RC1"])
def test_what_the_installers_cannot_compare_is_refused(text: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "packaging" / "versions.py"), "check", text],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "is not a canonical PEP 440 version" in proc.stderr
