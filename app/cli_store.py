"""``fhir-writeback store backups | restore --from BACKUP``: the store's automatic backups, for IT.

    fhir-writeback store backups [--site ID] [--sites-file PATH] [--data-dir DIR]
    fhir-writeback store restore --from BACKUP|latest [--site ID] [--sites-file PATH] [--data-dir DIR]

Run as the user whose store it is (the key is in their keyring), with the app closed.
``restore`` checks the backup (integrity, this site's key opens it, its audit chain verifies)
before it replaces anything, keeps the files it replaces next to the store
(``store.db.replaced-<time>``), and says what the backup does not hold.

Exit status: 0 done; 1 the backup failed a check (nothing changed); 2 wrong usage (no such
backup, the app is running); 3 the store or the keyring cannot be used.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from app.bootstrap import EXIT_STORE_UNUSABLE, site_keyring
from app.logging_setup import add_log_level_option
from app.store.backup import DEFAULT_POLICY
from app.store.errors import StoreError
from app.store.restore import BackupUnusable, RestoreOutcome, list_backups, restore_backup
from app.store.store_files import backup_dir, backup_files
from app.sync.errors import SyncAlreadyRunning
from app.sync.lock import RunnerLock

EXIT_OK, EXIT_UNUSABLE_BACKUP, EXIT_USAGE = 0, 1, 2
RUNNING_MARKER = "app-running.marker"  # written by app.bootstrap while the app runs


def add_store_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    store = commands.add_parser(
        "store", help="the local store's automatic backups: list them, restore one"
    )
    actions = store.add_subparsers(dest="store_command", required=True)
    listing = actions.add_parser("backups", help="list the site's backups, newest first")
    restore = actions.add_parser(
        "restore", help="check a backup, set the store aside, put the backup in its place"
    )
    restore.add_argument(
        "--from",
        dest="backup",
        required=True,
        help="the backup file, its name in the backups folder, or 'latest'",
    )
    for p in (listing, restore):
        p.add_argument("--site", help="site id (default: the default or only site, else sandbox)")
        p.add_argument(
            "--sites-file", type=Path, help="use this sites.toml instead of the installed ones"
        )
        p.add_argument(
            "--data-dir", type=Path, help="the per-user data folder (default: the platform's)"
        )
        add_log_level_option(p)


def store_command(
    args: argparse.Namespace, folder: Path, data_dir: Path, out: TextIO, err: TextIO
) -> int:
    """``folder`` is the site's store folder (resolved like the outbox commands)."""
    store_path = folder / "store.db"
    if args.store_command == "backups":
        out.write(backups_text(store_path))
        return EXIT_OK
    backup = find_backup(store_path, args.backup)
    if backup is None:
        known = ", ".join(p.name for p in backup_files(store_path)[-3:]) or "none"
        err.write(
            f"fhir-writeback store restore: no backup '{args.backup}' (newest in "
            f"{backup_dir(store_path)}: {known})\n"
        )
        return EXIT_USAGE
    running = app_running(folder, data_dir)
    if running:
        err.write(f"fhir-writeback store restore: {running}\n")
        return EXIT_USAGE
    keys = site_keyring(folder, is_sandbox=folder.name == "sandbox")
    try:
        outcome = restore_backup(store_path, backup, keys)
    except BackupUnusable as exc:
        err.write(f"fhir-writeback store restore: {exc.user_message}\n")
        return EXIT_UNUSABLE_BACKUP
    except StoreError as exc:
        err.write(f"fhir-writeback store restore: {exc.user_message}\n")
        return EXIT_STORE_UNUSABLE
    out.write(restored_text(store_path, outcome))
    return EXIT_OK


def find_backup(store_path: Path, given: str) -> Path | None:
    backups = backup_files(store_path)
    if given == "latest":
        return backups[-1] if backups else None
    path = Path(given)
    if path.is_file():
        return path
    named = backup_dir(store_path) / given
    return named if named.is_file() else None


def app_running(folder: Path, data_dir: Path) -> str | None:
    """Why the store must not be replaced now (the app has it open), else None."""
    lock = RunnerLock(folder / "sync.lock")
    try:
        lock.acquire()
    except SyncAlreadyRunning:
        return "the app is running and sending from this store: close it first."
    lock.release()
    if (data_dir / RUNNING_MARKER).exists():
        return (
            "the app is running (or did not close cleanly): close it first; if it is not "
            "running, start it once and close it, then try again."
        )
    return None


def backups_text(store_path: Path) -> str:
    infos = list_backups(store_path)
    folder = backup_dir(store_path)
    policy = DEFAULT_POLICY
    head = (
        f"Backups of {store_path} in {folder}, newest first (the newest {policy.keep_recent} "
        f"and one a day for {policy.keep_daily} days are kept):\n"
    )
    if not infos:
        return head + "  none yet (one is made after each approval and daily while the app runs)\n"
    lines = [head]
    for info in infos:
        when = _when(info.taken_at) if info.taken_at else "unknown time"
        facts = (
            "unreadable"
            if info.audit_seq is None
            else f"audit records: {info.audit_seq}; not yet confirmed by the EHR: {info.unsent}"
        )
        lines.append(f"  {info.path.name}  {when}  {info.size / 1_048_576:.1f} MB  {facts}\n")
    return "".join(lines)


def restored_text(store_path: Path, outcome: RestoreOutcome) -> str:
    check = outcome.check
    taken = _when(check.taken_at) if check.taken_at else "an unknown time"
    lines = [
        f"Checked {check.backup.name}: this computer's key opens it (store {check.store_id}) "
        f"and its audit log is intact ({check.audit_records} record(s)).",
        f"Restored {store_path} from the backup taken {taken}.",
    ]
    if outcome.set_aside:
        kept = ", ".join(p.name for p in outcome.set_aside)
        lines.append(f"The files it replaced are kept, not deleted: {kept}.")
    lines.append(
        f"The restored store holds {check.unsent} approved note(s) not yet confirmed by the EHR; "
        "the app sends them when a clinician signs in."
    )
    missing = outcome.records_not_in_backup
    if missing:
        lines.append(
            f"{missing} audit record(s) made after the backup are not in it: notes approved "
            f"after {taken} must be checked in the chart and written again if missing."
        )
    return "\n".join(lines) + "\n"


def _when(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
