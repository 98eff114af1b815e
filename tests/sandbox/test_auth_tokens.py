"""Token lifecycle at the sandbox: refresh rotation and reuse, revocation, expiry,
introspection, userinfo, the signed id_token, and persistence across a restart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from tests.sandbox.test_auth_support import (
    RunningAuth,
    callback_query,
    exchange,
    new_launch,
    refresh,
    running_auth,
    sign_in,
)


@pytest.fixture
def auth(tmp_path: Path) -> Iterator[RunningAuth]:
    with running_auth(tmp_path / "sandbox.db", auto_login="prac-1:pat-1") as running:
        yield running


def live(auth: RunningAuth, access_token: str) -> bool:
    return auth.service.verify_access_token(access_token) is not None


def introspect(auth: RunningAuth, token: str, hint: str | None = None) -> dict[str, object]:
    data = {"token": token, "client_id": "fhir-writeback"}
    if hint:
        data["token_type_hint"] = hint
    r = auth.http.post(auth.urls.introspect, data=data)
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def revoke(auth: RunningAuth, token: str, hint: str | None = None) -> None:
    data = {"token": token, "client_id": "fhir-writeback"}
    if hint:
        data["token_type_hint"] = hint
    r = auth.http.post(auth.urls.revoke, data=data)
    assert r.status_code == 200, r.text


# -- refresh ----------------------------------------------------------------------------------


def test_refresh_rotates_and_a_rotated_token_is_refused(auth: RunningAuth) -> None:
    first = sign_in(auth)
    second = refresh(auth, first["refresh_token"])
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["refresh_token"] != first["refresh_token"]
    assert body["access_token"] != first["access_token"]
    assert body["scope"] == first["scope"]
    assert body["expires_in"] == 3600
    assert (body["patient"], body["encounter"]) == ("pat-1", "enc-1")
    assert live(auth, body["access_token"])

    third = refresh(auth, body["refresh_token"])
    assert third.status_code == 200
    assert third.json()["refresh_token"] not in (first["refresh_token"], body["refresh_token"])


def test_reusing_a_rotated_refresh_token_revokes_the_whole_session(auth: RunningAuth) -> None:
    first = sign_in(auth)
    rotated = refresh(auth, first["refresh_token"]).json()

    reuse = refresh(auth, first["refresh_token"])
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    assert "already used" in reuse.json()["error_description"]
    # One of the two holders is not the app: everything of that sign-in is dead now.
    assert not live(auth, rotated["access_token"])
    assert refresh(auth, rotated["refresh_token"]).json()["error"] == "invalid_grant"
    # Another sign-in is untouched.
    other = sign_in(auth)
    assert live(auth, other["access_token"])


def test_concurrent_refreshes_with_one_token_give_exactly_one_success(auth: RunningAuth) -> None:
    token = sign_in(auth)["refresh_token"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: refresh(auth, token).status_code, range(4)))
    assert sorted(results) == [200, 400, 400, 400]


def test_refresh_may_narrow_but_not_widen_the_scope(auth: RunningAuth) -> None:
    first = sign_in(auth, scope="openid launch/patient offline_access patient/*.rs")
    narrow = refresh(auth, first["refresh_token"], scope="offline_access patient/*.rs")
    assert narrow.status_code == 200, narrow.text
    body = narrow.json()
    assert body["scope"] == "offline_access patient/*.rs"
    assert "patient" not in body  # launch/patient was left out
    claims = auth.service.verify_access_token(body["access_token"])
    assert claims is not None and claims.scope == "offline_access patient/*.rs"
    # The new refresh token keeps the original grant (RFC 6749 section 6).
    again = refresh(auth, body["refresh_token"])
    assert again.json()["scope"] == first["scope"]

    wider = refresh(auth, again.json()["refresh_token"], scope="patient/*.rs user/*.cruds")
    assert wider.status_code == 400
    assert wider.json()["error"] == "invalid_scope"


def test_refresh_token_belongs_to_its_client(auth: RunningAuth) -> None:
    first = sign_in(auth)
    other = refresh(auth, first["refresh_token"], client_id="fhirclient-test")
    assert other.status_code == 400 and other.json()["error"] == "invalid_grant"


def test_unknown_refresh_token_is_invalid_grant(auth: RunningAuth) -> None:
    r = refresh(auth, "no-such-token")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


# -- revocation (RFC 7009) --------------------------------------------------------------------


def test_revoking_the_refresh_token_ends_the_session(auth: RunningAuth) -> None:
    first = sign_in(auth)
    revoke(auth, first["refresh_token"], "refresh_token")
    assert not live(auth, first["access_token"])
    assert refresh(auth, first["refresh_token"]).json()["error"] == "invalid_grant"


def test_revoking_the_access_token_ends_only_that_token(auth: RunningAuth) -> None:
    first = sign_in(auth)
    revoke(auth, first["access_token"])  # no hint
    assert not live(auth, first["access_token"])
    after = refresh(auth, first["refresh_token"])
    assert after.status_code == 200
    assert live(auth, after.json()["access_token"])


def test_wrong_hint_still_finds_the_token(auth: RunningAuth) -> None:
    first = sign_in(auth)
    revoke(auth, first["access_token"], "refresh_token")
    assert not live(auth, first["access_token"])


def test_revoking_an_unknown_token_is_ok(auth: RunningAuth) -> None:
    revoke(auth, "never-issued")


def test_revocation_needs_a_client(auth: RunningAuth) -> None:
    first = sign_in(auth)
    r = auth.http.post(auth.urls.revoke, data={"token": first["access_token"]})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert live(auth, first["access_token"])


# -- expiry, introspection, userinfo ----------------------------------------------------------


def test_access_token_expires_after_token_ttl(tmp_path: Path) -> None:
    with running_auth(tmp_path / "db", auto_login="prac-1", token_ttl=1) as auth:
        body = sign_in(auth)
        assert body["expires_in"] == 1
        assert live(auth, body["access_token"])
        time.sleep(1.1)
        assert not live(auth, body["access_token"])
        assert introspect(auth, body["access_token"]) == {"active": False}
        # The refresh token outlives it, which is the point of having one.
        renewed = refresh(auth, body["refresh_token"])
        assert renewed.status_code == 200
        assert live(auth, renewed.json()["access_token"])


def test_introspection_describes_live_tokens_only(auth: RunningAuth) -> None:
    first = sign_in(auth)
    info = introspect(auth, first["access_token"])
    assert info["active"] is True
    assert info["client_id"] == "fhir-writeback"
    assert info["sub"] == "prac-1"
    assert info["scope"] == first["scope"]
    assert info["patient"] == "pat-1"
    assert info["fhirUser"] == f"{auth.urls.fhir_base}/Practitioner/prac-1"
    assert introspect(auth, first["refresh_token"], "refresh_token")["active"] is True

    refresh(auth, first["refresh_token"])
    assert introspect(auth, first["refresh_token"]) == {"active": False}
    assert introspect(auth, "never-issued") == {"active": False}


def test_userinfo_needs_a_live_openid_token(auth: RunningAuth) -> None:
    first = sign_in(auth)
    r = auth.http.get(
        auth.urls.userinfo, headers={"Authorization": f"Bearer {first['access_token']}"}
    )
    assert r.status_code == 200
    assert r.json() == {
        "sub": "prac-1",
        "fhirUser": f"{auth.urls.fhir_base}/Practitioner/prac-1",
        "name": "Dr Ana Müller",
    }
    assert auth.http.get(auth.urls.userinfo).status_code == 401
    no_openid = sign_in(auth, scope="patient/*.rs")
    r = auth.http.get(
        auth.urls.userinfo, headers={"Authorization": f"Bearer {no_openid['access_token']}"}
    )
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"


# -- id_token ---------------------------------------------------------------------------------


def test_id_token_verifies_against_the_published_jwks(auth: RunningAuth) -> None:
    launch = new_launch(auth, nonce="n-0S6_WzA2Mj")
    query = callback_query(auth.http.get(auth.urls.authorize, params=launch.params), launch)
    body = exchange(auth, launch, query["code"]).json()

    jwks_uri = auth.http.get(f"{auth.urls.fhir_base}/.well-known/smart-configuration").json()[
        "jwks_uri"
    ]
    keys = KeySet.import_key_set(auth.http.get(jwks_uri).json())
    token = jwt.decode(body["id_token"], keys, algorithms=["RS256"])
    assert token.header["alg"] == "RS256" and token.header["kid"]
    claims = token.claims
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": auth.urls.issuer},
        aud={"essential": True, "value": "fhir-writeback"},
        sub={"essential": True, "value": "prac-1"},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": "n-0S6_WzA2Mj"},
    ).validate(claims)
    assert claims["fhirUser"] == f"{auth.urls.fhir_base}/Practitioner/prac-1"
    assert claims["exp"] > time.time()


def test_id_token_signed_by_another_key_does_not_verify(auth: RunningAuth, tmp_path: Path) -> None:
    body = sign_in(auth)
    kid = auth.http.get(auth.urls.jwks).json()["keys"][0]["kid"]
    with running_auth(tmp_path / "other.db") as other:
        impostor = other.http.get(other.urls.jwks).json()["keys"][0]
    # Same kid, different key: the signature itself must fail, not just the key lookup.
    keys = KeySet.import_key_set({"keys": [{**impostor, "kid": kid}]})
    with pytest.raises(BadSignatureError):
        jwt.decode(body["id_token"], keys, algorithms=["RS256"])


def test_refresh_brings_a_new_id_token_for_the_same_user(auth: RunningAuth) -> None:
    first = sign_in(auth)
    renewed = refresh(auth, first["refresh_token"]).json()
    keys = KeySet.import_key_set(auth.http.get(auth.urls.jwks).json())
    before = jwt.decode(first["id_token"], keys, algorithms=["RS256"]).claims
    after = jwt.decode(renewed["id_token"], keys, algorithms=["RS256"]).claims
    for claim in ("iss", "aud", "sub", "fhirUser"):
        assert after[claim] == before[claim]
    assert "nonce" not in after


def test_no_id_token_without_openid(auth: RunningAuth) -> None:
    assert "id_token" not in sign_in(auth, scope="launch/patient patient/*.rs offline_access")


# -- persistence ------------------------------------------------------------------------------


def test_sessions_and_signing_key_survive_a_restart_on_the_same_db(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.db"
    with running_auth(db, auto_login="prac-1:pat-2") as before:
        first = sign_in(before)
        revoked = sign_in(before)
        revoke(before, revoked["refresh_token"])
        kid = before.http.get(before.urls.jwks).json()["keys"][0]["kid"]

    with running_auth(db, auto_login="prac-1:pat-2") as after:
        assert after.http.get(after.urls.jwks).json()["keys"][0]["kid"] == kid
        claims = after.service.verify_access_token(first["access_token"])
        assert claims is not None and claims.patient == "pat-2"
        assert not live(after, revoked["access_token"])
        renewed = refresh(after, first["refresh_token"])
        assert renewed.status_code == 200, renewed.text
        assert renewed.json()["patient"] == "pat-2"
