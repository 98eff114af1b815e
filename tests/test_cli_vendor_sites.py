"""Issue 14: sites that behave like real vendor deployments, end to end through the command
line against sandboxes started with per-site switches (``--quirk``, app/sandbox/quirks.py)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.bootstrap import create_session, fhir_client
from app.domain.commit import ApprovedCommit
from app.domain.outbox import SyncEvent
from app.domain.site import Site
from app.domain.validation import WritePermissions
from app.fhir.profiles import available_profiles, load_profile
from app.services.chart import ChartService
from app.services.session import SessionService
from app.smart.errors import SiteConfigError
from app.smart.sites import load_sites
from app.store.outbox_records import WriteResult
from app.store.site_refusals import SiteRefusals
from app.store.store import open_store
from tests.support.fault_proxy import (
    Fault,
    ProxyRequest,
    ProxyThread,
    ScriptedFaults,
    proxy_in_thread,
)
from tests.support.servers import RunningServer, start_sandbox
from tests.support.smart_fixtures import ScriptedBrowser
from tests.sync.commits import clinical_commit
from tests.sync.runner_fixtures import launch_token, server_copies
from tests.test_cli_outbox_command import approve, run

QUIRK_SITE_NAMES = {  # each quirk's sandbox, and the site name its sites.toml gives it
    "no-refresh-token": "norefresh",
    "search-needs-patient": "patientonly",
    "refuse-provenance": "noprovenance",
}


@pytest.fixture(scope="module")
def quirk_site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A sandbox started with one quirk (app/sandbox/quirks.py), named by the test with
    ``@with_quirk(...)``; the module's tests that name the same quirk share it."""
    quirk: str = request.param
    name = QUIRK_SITE_NAMES[quirk]
    server = start_sandbox(
        tmp_path_factory.mktemp(name), auto_login="prac-1:pat-1", quirks=(quirk,)
    )
    server.name = name
    yield server
    server.stop()


def with_quirk(quirk: str) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("quirk_site", [quirk], indirect=True)


def site_file(
    tmp_path: Path, server: RunningServer, profile: str | None = None, *, proxy: str | None = None
) -> Path:
    path = tmp_path / "sites.toml"
    text = (
        f'[sites.{server.name}]\ndisplay_name = "{server.name} EHR"\n'
        f'fhir_base = "{server.fhir_base}"\nclient_id = "{server.client_id}"\n'
    )
    if profile is not None:
        text += f'vendor_profile = "{profile}"\n'
    if proxy is not None:
        text += f'proxy = "{proxy}"\n'
    path.write_text(text, encoding="utf-8")
    return path


@with_quirk("no-refresh-token")
def test_without_a_refresh_token_login_says_how_long_and_sync_signs_in_itself(
    tmp_path: Path, quirk_site: RunningServer, scripted_browser: ScriptedBrowser
) -> None:
    """Item 1: login said "kept in the system keyring" and sync said "run login" forever."""
    data = tmp_path / "data"
    sites = site_file(tmp_path, quirk_site)
    common = ("--site", quirk_site.name, "--sites-file", str(sites))
    code, out, err = run("login", *common, "--timeout", "60")
    assert code == 0, out + err
    assert "kept in the system keyring" not in out
    assert "This EHR issued no refresh token, so the session cannot be kept or renewed" in out
    assert "(in about 60 minutes). After that, sign in again" in out

    [commit] = approve(data, quirk_site.name, clinical_commit())
    code, out, err = run(
        "outbox", "sync", *common, "--data-dir", str(data), "--timeout", "60", "--no-browser"
    )
    assert code == 1 and "No sign-in is kept for norefresh EHR: run 'fhir-writeback login" in out
    assert server_copies(quirk_site, commit) == [0] * len(commit.writes)

    code, out, err = run("outbox", "sync", *common, "--data-dir", str(data), "--timeout", "60")
    assert code == 0, out + err
    assert "No sign-in is kept for norefresh EHR: sign in to send." in err
    assert "Signed in." in err and "it ends at" in err
    assert "Outbox: 1 commit(s) - 1 confirmed." in out
    assert server_copies(quirk_site, commit) == [1] * len(commit.writes)


@with_quirk("no-refresh-token")
def test_a_sync_whose_sign_in_is_refused_says_so_and_keeps_the_commits(
    tmp_path: Path, quirk_site: RunningServer, scripted_browser: ScriptedBrowser
) -> None:
    scripted_browser.mode("wrong-state")
    data = tmp_path / "data"
    sites = site_file(tmp_path, quirk_site)
    [commit] = approve(data, quirk_site.name, clinical_commit())
    code, out, err = run(
        "outbox", "sync", "--site", quirk_site.name, "--sites-file", str(sites),
        "--data-dir", str(data), "--timeout", "60",
    )  # fmt: skip
    assert code == 1, out + err
    assert "The sign-in to norefresh EHR did not succeed:" in out
    assert "Nothing is lost: 1 commit(s) wait in the outbox." in out
    assert server_copies(quirk_site, commit) == [0] * len(commit.writes)


