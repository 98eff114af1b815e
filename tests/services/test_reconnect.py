"""Back from working offline: the session renewed first, then the kept charts refreshed, then
the sender started — in that order, each step said in words; tries spaced by the shared
backoff (one request per try: a flapping link is no storm); a session that ended asks for a
sign-in. Fakes of one layer (the services it drives)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

from app.domain.clock import utc_now
from app.domain.worklist import Visit, VisitStatus, Worklist
from app.services.errors import ServiceError
from app.services.reconnect import (
    BACK,
    ENDED,
    REFRESHING,
    RENEWED,
    SENDING,
    TRYING,
    after_link_back,
    reconnect,
)
from app.services.session import SessionState
from app.services.workbench import SiteServices


@dataclass
class Steps:
    done: list[str] = field(default_factory=list)


class FakeSession:
    def __init__(self, steps: Steps, answers: list[bool | None]) -> None:
        self.steps, self.answers = steps, answers
        self.state = SessionState.WORKING_OFFLINE

    @property
    def working_offline(self) -> bool:
        return self.state is SessionState.WORKING_OFFLINE

    async def restore(self) -> bool:
        answer = self.answers.pop(0)
        self.steps.done.append(f"restore:{answer}")
        if answer is None:
            raise ServiceError("The EHR cannot be reached.")
        self.state = SessionState.SIGNED_IN if answer else SessionState.SIGN_IN_REQUIRED
        return answer


class FakeWorklist:
    def __init__(self, steps: Steps) -> None:
        self.steps = steps

    async def load(self) -> Worklist:
        self.steps.done.append("worklist")
        visit = Visit("Encounter/e1", "p1", "A B", None, "Visit", VisitStatus.ARRIVED, "e1")
        return Worklist("Practitioner/p", date(2026, 12, 7), (visit,), utc_now())


class FakeOffline:
    def __init__(self, steps: Steps) -> None:
        self.steps = steps

    async def prefetch(self, targets: list[tuple[str, str]]) -> None:
        self.steps.done.append(f"prefetch:{targets}")


class FakeOutbox:
    def __init__(self, steps: Steps) -> None:
        self.steps = steps

    async def start_sync(self) -> None:
        self.steps.done.append("send")


def site(steps: Steps, answers: list[bool | None]) -> SiteServices:
    fake: Any = type("Site", (), {})()
    fake.session = FakeSession(steps, answers)
    fake.worklist = FakeWorklist(steps)
    fake.offline = FakeOffline(steps)
    fake.outbox = FakeOutbox(steps)
    return cast(SiteServices, fake)


class Sleeps:
    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


class Half:
    def random(self) -> float:
        return 0.5


async def test_renew_then_refresh_then_send_saying_each_step() -> None:
    steps, said, sleeps = Steps(), [], Sleeps()
    ok = await reconnect(site(steps, [None, None, True]), said.append, sleep=sleeps, rng=Half())
    assert ok
    assert steps.done == [
        "restore:None",
        "restore:None",
        "restore:True",
        "worklist",
        "prefetch:[('p1', 'e1')]",
        "send",
    ]
    assert said == [TRYING, TRYING, TRYING, RENEWED, SENDING, ""]
    assert sleeps.seconds == [10.0, 10.0, 20.0]  # the sender's backoff: one try each time


async def test_a_session_that_ended_waits_for_the_sign_in_then_goes_on() -> None:
    steps, said = Steps(), []
    services = site(steps, [False])
    session = cast(FakeSession, services.session)

    async def sleep(seconds: float) -> None:
        if said[-1] == ENDED and "send" not in steps.done:
            assert "worklist" not in steps.done  # nothing refreshed or sent before the sign-in
            session.state = SessionState.SIGNED_IN  # the clinician signed in at the lock

    ok = await reconnect(services, said.append, sleep=sleep, rng=Half())
    assert ok and ENDED in said and steps.done[-1] == "send"


async def test_signed_out_meanwhile_sends_nothing() -> None:
    steps = Steps()
    services = site(steps, [])
    cast(FakeSession, services.session).state = SessionState.SIGNED_OUT
    assert await reconnect(services, lambda _words: None, sleep=Sleeps(), rng=Half()) is False
    assert steps.done == []


async def test_link_back_a_refused_renewal_says_so_and_refreshes_nothing() -> None:
    steps, said = Steps(), []

    async def renew() -> bool:
        steps.done.append("renew")
        raise ServiceError("Your session has ended: sign in again.")

    async def refresh() -> None:
        steps.done.append("refresh")

    await after_link_back(renew, refresh, said.append)
    assert steps.done == ["renew"]  # the lock's sign-in prompt comes next; the sender waits
    assert said == [BACK, "Your session has ended: sign in again."]


async def test_link_back_renews_then_refreshes_then_says_the_drain_starts() -> None:
    steps, said = Steps(), []

    async def renew() -> bool:
        steps.done.append("renew")
        return True

    async def refresh() -> None:
        steps.done.append(f"refresh after {said[-1]}")

    await after_link_back(renew, refresh, said.append)
    assert steps.done == ["renew", f"refresh after {REFRESHING}"]
    assert said == [BACK, REFRESHING, SENDING, ""]
