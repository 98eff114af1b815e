"""Consent is asked once per user, client and scopes (as real authorization servers do), and
remembered across sandbox restarts; ``prompt=consent`` asks again."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.sandbox.test_auth_support import (
    DEFAULT_SCOPE,
    FirstForm,
    Launch,
    RunningAuth,
    callback_query,
    exchange,
    new_launch,
    running_auth,
    through_pages,
)


def after_login(auth: RunningAuth, launch: Launch, login: str = "prac-1") -> httpx.Response:
    """The answer to the login page's form: the consent page (200) or the redirect (302)."""
    page = auth.http.get(auth.urls.authorize, params=launch.params)
    form = FirstForm(page.text)
    return auth.http.post(auth.urls.base + str(form.action), data={**form.fields, "login": login})


def asks_consent(response: httpx.Response) -> bool:
    return (
        response.status_code == 200 and ("decision", "approve") in FirstForm(response.text).buttons
    )


def test_consent_is_asked_once_per_user_and_client(tmp_path: Path) -> None:
    with running_auth(tmp_path / "sandbox.db") as auth:
        assert asks_consent(after_login(auth, new_launch(auth)))
        through_pages(auth, new_launch(auth))  # allowed
        again = new_launch(auth)
        response = after_login(auth, again)
        assert not asks_consent(response)
        code = callback_query(response, again)["code"]
        assert exchange(auth, again, code).status_code == 200  # a real sign-in
        # another user, another client: asked
        assert asks_consent(after_login(auth, new_launch(auth), login="prac-2"))
        assert asks_consent(after_login(auth, new_launch(auth, client_id="smart-note-app")))


def test_a_wider_request_or_prompt_consent_asks_again(tmp_path: Path) -> None:
    with running_auth(tmp_path / "sandbox.db") as auth:
        through_pages(auth, new_launch(auth))
        narrower = " ".join(DEFAULT_SCOPE.split()[:-1])
        assert not asks_consent(after_login(auth, new_launch(auth, scope=narrower)))
        wider = DEFAULT_SCOPE + " patient/Communication.rs"
        assert asks_consent(after_login(auth, new_launch(auth, scope=wider)))
        assert asks_consent(after_login(auth, new_launch(auth, prompt="consent")))


def test_a_denial_is_not_remembered(tmp_path: Path) -> None:
    with running_auth(tmp_path / "sandbox.db") as auth:
        denied = new_launch(auth)
        assert callback_query(through_pages(auth, denied, decision="deny"), denied)["error"] == (
            "access_denied"
        )
        assert asks_consent(after_login(auth, new_launch(auth)))


def test_consent_survives_a_restart_with_the_same_database(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.db"
    with running_auth(db) as auth:
        through_pages(auth, new_launch(auth))
    with running_auth(db) as auth:
        assert not asks_consent(after_login(auth, new_launch(auth)))
    with running_auth(tmp_path / "other.db") as auth:
        assert asks_consent(after_login(auth, new_launch(auth)))
