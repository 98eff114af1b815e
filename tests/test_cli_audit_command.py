"""`fhir-writeback audit export|verify` on a real encrypted store in a temp data folder."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from app.bootstrap import open_site_store
from app.cli import main
from app.domain.audit import AuditEvent, AuditKind
from tests.support.smart_fixtures import keep_test_keyring


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err, accept_keyring=keep_test_keyring)
    return code, out.getvalue(), err.getvalue()


def _store_with_events(data_dir: Path) -> Path:
    folder = data_dir / "sites" / "sandbox"
    protected = open_site_store(folder, is_sandbox=True)
    now = datetime.now(UTC)
    protected.audit.append(AuditEvent(AuditKind.SIGN_IN, now, "Practitioner/prac-1"))
    protected.audit.append(
        AuditEvent(
            AuditKind.CHART_OPENED,
            now,
            "Practitioner/prac-1",
            patient_id="pat-1",
            encounter_id="enc-1",
        )
    )
    protected.store.close()
    return folder / "store.db"


def test_verify_export_and_tamper_detection(tmp_path: Path) -> None:
    db = _store_with_events(tmp_path)
    code, out, _ = _run("audit", "verify", "--data-dir", str(tmp_path))
    assert code == 0, out

    code, out, _ = _run("audit", "export", "--format", "json", "--data-dir", str(tmp_path))
    assert code == 0
    kinds = json.dumps(json.loads(out))
    assert "chart_opened" in kinds and "pat-1" in kinds

    target = tmp_path / "audit.csv"
    code, out, _ = _run(
        "audit",
        "export",
        "--since",
        "2020-01-01",
        "--output",
        str(target),
        "--data-dir",
        str(tmp_path),
    )
    assert code == 0 and target.read_text().count("\n") >= 3

    with sqlite3.connect(db) as conn:  # someone edits the log behind the app's back
        triggers = conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
        for (name,) in triggers:  # the append-only triggers do not stop a determined editor
            conn.execute(f'DROP TRIGGER "{name}"')
        conn.execute("UPDATE audit_log SET patient_id = 'pat-2' WHERE patient_id = 'pat-1'")
    code, out, _ = _run("audit", "verify", "--data-dir", str(tmp_path))
    assert code == 1, out


def test_bad_format_is_a_usage_error(tmp_path: Path) -> None:
    _store_with_events(tmp_path)
    code, _, err = _run("audit", "export", "--format", "xml", "--data-dir", str(tmp_path))
    assert code == 2 and "csv or json" in err
