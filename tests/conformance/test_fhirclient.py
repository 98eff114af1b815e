"""SMART's own Python client (PyPI ``fhirclient``) signs in and writes a note.

fhirclient finds the OAuth endpoints in the CapabilityStatement (``rest.security`` extension
``http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris``), not in
``.well-known/smart-configuration``.

PKCE: fhirclient 4.4.0 is the first release that sends it (smart-on-fhir/client-py PR #196):
``FHIROAuth2Auth._authorize_params`` adds ``code_challenge`` = base64url(SHA-256(verifier)),
verifier ``secrets.token_urlsafe(64)``, with ``code_challenge_method=S256``, and
``_code_exchange_params`` sends the ``code_verifier``. 4.3.2 and older send neither, and the
sandbox (PKCE required, rightly) refuses them; hence ``fhirclient>=4.4`` in the dev extras and
the explicit check below, instead of any exception in the sandbox.

The browser part is done by tests/support/launch.py: fhirclient hands out ``authorize_url``,
the driver walks it to the loopback callback, and ``handle_callback(url)`` checks ``state``
and exchanges the code.

The required case is the sandbox (client ``fhirclient-test``); the peer EHR runs the same
check as a cross-check of the test itself.
"""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import httpx
from fhirclient import client as fhirclient
from fhirclient.models.documentreference import DocumentReference

from tests.conformance.conftest import TIMEOUT
from tests.conformance.helpers import docref, new_identifier, token_param
from tests.support.launch import follow_to_callback, loopback_redirect
from tests.support.servers import RunningServer

CLIENT_ID = {"sandbox": "fhirclient-test", "peer": "smart-note-app"}
# fhirclient prepends launch/patient itself (wants_patient); its default scope is SMART v1
# "user/*.* patient/*.read openid profile", replaced here by the scopes the note needs.
SCOPE = "openid fhirUser user/*.cruds"


def test_fhirclient_launches_creates_and_reads_back_a_document_reference(
    ehr: RunningServer,
) -> None:
    redirect_uri = loopback_redirect()
    smart = fhirclient.FHIRClient(
        settings={
            "app_id": CLIENT_ID[ehr.name],
            "api_base": ehr.fhir_base,
            "redirect_uri": redirect_uri,
            "scope": SCOPE,
        }
    )
    authorize_url = smart.authorize_url
    assert authorize_url, "fhirclient found no oauth-uris extension in the CapabilityStatement"
    sent = parse_qs(urlsplit(authorize_url).query)
    assert sent.get("code_challenge_method") == ["S256"] and sent.get("code_challenge"), (
        f"fhirclient {fhirclient.__version__} sends no PKCE; 4.4.0 or newer is needed: {sent}"
    )
    assert sent["aud"] == [ehr.fhir_base], sent

    with httpx.Client(timeout=TIMEOUT) as http:
        callback = follow_to_callback(http, authorize_url, redirect_uri)
    smart.handle_callback(callback)
    assert smart.ready
    assert smart.patient_id, "launch/patient: the token response named a patient"

    ident = new_identifier()
    note = DocumentReference(docref(ident, patient=smart.patient_id, text="Écrit par fhirclient."))
    created = note.create(smart.server)
    assert created and created.get("id"), created

    back = DocumentReference.read(created["id"], smart.server)
    assert back.id == created["id"]
    assert back.subject.reference == f"Patient/{smart.patient_id}"
    assert [(i.system, i.value) for i in back.identifier] == [(ident["system"], ident["value"])]
    text = base64.b64decode(back.content[0].attachment.data).decode("utf-8")
    assert text == "Écrit par fhirclient."

    search = DocumentReference.where({"identifier": token_param(ident)})
    assert [d.id for d in search.perform_resources_iter(smart.server)] == [created["id"]]
