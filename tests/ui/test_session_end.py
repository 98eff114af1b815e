"""Issue 14 item 1 in the GUI: a session the EHR cannot renew (no refresh token) says when it
ends and asks for a sign-in shortly before — never in the middle of a pass of the outbox.

The session is a real sign-in to a sandbox that issues no refresh tokens (``--quirk
no-refresh-token``), through the scripted browser; the clock and "a pass is sending" are the
test's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest
from keyring.backend import KeyringBackend

from app.domain.site import Site
from app.services.session import SessionKeeping, SessionService
from app.smart.keyring_store import RefreshTokenStore
from app.smart.session import SmartSession
from app.ui.session_end import SessionEndNotice
from tests.support.servers import RunningServer, start_sandbox
from tests.support.smart_fixtures import ScriptedBrowser


@pytest.fixture(scope="module")
def no_refresh_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_sandbox(
        tmp_path_factory.mktemp("no-refresh-ui"), auto_login="prac-1:pat-1",
        quirks=("no-refresh-token",), token_ttl=1200,
    )  # fmt: skip
    yield server
    server.stop()


async def test_the_window_says_when_the_session_ends_and_asks_after_the_pass(
    no_refresh_site: RunningServer,
    scripted_browser: ScriptedBrowser,
    file_keyring: KeyringBackend,
    qtbot: object,
) -> None:
    site = Site("norefresh", "No-refresh EHR", no_refresh_site.fhir_base, "fhir-writeback")
    async with httpx.AsyncClient(timeout=20) as http:
        smart = SmartSession(
            site, http, token_store=RefreshTokenStore(site.id, backend=file_keyring)
        )
        await smart.sign_in()
        session = SessionService(smart)
        lifetime = session.lifetime
        assert lifetime is not None and lifetime.keeping is SessionKeeping.ENDS
        assert lifetime.ends_at is not None
        ends_at: datetime = lifetime.ends_at

        now = [ends_at - timedelta(minutes=20)]
        sending = [False]
        notice = SessionEndNotice(session, lambda: sending[0], lambda: now[0])
        lines: list[str] = []
        asked: list[str] = []
        notice.notice.connect(lines.append)
        notice.sign_in_due.connect(asked.append)

        notice.check()  # twenty minutes left: said, not asked
        assert lines[-1].endswith(
            f"session ends at {ends_at.astimezone():%H:%M} (in about 20 minutes)"
        )
        assert asked == []

        now[0] = ends_at - timedelta(minutes=4)
        sending[0] = True
        notice.check()  # due, but a pass is sending: it finishes first
        assert asked == []

        sending[0] = False
        notice.check()  # the pass ended: asked once
        notice.check()
        assert len(asked) == 1
        assert (
            f"Your EHR session ends at {ends_at.astimezone():%H:%M} (in about 4 minutes)"
            in asked[0]
        )
        assert "Sign in again now so sending is not interrupted" in asked[0]
        await smart.aclose()
