"""Where the bundled read-only resources live (source tree, wheel or PyInstaller bundle).

A leaf module with no imports from the app, so every layer (and the sandbox) may use it.
"""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:  # PyInstaller one-folder bundle: resources/ sits next to the code
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def resource_path(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)


def vendor_profile_names() -> tuple[str, ...]:
    """Names of the bundled vendor profiles (``resources/profiles/<name>.json``), sorted."""
    return tuple(sorted(p.stem for p in resource_path("profiles").glob("*.json")))