@contextlib.contextmanager
def signed_in_through_proxy(
    tmp_path: Path, server: RunningServer, profile: str
) -> Iterator[tuple[ProxyThread, tuple[str, ...]]]:
    """The site behind the fault proxy (as its configured proxy), signed in with ``login``:
    the proxy, and the options that name the site."""
    with proxy_in_thread(server.fhir_base.rsplit("/fhir", 1)[0]) as proxy:
        sites = site_file(tmp_path, server, profile, proxy=proxy.base)
        common = ("--site", server.name, "--sites-file", str(sites))
        assert run("login", *common, "--timeout", "60")[0] == 0
        yield proxy, common


def copies_per_patient(server: RunningServer, commit: ApprovedCommit) -> list[int]:
    """``server_copies`` on a site that searches one patient at a time."""
    headers = {"Authorization": f"Bearer {launch_token(server)}"}
    counts = []
    with httpx.Client(base_url=server.fhir_base + "/", headers=headers, timeout=30) as http:
        for w in commit.writes:
            name, token = w.search_param
            found = http.get(w.resource_type, params={name: token, "patient": "Patient/pat-1"})
            found.raise_for_status()
            counts.append(len(found.json().get("entry", [])))
    return counts


def is_note_post(request: ProxyRequest) -> bool:
    return request.method == "POST" and request.target.endswith("/fhir/DocumentReference")


@with_quirk("search-needs-patient")
def test_a_lost_answer_is_checked_with_the_patient_the_site_insists_on(
    tmp_path: Path, quirk_site: RunningServer, scripted_browser: ScriptedBrowser
) -> None:
    """Item 2: the check searched ``identifier`` alone; the EHR answered 400 every time and the
    note stayed "Checking" for good while ``outbox list`` exited 0."""
    data = tmp_path / "data"
    with signed_in_through_proxy(tmp_path, quirk_site, "epic-like") as (proxy, common):
        [commit] = approve(data, quirk_site.name, clinical_commit(load_profile("epic-like")))
        drops = ScriptedFaults([Fault.drop_after()])
        proxy.proxy.plan = lambda r: drops(r) if is_note_post(r) else Fault.pass_through()
        code, out, err = run("outbox", "sync", *common, "--data-dir", str(data), "--timeout", "60")
        checks = [t for m, t, _k in proxy.log if m == "GET" and "/DocumentReference?" in t]
    assert code == 0, out + err
    assert "Outbox: 1 commit(s) - 1 confirmed." in out
    assert checks and all("patient=Patient%2Fpat-1" in t for t in checks), checks
    assert copies_per_patient(quirk_site, commit) == [1]


@with_quirk("search-needs-patient")
def test_a_refused_check_asks_a_person_in_words_and_list_says_so(
    tmp_path: Path, quirk_site: RunningServer, scripted_browser: ScriptedBrowser
) -> None:
    """Item 2: a 400 to the check parks the commit with words that say the note may already be
    in the chart and what to look for; ``outbox list`` exits 1."""
    data = tmp_path / "data"
    with signed_in_through_proxy(tmp_path, quirk_site, "epic-like") as (proxy, common):
        [commit] = approve(data, quirk_site.name, clinical_commit(load_profile("epic-like")))
        drops = ScriptedFaults([Fault.drop_after()])

        def plan(request: ProxyRequest) -> Fault:
            if is_note_post(request):
                return drops(request)
            if "/DocumentReference?" in request.target:
                return Fault.http(400)
            return Fault.pass_through()

        proxy.proxy.plan = plan
        code, out, err = run("outbox", "sync", *common, "--data-dir", str(data), "--timeout", "30")
    assert code == 1, out + err
    code, out, _ = run("outbox", "list", *common, "--data-dir", str(data))
    assert code == 1, out
    assert "1 could not check" in out and "Could not check" in out
    code, out, _ = run("outbox", "show", str(commit.commit_id), *common, "--data-dir", str(data))
    assert code == 1
    assert "The EHR refused the app's check whether this arrived (HTTP 400)." in out
    assert "The note may already be in the chart: look in the patient's chart for a note" in out
    assert "If it is there, discard this here" in out
    assert copies_per_patient(quirk_site, commit) == [1]  # it did arrive


