"""Back from working offline: renew the session, refresh the kept charts, send — in that order.

    reconnect(site, say)   while the session is unlocked locally (app.services.session), try to
                           renew it (the kept refresh token) with the sender's backoff (10 s,
                           then up to 60 s, jittered: a flapping link costs one request per
                           try, never a storm); once renewed, read the day's worklist again
                           and keep its charts (awaited), then start the sender, which sends
                           what was approved offline. ``say`` tells the status bar each step
                           in words ("" when done).

    link_back_steps(site, say)  the same order when the app was signed in and only the link went
                           away: awaited by the sender before its first send once the EHR
                           answers again (``SyncRunner.before_drain``): the session renewed if
                           its access token has expired or is about to, the stale kept charts
                           re-read — for at most ``CHART_REFRESH_CAP`` seconds, so notes are
                           never held back long (the rest is re-read in the background) — then
                           the drain.

A kept session that has ended (its refresh token refused) is not an error here: the session
says SIGN_IN_REQUIRED, the window asks for a sign-in (the lock's prompt) without losing what
was typed or queued, and the steps go on once the clinician signed in.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

from app.domain.reachability import OFFLINE_BACKOFF
from app.domain.retry import BackoffPolicy, RandomSource
from app.services.errors import ServiceError
from app.services.session import SessionState
from app.services.workbench import SiteServices

log = logging.getLogger(__name__)

TRYING = "Working offline — the EHR cannot be reached; trying again in the background."
RENEWED = "Reconnected: session renewed — refreshing the charts kept on this computer…"
SENDING = "Reconnected — sending the notes approved offline…"
BACK = "Reconnected — renewing the session…"
REFRESHING = "Reconnected — refreshing the charts kept on this computer…"
CHART_REFRESH_CAP = 5.0  # seconds: a stale chart is one batch (a few at 300 ms); notes first after
ENDED = "Reconnected, but your session has ended: sign in again (nothing is lost)."


async def reconnect(
    site: SiteServices,
    say: Callable[[str], None],
    *,
    policy: BackoffPolicy = OFFLINE_BACKOFF,
    rng: RandomSource | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> bool:
    """True once the session was renewed (or signed in again) and the sender started; False
    when the clinician signed out meanwhile or the sender could not start."""
    rng = rng or random.Random()
    attempt = 0
    while site.session.state is not SessionState.SIGNED_IN:
        attempt += 1
        if site.session.working_offline:
            say(TRYING)
            await sleep(policy.delay(attempt, rng).total_seconds())
            try:
                if not await site.session.restore():
                    say(ENDED)  # the window asks for a sign-in; the loop waits for it
            except ServiceError as exc:
                log.info("reconnect: not yet (%s)", type(exc.__cause__).__name__)
        elif site.session.state is SessionState.SIGN_IN_REQUIRED:
            await sleep(1.0)  # the clinician signs in at the lock's prompt
        else:
            return False  # signed out meanwhile: nothing to send for anyone
    say(RENEWED)
    await _refresh_kept_charts(site)
    say(SENDING)
    try:
        await site.outbox.start_sync()
    except ServiceError as exc:
        say(exc.words)
        return False
    say("")
    return True


async def _refresh_kept_charts(site: SiteServices) -> None:
    if site.offline is None:
        return
    try:
        worklist = await site.worklist.load()  # the EHR's day again (the offline copy updated)
    except ServiceError:
        return  # the sender comes next all the same: approved notes are not held back
    try:
        await site.offline.prefetch(worklist.charts_to_keep())
    except ServiceError as exc:
        log.warning("reconnect: the kept charts were not refreshed (%s)", exc.words)


def link_back_steps(
    site: SiteServices, say: Callable[[str], None], *, cap: float = CHART_REFRESH_CAP
) -> Callable[[], Awaitable[None]]:
    """The sender's ``before_drain`` for a signed-in session whose link came back."""

    async def steps() -> None:
        refresh = site.offline.refresh_kept if site.offline is not None else None
        await after_link_back(site.session.renew_if_due, refresh, say, cap=cap)

    return steps


async def after_link_back(
    renew: Callable[[], Awaitable[bool]],
    refresh: Callable[[], Awaitable[object]] | None,
    say: Callable[[str], None],
    *,
    cap: float = CHART_REFRESH_CAP,
) -> None:
    """Renew, then refresh (capped), then say the drain starts. Never raises for the EHR: a
    refused session ends in the lock's sign-in prompt, and the sender pauses by itself."""
    say(BACK)
    try:
        await renew()
    except ServiceError as exc:
        log.info("link back: the session was not renewed (%s)", type(exc.__cause__).__name__)
        say(exc.words)
        return  # the sender's own requests meet the same answer and wait for a sign-in
    if refresh is not None:
        say(REFRESHING)
        try:
            await asyncio.wait_for(refresh(), cap)
        except TimeoutError:
            log.info("link back: the kept charts took over %.0f s; sending first", cap)
        except ServiceError as exc:
            log.warning("link back: the kept charts were not refreshed (%s)", exc.words)
    say(SENDING)
    say("")  # the drain starts now; the Outbox's own line says how it goes
