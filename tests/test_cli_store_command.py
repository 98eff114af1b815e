"""Issue 10, item 1, as support met it: a store cut to zero bytes used to be re-created
silently ("The outbox is empty.", a second key, two unsent notes gone). Now every command
refuses it as damaged (exit 3) without touching a file or the keyring, the app made backups
by itself, and ``store restore --from latest`` brings the notes back. The app itself
(``run_gui``) says so in words as soon as its window shows (issue 15: the store stack loads
after the window) and exits 3 too."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend

from app.bootstrap import EXIT_STORE_UNUSABLE, SiteFactory
from app.cli import main
from app.domain.site import Site
from app.main import run_gui
from app.paths import AppPaths
from app.store.store_files import backup_files
from tests.store.damage import DAMAGE, snapshot
from tests.store.protected_support import decision_json, marker_commit, marker_draft
from tests.support.smart_fixtures import keep_test_keyring

SITE = Site(
    id="clinic-a",
    display_name="Clinic A",
    fhir_base="https://ehr.clinic-a.invalid/fhir",
    client_id="fhir-writeback",
)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err, accept_keyring=keep_test_keyring)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The app approved two notes for clinic A (unsent: the EHR was never reached) and exited."""
    data = tmp_path / "data"
    sites = SiteFactory(AppPaths.default(data), None)  # as the app opens a site's store
    store = sites.store(SITE).store
    for _ in range(2):
        draft = store.drafts.save(marker_draft())
        store.outbox.enqueue_approval(marker_commit(), decision_json(draft))
    asyncio.run(sites.aclose())
    return data


@pytest.fixture
def sites_file(tmp_path: Path) -> Path:
    path = tmp_path / "sites.toml"
    path.write_text(
        f'[sites.{SITE.id}]\ndisplay_name = "{SITE.display_name}"\n'
        f'fhir_base = "{SITE.fhir_base}"\nclient_id = "{SITE.client_id}"\n',
        encoding="utf-8",
    )
    return path


def site_args(data_dir: Path, sites_file: Path) -> list[str]:
    return ["--site", SITE.id, "--sites-file", str(sites_file), "--data-dir", str(data_dir)]


def test_the_app_backed_the_approvals_up_by_itself(data_dir: Path, sites_file: Path) -> None:
    store = data_dir / "sites" / SITE.id / "store.db"
    assert backup_files(store)
    code, out, _ = run("store", "backups", *site_args(data_dir, sites_file))
    assert code == 0 and "not yet confirmed by the EHR: 2" in out


def test_a_store_cut_to_zero_is_refused_then_restored(
    data_dir: Path, sites_file: Path, tmp_path: Path, file_keyring: KeyringBackend
) -> None:
    args = site_args(data_dir, sites_file)
    store = data_dir / "sites" / SITE.id / "store.db"
    store.write_bytes(b"")
    before = snapshot(tmp_path)  # the data folder and the keyring file
    for command in (["outbox", "list"], ["audit", "verify"], ["outbox", "show", "00000000"]):
        code, out, err = run(*command, *args)
        assert code == 3, (command, out, err)
        assert "is damaged" in err and "restore it from a backup" in err
        assert "empty" not in out.lower()
    assert snapshot(tmp_path) == before  # byte for byte; no second key in the keyring

    code, out, err = run("store", "restore", "--from", "latest", *args)
    assert code == 0, err
    assert "2 approved note(s) not yet confirmed" in out and "kept, not deleted" in out
    code, out, _ = run("outbox", "list", *args)
    assert code == 0 and "2 queued" in out
    code, out, _ = run("audit", "verify", *args)
    assert code == 0 and "intact" in out


def test_a_vanished_store_is_refused_too(data_dir: Path, sites_file: Path) -> None:
    (data_dir / "sites" / SITE.id / "store.db").unlink()
    code, out, err = run("outbox", "list", *site_args(data_dir, sites_file))
    assert code == 3 and "is damaged (it is missing" in err and "empty" not in out.lower()


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_files_give_the_damaged_message_and_exit_3(
    data_dir: Path, sites_file: Path, damage: str
) -> None:
    store = data_dir / "sites" / SITE.id / "store.db"
    store.write_bytes(DAMAGE[damage](store.read_bytes()))
    for command in (["outbox", "list"], ["audit", "verify"]):
        code, _out, err = run(*command, *site_args(data_dir, sites_file))
        assert code == 3 and "is damaged" in err and "Traceback" not in err


def test_restore_refuses_while_the_app_runs(data_dir: Path, sites_file: Path) -> None:
    (data_dir / "app-running.marker").write_text("running\n")
    code, _, err = run("store", "restore", "--from", "latest", *site_args(data_dir, sites_file))
    assert code == 2 and "close it first" in err


def test_restore_names_the_backups_when_the_one_given_is_not_there(
    data_dir: Path, sites_file: Path
) -> None:
    code, _, err = run("store", "restore", "--from", "nope.db", *site_args(data_dir, sites_file))
    assert code == 2 and "no backup 'nope.db'" in err and "store-" in err


# ---------------------------------------------------------------- the app itself


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    messages: list[str] = []

    async def tell(_window: object, text: str) -> None:
        messages.append(text)

    monkeypatch.setattr("app.ui.application.tell_fatal_error", tell)
    monkeypatch.setattr("app.logging_setup.configure_logging", lambda *_args: None)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # the log folder
    return messages


@pytest.mark.parametrize("damage", ["empty", "missing", "garbage"])
def test_the_app_refuses_a_damaged_store_in_words_and_exits_3(
    data_dir: Path,
    sites_file: Path,
    shown: list[str],
    tmp_path: Path,
    damage: str,
) -> None:
    store = data_dir / "sites" / SITE.id / "store.db"
    if damage == "missing":
        store.unlink()
    else:
        store.write_bytes(b"" if damage == "empty" else b"\x13garbage" * 5000)
    before = snapshot(data_dir)
    code = run_gui(sites_file=sites_file, data_dir=data_dir)
    assert code == EXIT_STORE_UNUSABLE
    (message,) = shown
    assert "is damaged" in message and "restore it from a backup" in message
    assert snapshot(data_dir) == before  # (the running marker is gone again: a clean exit)
