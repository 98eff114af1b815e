"""Issue 14: sites that behave like real vendor deployments, end to end through the command
line against sandboxes started with per-site switches (``--quirk``, app/sandbox/quirks.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import RunningServer, start_sandbox
from tests.support.smart_fixtures import ScriptedBrowser
from tests.sync.commits import clinical_commit
from tests.sync.runner_fixtures import server_copies
from tests.test_cli_outbox_command import approve, run


@pytest.fixture(scope="module")
def no_refresh_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_sandbox(
        tmp_path_factory.mktemp("no-refresh"), auto_login="prac-1:pat-1",
        quirks=("no-refresh-token",),
    )  # fmt: skip
    server.name = "norefresh"
    yield server
    server.stop()


def site_file(tmp_path: Path, server: RunningServer, profile: str | None = None) -> Path:
    path = tmp_path / "sites.toml"
    text = (
        f'[sites.{server.name}]\ndisplay_name = "{server.name} EHR"\n'
        f'fhir_base = "{server.fhir_base}"\nclient_id = "{server.client_id}"\n'
    )
    if profile is not None:
        text += f'vendor_profile = "{profile}"\n'
    path.write_text(text, encoding="utf-8")
    return path


def test_without_a_refresh_token_login_says_how_long_and_sync_signs_in_itself(
    tmp_path: Path, no_refresh_site: RunningServer, scripted_browser: ScriptedBrowser
) -> None:
    """Item 1: login said "kept in the system keyring" and sync said "run login" forever."""
    data = tmp_path / "data"
    sites = site_file(tmp_path, no_refresh_site)
    common = ("--site", no_refresh_site.name, "--sites-file", str(sites))
    code, out, err = run("login", *common, "--timeout", "60")
    assert code == 0, out + err
    assert "kept in the system keyring" not in out
    assert "This EHR issued no refresh token, so the session cannot be kept or renewed" in out
    assert "UTC (in about 60 minutes). After that, sign in again" in out

    [commit] = approve(data, no_refresh_site.name, clinical_commit())
    code, out, err = run(
        "outbox", "sync", *common, "--data-dir", str(data), "--timeout", "60", "--no-browser"
    )
    assert code == 1 and "No sign-in is kept for norefresh EHR: run 'fhir-writeback login" in out
    assert server_copies(no_refresh_site, commit) == [0] * len(commit.writes)

    code, out, err = run("outbox", "sync", *common, "--data-dir", str(data), "--timeout", "60")
    assert code == 0, out + err
    assert "No sign-in is kept for norefresh EHR: sign in to send." in err
    assert "Signed in." in err and "it ends at" in err
    assert "Outbox: 1 commit(s) - 1 confirmed." in out
    assert server_copies(no_refresh_site, commit) == [1] * len(commit.writes)


def test_a_sync_whose_sign_in_is_refused_says_so_and_keeps_the_commits(
    tmp_path: Path, no_refresh_site: RunningServer, scripted_browser: ScriptedBrowser
) -> None:
    scripted_browser.mode("wrong-state")
    data = tmp_path / "data"
    sites = site_file(tmp_path, no_refresh_site)
    [commit] = approve(data, no_refresh_site.name, clinical_commit())
    code, out, err = run(
        "outbox", "sync", "--site", no_refresh_site.name, "--sites-file", str(sites),
        "--data-dir", str(data), "--timeout", "60",
    )  # fmt: skip
    assert code == 1, out + err
    assert "The sign-in to norefresh EHR did not succeed:" in out
    assert "Nothing is lost: 1 commit(s) wait in the outbox." in out
    assert server_copies(no_refresh_site, commit) == [0] * len(commit.writes)
