"""TokenSet parsing and the single-flight TokenManager (unit level; the same behaviour is
exercised over real HTTP in test_refresh.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from app.smart.errors import NetworkError, SignInRequired, TokenError
from app.smart.tokens import RefreshPolicy, TokenManager, TokenSet

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def tokens(
    access: str = "opaque-1", refresh: str | None = "r1", expires_in: int = 3600
) -> TokenSet:
    data = {"access_token": access, "token_type": "bearer", "expires_in": expires_in}
    if refresh:
        data["refresh_token"] = refresh
    return TokenSet.from_response(data, NOW)


def test_opaque_access_token_is_never_decoded() -> None:
    t = TokenSet.from_response({"access_token": "not.a.jwt!", "token_type": "Bearer", "expires_in": 60,
                                "patient": "p1", "encounter": "e1", "need_patient_banner": True}, NOW)  # fmt: skip
    assert t.expires_at == NOW + timedelta(seconds=60)
    assert (t.patient, t.encounter) == ("p1", "e1")
    assert t.extra == {"need_patient_banner": True}
    assert "not.a.jwt" not in repr(t)


def test_old_refresh_token_kept_when_none_returned() -> None:
    t = TokenSet.from_response(
        {"access_token": "a2", "token_type": "Bearer"}, NOW, previous_refresh_token="r1"
    )
    assert t.refresh_token == "r1" and t.expires_at is None
    assert not t.needs_refresh(NOW + timedelta(days=9), RefreshPolicy())


def test_bad_responses() -> None:
    with pytest.raises(TokenError):
        TokenSet.from_response({"token_type": "Bearer"}, NOW)
    with pytest.raises(TokenError):
        TokenSet.from_response({"access_token": "a", "token_type": "DPoP"}, NOW)


def test_refresh_margin_is_60s_or_10_percent() -> None:
    policy = RefreshPolicy()
    long, short = tokens(expires_in=3600), tokens(expires_in=100)
    assert not long.needs_refresh(NOW + timedelta(seconds=3539), policy)
    assert long.needs_refresh(NOW + timedelta(seconds=3541), policy)
    assert not short.needs_refresh(NOW + timedelta(seconds=89), policy)
    assert short.needs_refresh(NOW + timedelta(seconds=91), policy)


class CountingRefresher:
    def __init__(self, *, fail: Exception | None = None, rotate: bool = True) -> None:
        self.calls = 0
        self.fail = fail
        self.rotate = rotate

    async def refresh(self, current: TokenSet) -> TokenSet:
        self.calls += 1
        await asyncio.sleep(0.05)  # wide window for races
        if self.fail:
            raise self.fail
        data = {
            "access_token": f"opaque-{self.calls + 1}",
            "token_type": "Bearer",
            "expires_in": 3600,
        }
        if self.rotate:
            data["refresh_token"] = f"r{self.calls + 1}"
        return TokenSet.from_response(data, NOW, previous_refresh_token=current.refresh_token)


async def test_single_flight_proactive() -> None:
    clock = [NOW + timedelta(seconds=3590)]
    refresher = CountingRefresher()
    saved: list[str | None] = []

    async def on_changed(old: TokenSet, new: TokenSet) -> None:
        saved.append(new.refresh_token)

    manager = TokenManager(refresher, clock=lambda: clock[0], on_tokens_changed=on_changed)
    manager.set(tokens())
    results = await asyncio.gather(*(manager.access_token() for _ in range(20)))
    assert refresher.calls == 1 and set(results) == {"opaque-2"} and saved == ["r2"]


async def test_single_flight_reactive() -> None:
    refresher = CountingRefresher(rotate=False)
    manager = TokenManager(refresher, clock=lambda: NOW)
    manager.set(tokens())
    results = await asyncio.gather(
        *(manager.refresh_after_rejection("opaque-1") for _ in range(20))
    )
    assert refresher.calls == 1 and set(results) == {"opaque-2"}
    assert manager.current is not None and manager.current.refresh_token == "r1"  # kept


async def test_transient_failure_keeps_a_still_valid_token() -> None:
    manager = TokenManager(
        CountingRefresher(fail=NetworkError()), clock=lambda: NOW + timedelta(seconds=3590)
    )
    manager.set(tokens())
    assert await manager.access_token() == "opaque-1"


async def test_impossible_refresh_reports_once_and_clears() -> None:
    reported: list[SignInRequired] = []

    async def on_required(exc: SignInRequired) -> None:
        reported.append(exc)

    manager = TokenManager(CountingRefresher(fail=SignInRequired()), clock=lambda: NOW + timedelta(days=1),
                           on_sign_in_required=on_required)  # fmt: skip
    manager.set(tokens())
    results = await asyncio.gather(
        *(manager.access_token() for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, SignInRequired) for r in results)
    assert len(reported) == 1 and manager.current is None
