"""``fhir-writeback outbox list | show | sync`` through app.cli.main, against a temp data dir.

The store is where the app keeps it (``<data dir>/sites/<site id>/store.db``); ``sync`` uses
the sign-in kept by ``fhir-writeback login`` and sends to a real sandbox over HTTP.
(tests/test_cli_outbox.py tests the app.cli_outbox functions themselves.)
"""

from __future__ import annotations

import io
from pathlib import Path

from app.cli import main
from app.domain.commit import ApprovedCommit
from app.domain.outbox import OutboxState, SyncEvent
from app.store.outbox_records import WriteResult
from app.store.store import open_store
from tests.support.fault_proxy import Fault, ProxyRequest, ScriptedFaults, proxy_in_thread
from tests.support.servers import RunningServer
from tests.support.smart_fixtures import ScriptedBrowser, keep_test_keyring
from tests.sync.commits import clinical_commit
from tests.sync.runner_fixtures import server_copies

S, E = OutboxState, SyncEvent


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err, accept_keyring=keep_test_keyring)
    return code, out.getvalue(), err.getvalue()


def sites_file(
    tmp_path: Path, *servers: RunningServer, default: str | None = None, proxy: str | None = None
) -> Path:
    path = tmp_path / "sites.toml"
    text = f'default_site = "{default}"\n' if default else ""
    for s in servers:
        text += (
            f'[sites.{s.name}]\ndisplay_name = "{s.name} EHR"\nfhir_base = "{s.fhir_base}"\n'
            f'client_id = "{s.client_id}"\nredirect_path = "{s.redirect_path}"\n'
        )
        text += f'proxy = "{proxy}"\n' if proxy else ""
    path.write_text(text, encoding="utf-8")
    return path


def approve(data_dir: Path, site_id: str, *commits: ApprovedCommit) -> list[ApprovedCommit]:
    store = open_store(data_dir / "sites" / site_id / "store.db")
    try:
        return [store.outbox.enqueue_approval(c, '{"review_status": "approved"}') for c in commits]
    finally:
        store.close()


