"""resources/icons/fhir-writeback.ico: a real multi-size Windows icon, made by its script."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
ICON = REPO / "resources" / "icons" / "fhir-writeback.ico"
SIZES = {16, 24, 32, 48, 64, 128, 256}


def icon_directory(data: bytes) -> dict[int, bytes]:
    """Size -> image data, read from the ICONDIR / ICONDIRENTRY headers."""
    reserved, kind, count = struct.unpack_from("<HHH", data, 0)
    assert (reserved, kind) == (0, 1), "not an .ico file"
    images = {}
    for i in range(count):
        width, height, _, _, _, _, size, offset = struct.unpack_from("<BBBBHHII", data, 6 + 16 * i)
        assert width == height
        images[width or 256] = data[offset : offset + size]
    return images


def make_icon_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_icon", REPO / "packaging" / "make_icon.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_icon_holds_every_size_windows_asks_for() -> None:
    images = icon_directory(ICON.read_bytes())
    assert set(images) == SIZES
    for size, data in images.items():
        assert data.startswith(b"\x89PNG") or struct.unpack_from("<I", data)[0] == 40, size


def test_the_committed_icon_is_what_the_script_draws() -> None:
    image_module = pytest.importorskip("PIL.Image")
    drawn = make_icon_module()
    with image_module.open(ICON) as icon:
        for size in sorted(SIZES):
            icon.size = (size, size)
            committed = icon.convert("RGBA")
            fresh = drawn.draw(size)
            pixels = zip(committed.tobytes(), fresh.tobytes(), strict=True)
            difference = sum(abs(a - b) for a, b in pixels) / (size * size * 4)
            assert difference < 2, f"{size}px differs by {difference:.1f} per channel"


def test_the_app_and_the_installers_use_it() -> None:
    assert 'icon = ROOT / "resources" / "icons" / "fhir-writeback.ico"' in (
        REPO / "packaging" / "fhir-writeback.spec"
    ).read_text(encoding="utf-8")
    assert "resources/icons/fhir-writeback.ico" in (REPO / "installer.nsi").read_text("utf-8")
