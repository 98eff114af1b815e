"""The login page path of the launch: servers started WITHOUT auto-login, forms posted over HTTP.

The session servers sign in automatically; this module starts one more of each with the login
page switched on and drives it like a browser would (tests/support/launch.py posts the forms),
picking practitioner prac-1 and patient pat-2 so the chosen patient is visibly used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conformance.conftest import SCOPE, TIMEOUT
from tests.support.launch import discover, standalone_launch
from tests.support.servers import RunningServer, require_peer, start_peer, start_sandbox

# Form fields each login page takes (launch.py keeps every other field's default value).
LOGIN_FORM = {
    # oidc-provider's dev interaction: any password; "<user>:<patient>" picks the patient.
    "peer": {"login": "prac-1:pat-2", "password": "any"},
    # app/sandbox/auth/pages.py: <select name="login"> and <select name="patient">; the consent
    # page's first button is decision=approve.
    "sandbox": {"login": "prac-1", "patient": "pat-2"},
}


@pytest.fixture(scope="module", params=["sandbox", pytest.param("peer", marks=pytest.mark.peer)])
def login_page_ehr(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp(f"{request.param}-login")
    if request.param == "peer":
        require_peer()
        server = start_peer(Path(workdir))
    else:
        server = start_sandbox(Path(workdir))
    yield server
    server.stop()


def test_login_form_is_posted_and_the_chosen_patient_is_in_context(
    login_page_ehr: RunningServer,
) -> None:
    ehr = login_page_ehr
    with httpx.Client(timeout=TIMEOUT) as http:
        cfg = discover(http, ehr.fhir_base)
        result = standalone_launch(
            http, cfg, client_id=ehr.client_id, scope=SCOPE, form_values=LOGIN_FORM[ehr.name]
        )
    assert any(step.startswith("POST ") for step in result.steps), result.steps
    assert result.token.get("patient") == "pat-2", result.token
    r = httpx.get(
        f"{ehr.fhir_base}/Patient/pat-2",
        timeout=TIMEOUT,
        headers={"Authorization": f"Bearer {result.token['access_token']}"},
    )
    assert r.status_code == 200, r.text