SCOPES_WITHOUT_TASK_WRITE = [
    "openid",
    "fhirUser",
    "offline_access",
    "launch/patient",
    "user/Patient.rs",
    "user/Encounter.rs",
    "user/Practitioner.rs",
    "user/Condition.rs",
    "user/Observation.crs",
    "user/MedicationRequest.rs",
    "user/AllergyIntolerance.rs",
    "user/DocumentReference.crus",
    "user/Task.rs",
    "user/Communication.crs",
    "user/Provenance.crs",
    "user/Composition.crs",
]


def check_verdicts(out: str) -> dict[str, str]:
    """``{resource type: verdict}`` from the lines under "What the app will write:"."""
    found: dict[str, str] = {}
    lines = out.split("What the app will write:\n", 1)[1].splitlines()
    for line in lines:
        if not line.startswith("  "):
            break
        resource_type, verdict = line.split(maxsplit=1)
        found[resource_type] = verdict
    return found


async def approval_gate(site: Site, data: Path | None = None) -> WritePermissions:
    """What approval allows on the site: the chart service's approval context, over the kept
    sign-in (as the app opens a chart; ``data``: the data folder, for what the site refused)."""
    refused = SiteRefusals(data / "sites" / site.id) if data is not None else None
    async with httpx.AsyncClient(timeout=30) as http:
        smart = create_session(site, http)
        assert await smart.restore()
        chart = ChartService(
            fhir_client(site, http, smart), SessionService(smart), site.vendor_profile,
            _no_audit, refused=lambda: tuple(refused.load()) if refused is not None else (),
        )  # fmt: skip
        opened = await chart.open("pat-1", "enc-1")
        await smart.aclose()
    return opened.approval.permissions


async def _no_audit(*_args: object, **_kwargs: object) -> None:
    return None


def test_check_names_the_profile_and_agrees_with_the_approval_gate(
    tmp_path: Path, sandbox_server: RunningServer, scripted_browser: ScriptedBrowser
) -> None:
    """Item 3: ``check`` listed what the server declares, not what the app would do."""
    sites = site_file(tmp_path, sandbox_server, "oracle-like")
    with sites.open("a", encoding="utf-8") as f:
        f.write(f"scopes = {list(SCOPES_WITHOUT_TASK_WRITE)!r}\n".replace("'", '"'))
    common = ("--site", sandbox_server.name, "--sites-file", str(sites))
    assert run("login", *common, "--timeout", "60")[0] == 0
    code, out, err = run("check", *common, "--data-dir", str(tmp_path / "data"))
    assert code == 0, out + err
    assert (
        "Vendor profile: oracle-like (Oracle Health (Cerner)-like EHR) - named in the site "
        "configuration." in out
    )
    assert "Granted scopes: from the kept sign-in." in out
    verdicts = check_verdicts(out)
    assert verdicts["DocumentReference"] == "will write  - create+read-back"
    assert verdicts["Composition"] == "will not write (profile)"
    assert verdicts["MedicationStatement"] == "will not write (profile)"
    assert verdicts["Task"] == "not granted (scopes)"

    site = load_sites(sites).find(sandbox_server.name)
    assert site is not None
    allowed = asyncio.run(approval_gate(site))
    assert {t for t, v in verdicts.items() if v.startswith("will write")} == set(allowed.creatable)
    for resource_type, verdict in verdicts.items():
        if not verdict.startswith("will write"):
            assert not allowed.allows(resource_type), resource_type


@with_quirk("refuse-provenance")
def test_provenance_declared_but_refused_confirms_the_note_without_it_and_is_remembered(
    tmp_path: Path, quirk_site: RunningServer, scripted_browser: ScriptedBrowser
) -> None:
    """Item 4: the site declares Provenance create and answers 403 when it comes."""
    data = tmp_path / "data"
    oracle = load_profile("oracle-like")
    with signed_in_through_proxy(tmp_path, quirk_site, "oracle-like") as (proxy, common):
        options = (*common, "--data-dir", str(data))
        [first] = approve(data, quirk_site.name, clinical_commit(oracle))
        code, out, err = run("outbox", "sync", *options, "--timeout", "60")
        assert code == 0, out + err
        assert "Outbox: 1 commit(s) - 1 confirmed." in out
        posts = [t for m, t, _k in proxy.log if m == "POST" and t.endswith("/fhir/Provenance")]
        assert len(posts) == 1

        code, out, _ = run("outbox", "show", str(first.commit_id), *options)
        assert code == 0, out
        assert "Confirmed without Provenance: the EHR refused it (HTTP 403)" in out
        assert "Provenance" in out and "not written: refused by the EHR (HTTP 403)" in out

        code, out, _ = run("check", *options)
        assert check_verdicts(out)["Provenance"] == "will not write (refused by this EHR before)"
        assert "Note for clinic IT: This EHR refused Provenance writes (HTTP 403)" in out

        [second] = approve(data, quirk_site.name, clinical_commit(oracle))
        code, out, err = run("outbox", "sync", *options, "--timeout", "60")
        assert code == 0 and "2 confirmed" in out, out + err
        posts = [t for m, t, _k in proxy.log if m == "POST" and t.endswith("/fhir/Provenance")]
        assert len(posts) == 1  # not sent again
    for commit in (first, second):
        copies = server_copies(quirk_site, commit)
        assert copies[:-1] == [1] * (len(commit.writes) - 1) and copies[-1] == 0

    site = load_sites(tmp_path / "sites.toml").find(quirk_site.name)
    assert site is not None
    # approval no longer plans it (the site's folder is where the app keeps its data)
    assert "Provenance" not in asyncio.run(approval_gate(site, data)).creatable


