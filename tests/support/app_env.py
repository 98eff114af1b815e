"""The environment of the app started as a process by a test: a private home of its own."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def private_home_env(home: Path) -> dict[str, str]:
    """``os.environ`` with HOME and the XDG folders inside ``home`` (the app's data, log,
    settings and caches stay there) and this repository importable."""
    return {
        **os.environ,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "PYTHONPATH": str(REPO),
    }
