"""Back from working offline: the session renewed first, then the kept charts refreshed, then
the sender started — in that order, each step said in words; tries spaced by the shared
backoff (one request per try: a flapping link is no storm); a session that ended asks for a
sign-in. Fakes of one layer (the services it drives)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from app.domain.worklist import Visit, VisitStatus, Worklist
from app.services.errors import ServiceError
from app.services.reconnect import ENDED, RENEWED, SENDING, TRYING, reconnect
from app.services.workbench import SiteServices


@dataclass
class Steps:
    done: list[str] = field(default_factory=list)


class FakeSession:
    def __init__(self, steps: Steps, answers: list[bool | None]) -> None:
        self.steps, self.answers, self.working_offline = steps, answers, True

    async def restore(self) -> bool:
        answer = self.answers.pop(0)
        self.steps.done.append(f"restore:{answer}")
        if answer is None:
            raise ServiceError("The EHR cannot be reached.")
        self.working_offline = not answer
        return answer


class FakeWorklist:
    def __init__(self, steps: Steps) -> None:
        self.steps = steps

    async def load(self) -> Worklist:
        self.steps.done.append("worklist")
        visit = Visit("Encounter/e1", "p1", "A B", None, "Visit", VisitStatus.ARRIVED, "e1")
        return cast(Worklist, type("W", (), {"visits": (visit,)})())


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


async def test_a_session_that_ended_asks_for_a_sign_in_and_sends_nothing() -> None:
    steps, said = Steps(), []
    ok = await reconnect(site(steps, [False]), said.append, sleep=Sleeps(), rng=Half())
    assert not ok and said[-1] == ENDED and "send" not in steps.done
