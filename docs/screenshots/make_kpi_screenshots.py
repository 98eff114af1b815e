"""Screenshot of "My week" (Tools menu), from the real app against the embedded sandbox: the
clinician signed in, a year of figures in the site's store (tests/support/kpi_data.py: about
5,000 synthetic notes), Tools > My week over the main window.

    Xvfb :91 -screen 0 1366x768x24 & openbox &   (DISPLAY=:91)
    BROWSER="python tests/support/browser.py %s" \\
        .venv/bin/python docs/screenshots/make_kpi_screenshots.py [--size 1366x768]

The picture is taken of the whole screen (``import -window root``) when a window manager runs;
else Qt grabs the dialog.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.bootstrap import open_site_store
from docs.screenshots.sandbox_window import (
    run_script,
    shoot,
    signed_in_window,
    size_of,
    wait_for,
)
from tests.support.kpi_data import seed_year


async def main(size: str, out: Path) -> None:
    width, height = size_of(size)
    async with signed_in_window((width, height)) as shot:
        # a year of figures beside the app's own (the same file; WAL readers and writers coexist)
        folder = shot.paths.data_dir / "sites" / shot.workbench.sites[0].id
        protected = open_site_store(folder, is_sandbox=True)
        seed_year(protected.store, datetime.now().astimezone().date())
        protected.close()

        shot.parts.tools.open_my_week()
        dialog = shot.parts.tools.my_week
        assert dialog is not None
        await wait_for(lambda: dialog.model.report is not None)  # type: ignore[attr-defined]
        dialog.move(max(0, (width - dialog.width()) // 2), max(0, (height - dialog.height()) // 2))
        await asyncio.sleep(0.8)
        shoot(dialog, out / f"my-week-{size}.png")
        dialog.close()


if __name__ == "__main__":
    run_script(main)
