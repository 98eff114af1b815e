"""Sign-in end to end over real HTTP against both EHRs, driven by the scripted browser."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from keyring.backends import fail

from app.smart import session as session_module
from app.smart.errors import (
    AccessDenied,
    IssuerMismatch,
    KeyringError,
    SignInCancelled,
    SignInRequired,
    SignInTimedOut,
    StateMismatch,
    TokenError,
)
from app.smart.pkce import Pkce, new_pkce
from app.smart.session import SessionState, SignInProgress, SignInStep
from tests.smart.conftest import SessionFactory
from tests.support.servers import RunningServer
from tests.support.smart_fixtures import ScriptedBrowser


async def test_full_launch_with_scripted_browser(
    ehr: RunningServer, make_session: SessionFactory, scripted_browser: ScriptedBrowser
) -> None:
    h = make_session(ehr)
    states: list[SessionState] = []
    steps: list[SignInProgress] = []
    h.session.subscribe(on_state=states.append, on_progress=steps.append)

    user = await h.session.sign_in()

    assert h.session.state is SessionState.SIGNED_IN
    assert states == [SessionState.SIGNING_IN, SessionState.SIGNED_IN]
    assert [s.step for s in steps][:2] == [SignInStep.DISCOVERING, SignInStep.WAITING_FOR_BROWSER]
    assert steps[-1].step is SignInStep.DONE
    assert steps[1].authorize_url and "code_challenge_method=S256" in steps[1].authorize_url
    assert user is not None and user.fhir_user is not None
    assert user.fhir_user.reference == "Practitioner/prac-1"
    assert user.fhir_user.url == f"{ehr.fhir_base}/Practitioner/prac-1"
    assert user.display_name and user.display_name != "Practitioner/prac-1"
    assert h.session.context.patient_id  # both servers put a patient in context for prac-1
    report = h.session.scope_report
    assert report is not None and report.identity and report.offline_access
    assert "You are signed in" in await scripted_browser.final_page()
    # the refresh token went to the keyring, nowhere else
    stored = h.store.load()
    assert stored is not None and stored.refresh_token
    assert stored.fhir_user == user.fhir_user.url
    # and the session's auth reads FHIR
    response = await h.http.get(
        f"{ehr.fhir_base}/Patient/{h.session.context.patient_id}", auth=h.session.auth
    )
    assert response.status_code == 200, response.text


async def test_launch_through_login_and_consent_forms(
    ehr_interactive: RunningServer, make_session: SessionFactory, scripted_browser: ScriptedBrowser
) -> None:
    h = make_session(ehr_interactive)
    scripted_browser.mode("login", login="prac-1")
    user = await h.session.sign_in()
    assert user is not None and user.fhir_user is not None
    assert user.fhir_user.reference == "Practitioner/prac-1"
    posts = [e for e in scripted_browser.entries() if e.get("method") == "POST"]
    assert posts, "the login page was expected to be posted"


async def test_user_denial_gives_access_denied(
    ehr_interactive: RunningServer, make_session: SessionFactory, scripted_browser: ScriptedBrowser
) -> None:
    h = make_session(ehr_interactive)
    # The sandbox asks for consent once per user and app (docs/sandbox.md): a user no other
    # test signs in with here meets the consent page to deny. (The peer asks every time.)
    scripted_browser.mode("deny", login="prac-5" if ehr_interactive.name == "sandbox" else "prac-2")
    with pytest.raises(AccessDenied) as info:
        await h.session.sign_in()
    assert "declined" in info.value.message
    assert h.session.state is SessionState.SIGNED_OUT
    assert h.store.load() is None
    assert "Sign-in did not complete" in await scripted_browser.final_page()


async def test_state_mismatch_is_refused(
    ehr: RunningServer, make_session: SessionFactory, scripted_browser: ScriptedBrowser
) -> None:
    h = make_session(ehr)
    scripted_browser.mode("wrong-state")
    with pytest.raises(StateMismatch) as info:
        await h.session.sign_in()
    assert "does not belong to this sign-in" in info.value.message
    assert h.recorder.token_calls("authorization_code") == 0  # the code was never used
    assert h.session.state is SessionState.SIGNED_OUT


async def test_wrong_issuer_is_refused(
    ehr: RunningServer, make_session: SessionFactory, scripted_browser: ScriptedBrowser
) -> None:
    h = make_session(ehr)
    scripted_browser.mode("wrong-iss")
    with pytest.raises(IssuerMismatch):
        await h.session.sign_in()
    assert h.recorder.token_calls("authorization_code") == 0


async def test_wrong_pkce_verifier_is_refused_by_the_server(
    ehr: RunningServer,
    make_session: SessionFactory,
    scripted_browser: ScriptedBrowser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = session_module.build_authorization_request

    def tampered(*args: object, **kwargs: object) -> object:
        request = real(*args, **kwargs)  # type: ignore[arg-type]
        wrong = Pkce(verifier=new_pkce().verifier, challenge=request.pkce.challenge)
        return dataclasses.replace(request, pkce=wrong)

    monkeypatch.setattr(session_module, "build_authorization_request", tampered)
    h = make_session(ehr)
    with pytest.raises(TokenError) as info:
        await h.session.sign_in()
    assert info.value.error == "invalid_grant"
    assert "not accept the one-time sign-in code" in info.value.message
    assert h.recorder.token_calls("authorization_code") == 1
    assert h.session.state is SessionState.SIGNED_OUT
    assert "Sign-in did not complete" in await scripted_browser.final_page()


async def test_cancel_while_waiting_for_the_browser(
    ehr: RunningServer, make_session: SessionFactory, scripted_browser: ScriptedBrowser
) -> None:
    h = make_session(ehr)
    scripted_browser.mode("ignore")
    waiting = asyncio.Event()
    h.session.subscribe(
        on_progress=lambda p: p.step is SignInStep.WAITING_FOR_BROWSER and waiting.set()
    )
    task = asyncio.create_task(h.session.sign_in())
    await asyncio.wait_for(waiting.wait(), 10)
    h.session.cancel_sign_in()
    with pytest.raises(SignInCancelled):
        await asyncio.wait_for(task, 10)
    assert h.session.state is SessionState.SIGNED_OUT


async def test_sign_in_times_out(
    ehr: RunningServer, make_session: SessionFactory, scripted_browser: ScriptedBrowser
) -> None:
    h = make_session(ehr, sign_in_timeout=1.0)
    scripted_browser.mode("ignore")
    with pytest.raises(SignInTimedOut) as info:
        await h.session.sign_in()
    assert "in time" in info.value.message


async def test_restore_from_keyring_then_sign_out_revokes(
    ehr: RunningServer, make_session: SessionFactory, scripted_browser: ScriptedBrowser
) -> None:
    first = make_session(ehr)
    user = await first.session.sign_in()
    assert user is not None
    stored = first.store.load()
    assert stored is not None

    # a new app start: a fresh session object, same site, same keyring
    second = make_session(ehr)
    assert await second.session.restore() is True
    assert second.session.state is SessionState.SIGNED_IN
    assert second.session.user is not None and second.session.user.fhir_user == user.fhir_user
    assert second.recorder.token_calls("refresh_token") == 1
    response = await second.http.get(
        f"{ehr.fhir_base}/Practitioner/prac-1", auth=second.session.auth
    )
    assert response.status_code == 200
    rotated = second.store.load()
    assert rotated is not None

    assert await second.session.sign_out() is True
    assert second.session.state is SessionState.SIGNED_OUT
    assert second.session.user is None and second.session.scope_report is None
    assert second.store.load() is None
    with pytest.raises(SignInRequired):
        await second.http.get(f"{ehr.fhir_base}/Practitioner/prac-1", auth=second.session.auth)
    # the revoked refresh token no longer works at the EHR
    third = make_session(ehr)
    third.store.save(rotated)
    assert await third.session.restore() is False
    assert third.session.state is SessionState.SIGN_IN_REQUIRED
    assert third.store.load() is None


async def test_without_a_keyring_the_session_works_but_says_so(
    ehr: RunningServer, make_session: SessionFactory, scripted_browser: ScriptedBrowser
) -> None:
    h = make_session(ehr, keyring_backend=fail.Keyring())
    await h.session.sign_in()
    assert h.session.state is SessionState.SIGNED_IN
    assert any("keyring" in w and "sign in each time" in w for w in h.session.warnings)
    response = await h.http.get(f"{ehr.fhir_base}/Practitioner/prac-1", auth=h.session.auth)
    assert response.status_code == 200
    with pytest.raises(KeyringError):
        await make_session(ehr, keyring_backend=fail.Keyring()).session.restore()
