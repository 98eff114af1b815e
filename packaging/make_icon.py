"""Draws the app icon and writes resources/icons/fhir-writeback.ico (16 to 256 px, 7 sizes).

    .venv/bin/python packaging/make_icon.py [--out PATH]

A note (white page, folded corner, text lines) on a rounded blue tile, with a green badge
holding an arrow that points back up into the page: a note written back to the record.
Each size is drawn at 8x and scaled down, so small sizes stay crisp; the tiny sizes leave out
the text lines. Needs Pillow (in the project's dev extras). The .ico is committed: building
the app does not run this; tests/packaging/test_icon.py checks that the two agree.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
ICON = REPO / "resources" / "icons" / "fhir-writeback.ico"
SIZES = (16, 24, 32, 48, 64, 128, 256)
OVERSAMPLE = 8

TILE = (21, 101, 192, 255)  # blue 800
TILE_EDGE = (13, 71, 161, 255)  # blue 900
PAGE = (255, 255, 255, 255)
FOLD = (187, 222, 251, 255)  # blue 100
LINES = (144, 164, 174, 255)  # blue grey 300
BADGE = (46, 125, 50, 255)  # green 800
ARROW = (255, 255, 255, 255)


def draw(size: int) -> Image.Image:
    """The icon at ``size`` pixels, drawn large and scaled down."""
    big = size * OVERSAMPLE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)

    def box(x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
        return (round(x0 * big), round(y0 * big), round(x1 * big), round(y1 * big))

    edge = max(1, round(0.02 * big))
    pen.rounded_rectangle(box(0.03, 0.03, 0.97, 0.97), radius=round(0.2 * big), fill=TILE)
    pen.rounded_rectangle(
        box(0.03, 0.03, 0.97, 0.97), radius=round(0.2 * big), outline=TILE_EDGE, width=edge
    )

    # The page, its top-right corner folded.
    left, top, right, bottom, fold = 0.22, 0.14, 0.70, 0.80, 0.14
    page = [(left, top), (right - fold, top), (right, top + fold), (right, bottom), (left, bottom)]
    pen.polygon([(x * big, y * big) for x, y in page], fill=PAGE)
    corner = [(right - fold, top), (right - fold, top + fold), (right, top + fold)]
    pen.polygon([(x * big, y * big) for x, y in corner], fill=FOLD)
    if size >= 32:
        for i, y in enumerate((0.36, 0.46, 0.56, 0.66)):
            end = right - 0.06 if i % 2 == 0 else right - 0.16
            pen.rounded_rectangle(
                box(left + 0.06, y, end, y + 0.045), radius=round(0.02 * big), fill=LINES
            )

    # The badge: an arrow going up (back into the record).
    cx, cy, r = 0.70, 0.72, 0.22
    pen.ellipse(box(cx - r, cy - r, cx + r, cy + r), fill=BADGE)
    pen.ellipse(box(cx - r, cy - r, cx + r, cy + r), outline=PAGE, width=edge)
    shaft = 0.045
    pen.rectangle(box(cx - shaft, cy - 0.04, cx + shaft, cy + 0.12), fill=ARROW)
    head = [(cx - 0.12, cy - 0.01), (cx, cy - 0.14), (cx + 0.12, cy - 0.01)]
    pen.polygon([(x * big, y * big) for x, y in head], fill=ARROW)

    return image.resize((size, size), Image.Resampling.LANCZOS)


def make_icon(out: Path) -> None:
    images = [draw(size) for size in SIZES]
    out.parent.mkdir(parents=True, exist_ok=True)
    largest = images[-1]
    largest.save(out, format="ICO", sizes=[(s, s) for s in SIZES], append_images=images[:-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ICON)
    make_icon(parser.parse_args().out)


if __name__ == "__main__":
    main()
