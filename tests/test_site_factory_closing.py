"""The SiteFactory closes the site stores when the app ends, also one still opening then."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from app import bootstrap
from app.bootstrap import SiteFactory
from app.domain.site import Site
from app.paths import AppPaths
from app.store.errors import StoreClosed
from app.store.protected import ProtectedStore


async def test_a_store_still_opening_when_the_app_ends_is_closed_and_none_opens_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sign-in cancelled by the quit leaves its worker thread opening the site's store; the
    factory's close used to run past it (the store was not in its list yet), and the store it
    opened then stayed open (seen as store.db left open by the kept-session window test)."""
    paths = AppPaths(tmp_path / "d", tmp_path / "l", tmp_path / "c", tmp_path / "s").ensure()
    factory = SiteFactory(paths, None)
    site = Site(id="s", display_name="S", fhir_base="https://ehr.example/fhir", client_id="c")
    opening, go_on = threading.Event(), threading.Event()
    real_open = bootstrap.open_site_store

    def slow_open(*args: Any, **kwargs: Any) -> ProtectedStore:
        opening.set()
        go_on.wait(10)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(bootstrap, "open_site_store", slow_open)
    loop = asyncio.get_running_loop()
    opened = loop.run_in_executor(None, factory.store, site)
    assert await loop.run_in_executor(None, opening.wait, 10)
    closing = asyncio.ensure_future(factory.aclose())
    await asyncio.sleep(0.1)  # the close is under way while the store still opens
    go_on.set()
    protected = await opened
    await closing
    assert protected.store.db.closed  # closed with the others, not left open
    with pytest.raises(StoreClosed):  # and nothing opens a store after the close
        factory.store(site)
