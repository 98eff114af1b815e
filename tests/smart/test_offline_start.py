"""Starting while the EHR cannot be reached (issue 19): a clinician who signed in online on
this workstation and set an offline PIN unlocks locally — the OS account's keyring holds the
PIN's verifier beside the kept session — within the site's window; nothing is sent meanwhile;
when the EHR answers again the kept session is renewed. Real SMART sign-in against the EHR
(the sandbox, and the peer EHR), the fault proxy as the site's forward proxy cutting the
network."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from keyring.backend import KeyringBackend

from app.domain.offline_unlock import UnlockRefusal
from app.services.errors import ServiceError
from app.services.session import SessionService, SessionState, ehr_unreachable
from app.smart.offline_unlock import OfflineUnlockStore
from tests.smart.conftest import SessionFactory, site_for
from tests.support.fault_proxy import FaultProxy
from tests.support.servers import RunningServer
from tests.support.smart_fixtures import ScriptedBrowser

PIN = "482916"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_offline_start_with_the_app_pin_then_the_session_is_renewed(
    sandbox_server: RunningServer,
    make_session: SessionFactory,
    scripted_browser: ScriptedBrowser,
    file_keyring: KeyringBackend,
) -> None:
    """The sandbox only: the peer EHR's token endpoint is on another origin than its FHIR base,
    and the fault proxy forwards to one upstream."""
    ehr = sandbox_server
    clock = Clock()
    origin = ehr.fhir_base.split("/fhir")[0]  # a forward proxy: asked for the EHR's own URLs
    async with FaultProxy(origin) as proxy:
        site = site_for(ehr, proxy=proxy.base)  # every request of the app goes through it
        unlock = OfflineUnlockStore(site.id, backend=file_keyring)
        online = SessionService(make_session(ehr, site=site).session, unlock, clock=clock)
        await online.sign_in()
        await online.set_offline_pin(PIN)
        approver = online.approver

        await proxy.go_offline()  # the next morning the VPN is down
        clock.now += timedelta(hours=10)
        started = SessionService(make_session(ehr, site=site).session, unlock, clock=clock)
        with pytest.raises(ServiceError) as raised:
            await started.restore()
        assert ehr_unreachable(raised.value) and await started.can_work_offline()
        with pytest.raises(ServiceError) as wrong:
            await started.work_offline("999111")
        assert wrong.value.words == UnlockRefusal.WRONG_PIN.words
        await started.work_offline(PIN)
        assert started.working_offline and started.approver == approver
        assert started.state is SessionState.WORKING_OFFLINE

        await proxy.go_online()  # the EHR is back: the kept session is renewed
        assert await started.restore() is True
        assert started.state is SessionState.SIGNED_IN and not started.working_offline


async def test_too_long_since_the_last_online_sign_in(
    ehr: RunningServer,
    make_session: SessionFactory,
    scripted_browser: ScriptedBrowser,
    file_keyring: KeyringBackend,
) -> None:
    clock = Clock()
    site = site_for(ehr)
    site = replace(site, offline=replace(site.offline, unlock_window=timedelta(hours=8)))
    unlock = OfflineUnlockStore(site.id, backend=file_keyring)
    online = SessionService(make_session(ehr, site=site).session, unlock, clock=clock)
    await online.sign_in()
    await online.set_offline_pin(PIN)
    clock.now += timedelta(hours=9)
    later = SessionService(make_session(ehr, site=site).session, unlock, clock=clock)
    with pytest.raises(ServiceError) as raised:
        await later.work_offline(PIN)
    assert raised.value.words == UnlockRefusal.WINDOW_PASSED.words
    assert not later.working_offline
    await online.sign_out()  # signing out ends offline unlocking on this computer
    assert not await later.can_work_offline()
