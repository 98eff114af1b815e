"""Identity: the id_token verified against the issuer's JWKS (real tokens from both EHRs),
and fhirUser resolution."""

from __future__ import annotations

import base64
import json

import pytest

from app.smart.errors import IdentityError
from app.smart.identity import human_name, resolve_fhir_user, verify_id_token
from tests.smart.conftest import Harness, SessionFactory
from tests.support.servers import RunningServer
from tests.support.smart_fixtures import ScriptedBrowser


def test_fhir_user_absolute_and_relative() -> None:
    base = "https://ehr.example/fhir/r4"
    rel = resolve_fhir_user("Practitioner/p1", base)
    assert (rel.url, rel.reference) == (
        "https://ehr.example/fhir/r4/Practitioner/p1",
        "Practitioner/p1",
    )
    absolute = resolve_fhir_user("https://other.example/fhir/Patient/x9", base)
    assert (
        absolute.url == "https://other.example/fhir/Patient/x9"
        and absolute.resource_type == "Patient"
    )
    versioned = resolve_fhir_user("Practitioner/p1/_history/3", base)
    assert versioned.reference == "Practitioner/p1"
    with pytest.raises(IdentityError):
        resolve_fhir_user("Observation/o1", base)


def test_human_name() -> None:
    assert human_name({"name": [{"text": " Dr. Ada Lovelace "}]}) == "Dr. Ada Lovelace"
    assert human_name({"name": [{"use": "old", "family": "X"},
                                {"use": "official", "prefix": ["Dr."], "given": ["Zoë"], "family": "Ñúñez"}]}) == "Dr. Zoë Ñúñez"  # fmt: skip
    assert human_name({"name": []}) is None and human_name({}) is None


@pytest.fixture
async def signed_in(
    ehr: RunningServer, make_session: SessionFactory, scripted_browser: ScriptedBrowser
) -> Harness:
    h = make_session(ehr)
    await h.session.sign_in()
    return h


def id_token(h: Harness) -> str:
    tokens = h.session.tokens
    assert tokens is not None and tokens.id_token is not None
    return tokens.id_token


async def test_real_id_token_verifies(signed_in: Harness) -> None:
    h = signed_in
    assert h.session.configuration is not None
    claims = await verify_id_token(
        h.http, h.session.configuration, id_token(h), client_id=h.site.client_id
    )
    assert claims["iss"] == h.session.configuration.issuer and claims["aud"] in (
        h.site.client_id,
        [h.site.client_id],
    )
    assert str(claims["fhirUser"]).endswith("Practitioner/prac-1")


async def test_wrong_audience_is_refused(signed_in: Harness) -> None:
    h = signed_in
    assert h.session.configuration is not None
    with pytest.raises(IdentityError):
        await verify_id_token(
            h.http, h.session.configuration, id_token(h), client_id="someone-else"
        )


async def test_expired_is_refused(signed_in: Harness) -> None:
    h = signed_in
    assert h.session.configuration is not None
    with pytest.raises(IdentityError):
        await verify_id_token(h.http, h.session.configuration, id_token(h), client_id=h.site.client_id,
                              now=h.clock().timestamp() + 2 * 24 * 3600)  # fmt: skip


async def test_forged_claims_fail_the_signature(signed_in: Harness) -> None:
    h = signed_in
    assert h.session.configuration is not None
    header, payload, signature = id_token(h).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["fhirUser"] = "Practitioner/somebody-else"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(IdentityError):
        await verify_id_token(h.http, h.session.configuration, f"{header}.{forged_payload}.{signature}",
                              client_id=h.site.client_id)  # fmt: skip


async def test_nonce_mismatch_is_refused(signed_in: Harness) -> None:
    h = signed_in
    assert h.session.configuration is not None
    payload = id_token(h).split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    if "nonce" not in claims:
        pytest.fail("the EHR dropped the nonce the app sent")
    with pytest.raises(IdentityError):
        await verify_id_token(
            h.http, h.session.configuration, id_token(h), client_id=h.site.client_id, nonce="other"
        )
