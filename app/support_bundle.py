"""``fhir-writeback support-bundle``: one ZIP for support staff, with no patient data.

It holds the app version and platform, the operational logs (which carry ids, states and
error classes only, and are redacted as they are written), the site configuration files (no
secrets live there), the self-test result, and for every site's outbox the state of each
commit (ids, states, attempts, timestamps, HTTP status) — never payloads, note text, names,
error texts from the EHR (which may echo patient data) or anything from the keyring.
"""

from __future__ import annotations

import io
import json
import platform
import sys
import zipfile
from contextlib import redirect_stdout
from datetime import datetime
from pathlib import Path

from app import __version__
from app.domain.clock import utc_now
from app.paths import AppPaths


def _outbox_states(paths: AppPaths) -> dict[str, object]:
    from app.bootstrap import open_site_store

    sites: dict[str, object] = {}
    root = paths.data_dir / "sites"
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if not (folder / "store.db").is_file():
            continue
        try:
            protected = open_site_store(folder, is_sandbox=folder.name == "sandbox")
        except Exception as exc:  # a store that cannot be opened is itself worth reporting
            sites[folder.name] = {"error": type(exc).__name__}
            continue
        try:
            outbox = protected.store.outbox
            summary = outbox.summary()
            rows = [
                {
                    "commit": str(row.commit_id),
                    "sequence": row.item.sequence,
                    "state": row.state.value,
                    "attempts": row.item.attempts,
                    "last_status": row.item.last_status,
                    "error_class": None if row.error_class is None else row.error_class.value,
                    "next_attempt_at": _iso(row.item.next_attempt_at),
                    "created_at": _iso(row.created_at),
                    "confirmed_at": _iso(row.confirmed_at),
                    "resource_types": list(row.resource_types),
                    "read_back": row.read_back.value,
                }
                for row in outbox.list_items(newest_first=True, limit=2000)
            ]
            sites[folder.name] = {
                "counts": {state.value: n for state, n in summary.counts.items()},
                "last_success_at": _iso(summary.last_success_at),
                "audit_chain_ok": protected.audit.verify().ok,
                "commits": rows,
            }
        finally:
            protected.store.close()
    return sites


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def write_support_bundle(target: Path, paths: AppPaths, *, self_test: bool = True) -> Path:
    """Write the ZIP and return its path."""
    target.parent.mkdir(parents=True, exist_ok=True)
    about = {
        "app": "fhir-writeback",
        "version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "created_at": utc_now().isoformat(),
    }
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("about.json", json.dumps(about, indent=2))
        for log in sorted(paths.log_dir.glob("*.log*")) if paths.log_dir.is_dir() else []:
            bundle.write(log, f"logs/{log.name}")
        for label, folder in (("machine", paths.site_config_dir), ("user", paths.user_config_dir)):
            sites_file = folder / "sites.toml"
            if sites_file.is_file():
                bundle.write(sites_file, f"config/{label}-sites.toml")
        bundle.writestr("outbox-states.json", json.dumps(_outbox_states(paths), indent=2))
        if self_test:
            from app.selftest import run_self_test

            out = io.StringIO()
            with redirect_stdout(out):
                code = run_self_test(out=out)
            bundle.writestr("self-test.txt", out.getvalue() + f"\nexit status {code}\n")
    return target