def test_list_and_show_read_the_sites_store(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ok, bad = approve(data, "clinic-a", clinical_commit(), clinical_commit())
    store = open_store(data / "sites" / "clinic-a" / "store.db")
    store.outbox.apply(bad.commit_id, E.SEND_STARTED)
    store.outbox.apply(
        bad.commit_id, E.PERMANENT_REJECTION, status=422, error="The EHR refused the content."
    )
    store.close()
    empty = tmp_path / "sites.toml"
    empty.write_text("", encoding="utf-8")
    common = ("--data-dir", str(data), "--sites-file", str(empty))

    # one outbox on this computer and no site configured: that one is meant
    code, out, err = run("outbox", "list", *common)
    assert code == 1, out + err  # one commit needs a person
    assert "Outbox: 2 commit(s) - 1 needs attention, 1 queued." in out
    assert str(bad.commit_id) in out and "Last problem: the EHR refused it (HTTP 422)." in out
    assert "The EHR refused the content." not in out

    code, out, _ = run("outbox", "list", "--open", "--site", "clinic-a", *common)
    assert str(ok.commit_id) in out

    code, out, _ = run("outbox", "show", str(ok.commit_id)[:8], *common)
    assert code == 0 and f"Commit {ok.commit_id} (sequence 1)" in out
    assert "State: Queued" in out

    code, _, err = run("outbox", "show", "deadbeef", *common)
    assert code == 2 and "no commit in the outbox starts with 'deadbeef'" in err


def test_a_commit_claimed_for_sending_is_said_to_be_sending_or_waiting(tmp_path: Path) -> None:
    """The sender marks a commit SENDING when it claims it, before its turn comes (a few are
    sent at once); only the sending app knows which are on the wire ("Sending…" or "Waiting
    to send" in its outbox). The command line reads the store alone: it says either, and
    "being sent" only once the store holds some of its records' places in the EHR."""
    data = tmp_path / "data"
    claimed, _queued = approve(data, "clinic-a", clinical_commit(), clinical_commit())
    store = open_store(data / "sites" / "clinic-a" / "store.db")
    store.outbox.apply(claimed.commit_id, E.SEND_STARTED)
    store.close()
    empty = tmp_path / "sites.toml"
    empty.write_text("", encoding="utf-8")
    common = ("--data-dir", str(data), "--sites-file", str(empty))

    code, out, err = run("outbox", "list", *common)
    assert code == 0, out + err
    assert "Outbox: 2 commit(s) - 1 sending or waiting, 1 queued." in out
    line = next(x for x in out.splitlines() if str(claimed.commit_id) in x)
    assert "Sending or waiting" in line

    code, out, _ = run("outbox", "show", str(claimed.commit_id), *common)
    assert code == 0
    assert "State: Sending or waiting - Claimed by the app that sends this outbox" in out
    assert "being sent now or is next in line" in out
    assert "Being sent to the EHR now." not in out  # what only the sender knows
    assert "Claimed for sending: " in out

    store = open_store(data / "sites" / "clinic-a" / "store.db")
    store.outbox.record_writes(claimed.commit_id, [WriteResult(0, "doc-1", version_id="1")])
    store.close()
    code, out, _ = run("outbox", "show", str(claimed.commit_id), *common)
    total = len(claimed.writes)
    assert f"Being sent: 1 of its {total} records are in the EHR already" in out
    assert "-> DocumentReference/doc-1 version 1" in out


def test_which_outbox(tmp_path: Path) -> None:
    data = tmp_path / "data"
    empty = tmp_path / "sites.toml"
    empty.write_text("", encoding="utf-8")
    common = ("--data-dir", str(data), "--sites-file", str(empty))

    code, out, _ = run("outbox", "list", *common)  # nothing anywhere: the sandbox's, empty
    assert code == 0 and "The outbox of site 'sandbox' is empty" in out

    approve(data, "clinic-a", clinical_commit())
    approve(data, "clinic-b", clinical_commit())
    code, _, err = run("outbox", "list", *common)
    assert code == 2 and "choose one with --site (clinic-a, clinic-b)" in err
    code, _, err = run("outbox", "list", "--site", "clinic-c", *common)
    assert code == 2 and "outboxes here: clinic-a, clinic-b" in err
    code, _, err = run("outbox", "list", "--site", "../clinic-a", *common)
    assert code == 2 and "is not a site id" in err

    configured = tmp_path / "configured.toml"
    configured.write_text(
        'default_site = "clinic-b"\n'
        '[sites.clinic-b]\ndisplay_name = "Clinic B"\nfhir_base = "https://b.example/fhir"\n'
        'client_id = "app"\n'
        '[sites.clinic-z]\ndisplay_name = "Clinic Z"\nfhir_base = "https://z.example/fhir"\n'
        'client_id = "app"\n',
        encoding="utf-8",
    )
    code, out, _ = run("outbox", "list", "--data-dir", str(data), "--sites-file", str(configured))
    assert code == 0 and "Outbox: 1 commit(s) - 1 queued." in out  # the default site's
    code, out, _ = run(  # by display name, as `check --site` accepts it
        "outbox", "list", "--site", "Clinic Z", "--data-dir", str(data), "--sites-file",
        str(configured),
    )  # fmt: skip
    assert code == 0 and "The outbox of site 'clinic-z' is empty" in out


def test_sync_needs_a_configured_site_and_a_kept_sign_in(
    tmp_path: Path, sandbox_server: RunningServer
) -> None:
    embedded = tmp_path / "embedded"  # the app's embedded sandbox (no sites.toml entry)
    approve(embedded, "sandbox", clinical_commit())
    empty = tmp_path / "empty.toml"
    empty.write_text("", encoding="utf-8")
    code, _, err = run("outbox", "sync", "--data-dir", str(embedded), "--sites-file", str(empty))
    assert code == 2 and "runs only inside the app" in err

    data = tmp_path / "data"

    [commit] = approve(data, sandbox_server.name, clinical_commit())
    sites = sites_file(tmp_path, sandbox_server)
    code, out, _ = run(
        "outbox", "sync", "--site", sandbox_server.name, "--data-dir", str(data),
        "--sites-file", str(sites), "--no-browser",
    )  # fmt: skip
    assert code == 1
    assert f"run 'fhir-writeback login --site {sandbox_server.name}'" in out
    assert "Nothing is lost: 1 commit(s) wait in the outbox." in out
    store = open_store(data / "sites" / sandbox_server.name / "store.db")
    try:
        assert store.outbox.item(commit.commit_id).state is S.QUEUED
    finally:
        store.close()


def test_login_then_sync_sends_exactly_once(
    tmp_path: Path, sandbox_server: RunningServer, scripted_browser: ScriptedBrowser
) -> None:
    data = tmp_path / "data"
    sites = sites_file(tmp_path, sandbox_server)
    common = ("--site", sandbox_server.name, "--sites-file", str(sites))
    code, out, err = run("login", *common, "--timeout", "60")
    assert code == 0 and "kept in the system keyring" in out, out + err
    [commit] = approve(data, sandbox_server.name, clinical_commit())

    code, out, err = run("outbox", "sync", *common, "--data-dir", str(data), "--timeout", "60")
    assert code == 0, out + err
    assert "Outbox: 1 commit(s) - 1 confirmed." in out
    assert server_copies(sandbox_server, commit) == [1] * len(commit.writes)

    code, out, _ = run("outbox", "show", str(commit.commit_id), *common, "--data-dir", str(data))
    assert code == 0 and "Confirmed:" in out and "-> DocumentReference/" in out
    code, out, _ = run("outbox", "sync", *common, "--data-dir", str(data))  # nothing left
    assert code == 0 and "1 confirmed" in out
    assert server_copies(sandbox_server, commit) == [1] * len(commit.writes)


def test_sync_after_login_resumes_commits_paused_for_sign_in(
    tmp_path: Path, sandbox_server: RunningServer, scripted_browser: ScriptedBrowser
) -> None:
    """Issue 10 item 2: a commit paused because an earlier session ended is sent by the next
    ``outbox sync`` once ``login`` succeeded (it used to say "sign in" forever)."""
    data = tmp_path / "data"
    sites = sites_file(tmp_path, sandbox_server)
    common = ("--site", sandbox_server.name, "--sites-file", str(sites))
    paused, queued = approve(data, sandbox_server.name, clinical_commit(), clinical_commit())
    store = open_store(data / "sites" / sandbox_server.name / "store.db")
    try:  # the earlier session ended while this one was being sent
        store.outbox.apply(paused.commit_id, E.SEND_STARTED)
        store.outbox.apply(paused.commit_id, E.SIGN_IN_REQUIRED, status=401, error="ended")
    finally:
        store.close()
    code, out, err = run("login", *common, "--timeout", "60")
    assert code == 0, out + err

    code, out, err = run("outbox", "sync", *common, "--data-dir", str(data), "--timeout", "60")
    assert code == 0, out + err
    assert "Outbox: 2 commit(s) - 2 confirmed." in out
    assert "sign in" not in out
    for commit in (paused, queued):
        assert server_copies(sandbox_server, commit) == [1] * len(commit.writes)


def signed_in_through(tmp_path: Path, server: RunningServer, proxy: str) -> tuple[str, ...]:
    """``login`` with ``proxy`` as the site's configured proxy; the options for the next
    commands."""
    sites = sites_file(tmp_path, server, proxy=proxy)
    common = ("--site", server.name, "--sites-file", str(sites))
    code, out, err = run("login", *common, "--timeout", "60")
    assert code == 0, out + err
    return common


def test_sync_tries_again_through_transient_failures(
    tmp_path: Path, sandbox_server: RunningServer, scripted_browser: ScriptedBrowser
) -> None:
    """Issue 10 item 9: the one-shot `outbox sync` gave up at the first 503 (and printed the
    EHR's text run into its own). It now tries again within its timeout, honouring
    Retry-After: the sign-in service answering an HTML page then 503, the capabilities 503
    then 429 with an unreadable Retry-After, and the write 503."""
    data = tmp_path / "data"
    origin = sandbox_server.fhir_base.rsplit("/fhir", 1)[0]
    with proxy_in_thread(origin) as proxy:
        common = signed_in_through(tmp_path, sandbox_server, proxy.base)
        [commit] = approve(data, sandbox_server.name, clinical_commit())
        faults = {
            "token": ScriptedFaults([Fault.html_page(), Fault.http(503, "1")]),
            "metadata": ScriptedFaults([Fault.http(503, "1"), Fault.http(429, "²")]),
            "write": ScriptedFaults([Fault.http(503, "1")]),
        }

        def plan(request: ProxyRequest) -> Fault:
            if request.path.endswith("/token"):
                return faults["token"](request)
            if request.path.endswith("/metadata"):
                return faults["metadata"](request)
            if request.method in ("POST", "PUT"):
                return faults["write"](request)
            return Fault.pass_through()

        proxy.proxy.plan = plan
        code, out, err = run("outbox", "sync", *common, "--data-dir", str(data), "--timeout", "60")
        assert code == 0, out + err
        assert "Outbox: 1 commit(s) - 1 confirmed." in out
        assert all(f.remaining == 0 for f in faults.values()), proxy.log
    assert server_copies(sandbox_server, commit) == [1] * len(commit.writes)


def test_sync_that_gives_up_says_so_in_plain_words(
    tmp_path: Path, sandbox_server: RunningServer, scripted_browser: ScriptedBrowser
) -> None:
    data = tmp_path / "data"
    origin = sandbox_server.fhir_base.rsplit("/fhir", 1)[0]
    with proxy_in_thread(origin) as proxy:
        common = signed_in_through(tmp_path, sandbox_server, proxy.base)
        approve(data, sandbox_server.name, clinical_commit())
        proxy.proxy.plan = lambda r: (
            Fault.http(503, "1") if r.path.endswith("/metadata") else Fault.pass_through()
        )
        code, out, err = run("outbox", "sync", *common, "--data-dir", str(data), "--timeout", "3")
    assert code == 1, out + err
    assert "(the server's capabilities, HTTP 503). The EHR said: “injected by the test proxy" in out
    assert "”. The app will try again" in out
    assert "This command tried again for a while and stopped: run it again later." in out
    assert "Nothing is lost: 1 commit(s) wait in the outbox." in out
    assert sum(1 for _m, t, _k in proxy.log if t.endswith("/metadata")) >= 2