def test_a_discard_never_claims_nothing_was_written_when_part_was(tmp_path: Path) -> None:
    """Item 4: "It was not written to the EHR" was said of a commit whose note was in the
    chart (its observation refused afterwards)."""
    data = tmp_path / "data"
    [partial, untouched] = approve(data, "clinic", clinical_commit(), clinical_commit())
    store = open_store(data / "sites" / "clinic" / "store.db")
    try:
        store.outbox.apply(partial.commit_id, SyncEvent.SEND_STARTED)
        store.outbox.record_writes(partial.commit_id, [WriteResult(0, "note-77", "1")])
        store.outbox.apply(partial.commit_id, SyncEvent.PERMANENT_REJECTION, status=422)
        for commit in (partial, untouched):
            store.outbox.discard(commit.commit_id, "test", "Dr Test", confirmed=True)
    finally:
        store.close()
    empty = tmp_path / "sites.toml"
    empty.write_text("", encoding="utf-8")
    options = ("--site", "clinic", "--data-dir", str(data), "--sites-file", str(empty))
    code, out, _ = run("outbox", "show", str(partial.commit_id), *options)
    assert code == 0, out
    assert "It was not written to the EHR" not in out
    assert (
        "State: Discarded - You chose not to send the rest. Already in the EHR, and not removed "
        "by discarding: DocumentReference/note-77." in out
    )
    _code, out, _ = run("outbox", "show", str(untouched.commit_id), *options)
    assert "It was not written to the EHR." in out


def test_an_unknown_vendor_profile_is_refused_at_load_with_the_valid_names(
    tmp_path: Path, sandbox_server: RunningServer
) -> None:
    """Item 5: ``vendor_profile = "epic"`` (as docs/sign-in.md showed) surfaced as "The chart
    could not be loaded. Check the connection…"."""
    sites = site_file(tmp_path, sandbox_server, "epic")
    code, _, err = run("check", "--site", sandbox_server.name, "--sites-file", str(sites))
    assert code == 2
    assert f"sites.{sandbox_server.name}.vendor_profile" in err
    assert (
        'is not a vendor profile this app knows (\'epic\'); use "epic-like", "generic-r4", "oracle-like"'
        in err
    )
    with pytest.raises(SiteConfigError):
        load_sites(sites)


def test_the_sign_in_guide_names_only_profiles_that_exist() -> None:
    guide = (Path(__file__).resolve().parents[1] / "docs" / "sign-in.md").read_text("utf-8")
    named = re.findall(r'vendor_profile = "([^"]+)"', guide)
    assert named and set(named) <= set(available_profiles())


@with_quirk("refuse-provenance")
def test_a_refused_note_is_a_failure_in_words_that_quote_the_ehr(
    tmp_path: Path, quirk_site: RunningServer, scripted_browser: ScriptedBrowser
) -> None:
    """Items 4 and 6: in a transaction the refused Provenance takes the note with it: nothing
    was written, a person is needed, and the EHR's own text is a quoted, punctuated clause
    ("…is not supported by this server If this keeps happening…" ran together)."""
    data = tmp_path / "data"
    sites = site_file(tmp_path, quirk_site, "generic-r4")
    options = (
        "--site",
        quirk_site.name,
        "--sites-file",
        str(sites),
        "--data-dir",
        str(data),
    )
    assert run("login", *options[:4], "--timeout", "60")[0] == 0
    [commit] = approve(data, quirk_site.name, clinical_commit())
    code, out, err = run("outbox", "sync", *options, "--timeout", "60")
    assert code == 1, out + err
    code, out, _ = run("outbox", "show", str(commit.commit_id), *options)
    assert code == 1 and "State: Needs attention" in out
    assert (
        "The EHR said: “Provenance is not supported by this server for this client”. Ask "
        "clinic IT" in out
    )
    assert server_copies(quirk_site, commit) == [0] * len(commit.writes)
